"""sicdoc's own rules on what it stores, on top of FHIR R4 (``sicdoc.fhir.validation``).

R4 allows these resources; sicdoc refuses them because it would misread them:

- an Observation coded LOINC 75773-2 whose coded value uses a LOINC code outside answer list
  LL6264-7 (LA33473-2, LA33474-0, LA33475-7): the care focus the end-of-life measures read;
- a Location without a coded ``type``: the type is how sicdoc tells intensive care stays apart.

``validate_write`` is the one check every resource write goes through: the REST create and
updates (``sicdoc.services.resources``) and every POST or PUT entry of a transaction or batch bundle,
bulk loading included (``sicdoc.services.bundles``). A broken rule is an issue of FHIR type
``business-rule`` and answers 422 with an OperationOutcome naming the element; nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sicdoc import codes
from sicdoc.errors import InvalidInput, Issue, SicdocError, Unprocessable
from sicdoc.fhir.validation import validate_resource

BUSINESS_RULE = "business-rule"
CARE_FOCUS_LIST = "LL6264-7"

Rule = Callable[[dict[str, Any], str], list[Issue]]


def validate_write(resource: Any, path: str | None = None) -> None:
    """R4 validation (400 on failure), then sicdoc's rules (422); ``path`` prefixes expressions."""
    validate_resource(resource, path)
    issues = profile_issues(resource, path)
    if issues:
        raise Unprocessable(issues)


def profile_issues(resource: dict[str, Any], path: str | None = None) -> list[Issue]:
    """The sicdoc rules one R4-valid resource breaks (empty when it may be stored)."""
    rule = RULES.get(resource.get("resourceType", ""))
    return rule(resource, path or resource["resourceType"]) if rule else []


def refusal(issues: Sequence[Issue]) -> SicdocError:
    """The error for the issues of a bundle: 422 when each breaks a sicdoc rule, else 400."""
    if issues and all(i.code == BUSINESS_RULE for i in issues):
        return Unprocessable(list(issues))
    return InvalidInput(list(issues))


def _care_focus(obs: dict[str, Any], where: str) -> list[Issue]:
    is_preference = any(
        system == codes.LOINC and code == codes.TREATMENT_PREFERENCES
        for system, code in codes.codings(obs.get("code"))
    )
    if not is_preference or "valueCodeableConcept" not in obs:
        return []  # a free-text value is the trade-offs answer, not a care focus
    wrong = [
        code
        for system, code in codes.codings(obs["valueCodeableConcept"])
        if system == codes.LOINC and code not in codes.CARE_FOCUS_ANSWERS
    ]
    if not wrong:
        return []
    allowed = ", ".join(f"{code} {words}" for code, words in codes.CARE_FOCUS_ANSWERS.items())
    message = (
        f"An Observation coded LOINC {codes.TREATMENT_PREFERENCES} records a care focus from LOINC "
        f"answer list {CARE_FOCUS_LIST} ({allowed}); '{wrong[0]}' is not one of them"
    )
    return [Issue(BUSINESS_RULE, message, f"{where}.valueCodeableConcept")]


def _location_type(location: dict[str, Any], where: str) -> list[Issue]:
    if codes.codings(location.get("type")):
        return []
    message = (
        "A Location needs a coded type (for example http://terminology.hl7.org/CodeSystem/v3-RoleCode "
        "ICU for an intensive care unit): sicdoc reads the type to tell intensive care stays from others"
    )
    return [Issue(BUSINESS_RULE, message, f"{where}.type")]


RULES: dict[str, Rule] = {"Observation": _care_focus, "Location": _location_type}
