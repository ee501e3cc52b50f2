"""Validate R4 resources: ``fhir.resources.R4B`` for structure, plus the checks it lacks.

R4B is structurally identical to R4 for the resource types sicdoc cares about. On top of it we
check empty values (FHIR JSON forbids null, "", [] and {}), ids, required code bindings, reference
syntax and reference target types, narratives (txt-1, txt-2: ``sicdoc.fhir.narrative``), strings of
at most 1 MB, the invariants of the R4 core StructureDefinitions (``sicdoc.fhir.invariants``), and
refuse types that exist only in R4B.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.narrative import Narrative
from fhir.resources.R4B.resource import Resource as R4BResource

from sicdoc.errors import InvalidInput, Issue
from sicdoc.fhir import invariants
from sicdoc.fhir.narrative import narrative_problem
from sicdoc.fhir.structure import BASE64_CHECK, EXTENSION, PRIMITIVE, RESOURCE, Rule, plan_for

# Types introduced in R4B: an R4 client must never send or receive them.
R4B_ONLY = frozenset(
    {
        "AdministrableProductDefinition",
        "Citation",
        "ClinicalUseDefinition",
        "EvidenceReport",
        "Ingredient",
        "ManufacturedItemDefinition",
        "MedicinalProductDefinition",
        "NutritionProduct",
        "PackagedProductDefinition",
        "RegulatedAuthorization",
        "SubscriptionStatus",
        "SubscriptionTopic",
        "SubstanceDefinition",
    }
)
# Types of R4 that R4B dropped; sicdoc cannot validate them, so it declines them plainly.
R4_ONLY = frozenset(
    {
        "EffectEvidenceSynthesis",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "RiskEvidenceSynthesis",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
    }
)
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def valid_id(value: object) -> bool:
    """An R4 logical id that is also safe as a URL path segment (not '.' or '..')."""
    return isinstance(value, str) and value not in (".", "..") and ID_RE.fullmatch(value) is not None


_TYPE_RE = r"[A-Z][A-Za-z]+"
_ID_RE = r"[A-Za-z0-9\-.]{1,64}"
RELATIVE_REF_RE = re.compile(rf"^({_TYPE_RE})/({_ID_RE})(/_history/({_ID_RE}))?$")
ABSOLUTE_REF_RE = re.compile(rf"^https?://\S+/({_TYPE_RE})/({_ID_RE})(/_history/({_ID_RE}))?$")
CONDITIONAL_REF_RE = re.compile(rf"^({_TYPE_RE})\?\S+$")
# FHIR strings SHALL NOT exceed 1 MB (1,048,576 characters); base64Binary is not a string.
MAX_STRING = 1024 * 1024
URN_RE = re.compile(
    r"^urn:(uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|oid:[0-2](\.\d+)+)$"
)


def resource_class(resource_type: Any) -> type[R4BResource]:
    """The R4B model of an R4 resource type, or ``InvalidInput`` naming the problem."""
    if not isinstance(resource_type, str) or not resource_type:
        raise InvalidInput("resourceType is missing", code="required", expression="resourceType")
    if resource_type in R4_ONLY:
        raise InvalidInput(
            f"Resource type {resource_type} is not supported by this server", code="not-supported"
        )
    return _model(resource_type)


@cache
def _model(resource_type: str) -> type[R4BResource]:
    try:
        cls = get_fhir_model_class(resource_type)
    except (ValueError, KeyError):
        cls = None
    if resource_type in R4B_ONLY or cls is None or not issubclass(cls, R4BResource):
        raise InvalidInput(f"'{resource_type}' is not an R4 resource type", code="not-supported")
    return cls


def is_resource_type(name: str) -> bool:
    try:
        resource_class(name)
    except InvalidInput:
        return False
    return True


def reference_parts(reference: str) -> tuple[str, str] | None:
    """(type, id) of a literal relative or absolute reference, else None."""
    match = RELATIVE_REF_RE.match(reference) or ABSOLUTE_REF_RE.match(reference)
    return (match.group(1), match.group(2)) if match else None


def validate_resource(data: Any, path: str | None = None) -> None:
    """Raise ``InvalidInput`` listing every problem found in one resource; ``path`` prefixes expressions."""
    if not isinstance(data, dict):
        raise InvalidInput("A resource must be a JSON object", code="structure", expression=path)
    cls = resource_class(data.get("resourceType"))
    issues = _Walk()
    _check_object(data, cls, path or data["resourceType"], issues, resource=True)
    if not issues and issues.pending:
        issues.extend(invariants.check(issues.pending, _text))
    if issues:
        raise InvalidInput(list(issues))


def validate_with_models(data: dict[str, Any], path: str | None = None) -> None:
    """Validation by the pydantic models themselves: slower, kept as the reference the fast path must match."""
    cls = resource_class(data.get("resourceType"))
    try:
        cls.model_validate(data)
    except pydantic.ValidationError as exc:
        raise InvalidInput(
            [_pydantic_issue(err, path or data["resourceType"]) for err in exc.errors()]
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"Invalid resource content: {exc}", code="structure") from None


def _pydantic_issue(err: Any, root: str) -> Issue:
    expression = root
    for part in (p for p in err.get("loc", ()) if p != "__root__"):
        if isinstance(part, int):
            expression += f"[{part}]"
        else:
            name = str(part)
            expression += "._" + name[:-5] if name.endswith("__ext") else "." + name
    kind = err.get("type", "")
    code = {"extra_forbidden": "structure", "missing": "required"}.get(kind, "value")
    if code == "value" and "required" in str(err.get("msg", "")).lower():
        code = "required"
    return Issue(code, f"{err.get('msg', 'Invalid value')} at {expression}", expression)


# Element paths are built lazily as (parent, key-or-index) pairs: almost every element is valid,
# and formatting a FHIRPath string for each one would cost more than checking it.
Path = tuple[Any, str | int] | str


def _text(path: Path) -> str:
    parts: list[str] = []
    while isinstance(path, tuple):
        path, segment = path
        parts.append(f"[{segment}]" if isinstance(segment, int) else f".{segment}")
    return path + "".join(reversed(parts))


class _Walk(list[Issue]):
    """The issues found, and the elements whose invariants are checked once the walk found none.

    ``owner`` is the resource being walked (FHIRPath %resource), ``root`` the resource that is not
    contained in another (%rootResource).
    """

    __slots__ = ("owner", "pending", "root")

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[invariants.Pending] = []
        self.owner: dict[str, Any] | None = None
        self.root: dict[str, Any] | None = None


def _issue(issues: list[Issue], code: str, message: str, path: Path) -> None:
    where = _text(path)
    issues.append(Issue(code, message.replace("{where}", where), where))


def _check_object(
    node: dict[str, Any], cls: type[pydantic.BaseModel], path: Path, issues: _Walk, resource: bool = False
) -> None:
    if not node:
        _issue(issues, "value", "Empty object at {where}", path)
        return
    plan = plan_for(cls)
    outer = (issues.owner, issues.root)
    if resource:
        issues.owner = node
        contained = type(path) is tuple and type(path[0]) is tuple and path[0][1] == "contained"
        if issues.root is None or not contained:
            issues.root = node
        rid = node.get("id")
        if rid is not None and not valid_id(rid):
            _issue(issues, "value", "id must be 1-64 letters, digits, '-' or '.' at {where}", (path, "id"))
    rules = plan.rules
    for key, value in node.items():
        rule = rules.get(key)
        if rule is None:
            if not (key == "resourceType" and resource):
                _issue(issues, "structure", f"Unknown element '{key}' at " + "{where}", (path, key))
            continue
        if value is None:
            _issue(issues, "value", "null at {where}", (path, key))
        elif rule.is_list:
            if type(value) is not list:
                _issue(issues, "structure", "{where} must be an array", (path, key))
            elif not value:
                _issue(issues, "value", "Empty array at {where}", (path, key))
            else:
                child = (path, key)
                for i, item in enumerate(value):
                    _check_value(item, rule, (child, i), issues)
        elif type(value) is list:
            _issue(issues, "structure", "{where} must be a single value, not an array", (path, key))
        else:
            _check_value(value, rule, (path, key), issues)
    for key in plan.required:
        if key not in node and f"_{key}" not in node:
            _issue(issues, "required", "Missing required element at {where}", (path, key))
    for members, needed in plan.choices:
        present = [m for m in members if m in node]
        if len(present) > 1:
            _issue(issues, "structure", f"Only one of {', '.join(present)} is allowed at " + "{where}", path)
        elif needed and not present:
            _issue(issues, "required", f"One of {', '.join(members)} is required at " + "{where}", path)
    if cls is Narrative:
        _check_narrative(node.get("div"), (path, "div"), issues)
    if checks := invariants.invariants_for(cls):
        assert issues.owner is not None and issues.root is not None  # the walk starts at a resource
        issues.pending.append((node, checks, path, issues.owner, issues.root))
    if resource:
        issues.owner, issues.root = outer


def _check_narrative(div: Any, path: Path, issues: list[Issue]) -> None:
    """txt-1 and txt-2 on every Narrative: resource text, Composition sections, contained resources."""
    if type(div) is str and div.strip() and (problem := narrative_problem(div)):
        _issue(issues, "invariant", problem + " at {where}", path)


def _check_value(value: Any, rule: Rule, path: Path, issues: _Walk) -> None:
    kind = rule.kind
    if kind == PRIMITIVE:
        if value is None:
            _issue(issues, "value", "null at {where}", path)
        elif not isinstance(value, rule.json_types) or (type(value) is bool and bool not in rule.json_types):
            name = {bool: "boolean", str: "string"}.get(rule.json_types[0], "number")
            _issue(issues, "value", "{where} must be a JSON " + name, path)
        elif type(value) is str and not value.strip():
            _issue(issues, "value", "Empty or blank string at {where}", path)
        elif type(value) is str and len(value) > MAX_STRING and rule.check is not BASE64_CHECK:
            _issue(issues, "too-long", "{where} is longer than 1 MB (1,048,576 characters)", path)
        elif rule.check is not None and (problem := rule.check(value)):
            _issue(issues, "value", problem + " at {where}", path)
        elif rule.enum is not None and value not in rule.enum:
            _issue(issues, "code-invalid", f"'{value}' is not an allowed code at " + "{where}", path)
        return
    if kind == EXTENSION and value is None:
        return  # a null keeps positions aligned with the primitive array
    if type(value) is not dict:
        _issue(issues, "structure", "{where} must be an object", path)
        return
    if kind == RESOURCE:
        try:
            inner = resource_class(value.get("resourceType"))
        except InvalidInput as exc:
            for i in exc.issues:
                _issue(issues, i.code, i.diagnostics + " at {where}", path)
            return
        _check_object(value, inner, path, issues, resource=True)
        return
    assert rule.model is not None  # every complex type has its class
    _check_object(value, rule.model, path, issues)
    if rule.references is not None:
        _check_reference(value.get("reference"), rule.references, path, issues)


def _check_reference(target: Any, allowed: tuple[str, ...], path: Path, issues: list[Issue]) -> None:
    if not isinstance(target, str) or target.startswith("#") or URN_RE.match(target):
        return
    parts = reference_parts(target)
    if parts is None:
        cond = CONDITIONAL_REF_RE.match(target)
        if cond is None:
            _issue(
                issues, "value", f"'{target}' is not a valid reference at " + "{where}", (path, "reference")
            )
            return
        parts = (cond.group(1), "")
    if "Resource" not in allowed and parts[0] not in allowed:
        _issue(
            issues,
            "value",
            f"A reference to {parts[0]} is not allowed at " + "{where}" + f" (expected {', '.join(allowed)})",
            (path, "reference"),
        )
