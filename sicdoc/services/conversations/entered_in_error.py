"""Marking a signed conversation entered-in-error: the note stays readable, but stops counting anywhere.

A note written on the wrong patient (or about a conversation that never happened) is not deleted:
clinicians who read it need to see that it was withdrawn, by whom, when and why. Every resource the
conversation wrote gets a new version with the entered-in-error status, in one transaction with a
Provenance (activity NULLIFY) that carries the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from sicdoc.errors import Conflict
from sicdoc.fhir.dates import instant, utc_now
from sicdoc.fhir.search import parse_search
from sicdoc.services.bundles import apply_transaction
from sicdoc.services.conversations.common import (
    FORMS_CLIENT,
    AnswersRefused,
    Author,
    SignedConversation,
    clinician_reference,
    locations,
    provenance,
    require_version,
)
from sicdoc.services.conversations.history import read_record
from sicdoc.services.practitioners import author_display
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored, find_by_identifier, read
from sicdoc.store.identifiers import identifier_pairs
from sicdoc.store.search import search

ENTERED_IN_ERROR = "entered-in-error"
NULLIFY = "NULLIFY"  # v3 DataOperation: the act is to be treated as though it never happened
REASON = "reason"
REASON_MAX = 1000
# The status element of each resource a conversation writes, and its withdrawn value. The extracted
# Observations, Goal and health care agent are withdrawn with the note rather than left standing: they
# say the same things about the same patient, so a FHIR reader must not find facts the note no longer
# supports, and the projections that feed the header, worklist and analytics must agree with FHIR.
# A RelatedPerson has no status, only ``active``.
WITHDRAWN: dict[str, tuple[str, str | bool]] = {
    "Procedure": ("status", ENTERED_IN_ERROR),
    "QuestionnaireResponse": ("status", ENTERED_IN_ERROR),
    "Composition": ("status", ENTERED_IN_ERROR),
    "Observation": ("status", ENTERED_IN_ERROR),
    "Goal": ("lifecycleStatus", ENTERED_IN_ERROR),
    "RelatedPerson": ("active", False),
}
# Extracted resources without partOf, found by the conversation's identifier and these suffixes.
BY_IDENTIFIER = (("Goal", "-goal"), ("RelatedPerson", "-agent"))


class AlreadyWithdrawn(Conflict):
    """The note was already marked entered-in-error."""


@dataclass(frozen=True)
class Withdrawal:
    """Who marked a conversation entered-in-error, when, and why."""

    when: datetime | None
    who: str
    reason: str


def mark_entered_in_error(
    uow: UnitOfWork,
    procedure_id: str,
    author: Author,
    reason: str,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> SignedConversation:
    """Withdraw a signed conversation and what it wrote; ``AnswersRefused`` without a reason."""
    now = now or utc_now()
    reason = (reason or "").replace("\r\n", "\n").strip()

    def attempt() -> SignedConversation:
        with uow.transaction():
            return _mark(uow, procedure_id, author, reason, expected_version, now)

    return uow.retrying(attempt)


def _mark(
    uow: UnitOfWork,
    procedure_id: str,
    author: Author,
    reason: str,
    expected_version: int | None,
    now: datetime,
) -> SignedConversation:
    session = uow.session
    record = read_record(session, procedure_id)
    procedure = record.procedure
    if (procedure.content or {}).get("status") == ENTERED_IN_ERROR:
        raise AlreadyWithdrawn("This note was already marked entered in error; nothing was changed.")
    require_version(
        procedure.version_id, expected_version, "Read it again before marking it entered in error."
    )
    if not reason:
        raise AnswersRefused({REASON: "Say why this note is entered in error, for example wrong patient."})
    if len(reason) > REASON_MAX:
        raise AnswersRefused({REASON: f"Keep the reason to {REASON_MAX} characters or fewer."})
    linked = [procedure, record.questionnaire_response, record.composition]
    linked.extend(_observations(session, procedure_id))
    linked.extend(_by_identifier(session, procedure.content or {}))
    who_ref, extra = clinician_reference(author)
    entries = [*extra, *(_withdrawn(s) for s in _unique(linked) if _withdrawable(s))]
    written = locations(
        apply_transaction(
            uow, {"resourceType": "Bundle", "type": "transaction", "entry": entries}, client_id=FORMS_CLIENT
        )
    )
    who = {"reference": who_ref, "display": author.display}
    for rtype, rid, _ in written:
        if rtype == "Practitioner":
            who = {"reference": f"Practitioner/{rid}", "display": author.display}
    targets = [loc for loc in written if loc[0] != "Practitioner"]
    revision_of = f"Procedure/{procedure_id}/_history/{procedure.version_id}"
    record_of = provenance(targets, who, NULLIFY, now, reason=reason, revision_of=revision_of)
    uow.audit_writes([("create", uow.store.create(session, record_of))])
    return SignedConversation(procedure_id, None, procedure.version_id + 1)


def _unique(items: Iterable[Stored | None]) -> list[Stored]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in items:
        if item is not None and (item.resource_type, item.id) not in seen:
            seen.add((item.resource_type, item.id))
            out.append(item)
    return out


def _withdrawable(stored: Stored) -> bool:
    if stored.resource_type not in WITHDRAWN or stored.deleted:
        return False
    field, value = WITHDRAWN[stored.resource_type]
    return (stored.content or {}).get(field) != value


def _withdrawn(stored: Stored) -> dict[str, Any]:
    resource = {k: v for k, v in (stored.content or {}).items() if k != "meta"}
    field, value = WITHDRAWN[stored.resource_type]
    resource[field] = value
    return {
        "resource": resource,
        "request": {
            "method": "PUT",
            "url": f"{stored.resource_type}/{stored.id}",
            "ifMatch": f'W/"{stored.version_id}"',
        },
    }


def _observations(session: Session, procedure_id: str) -> list[Stored]:
    request = parse_search("Observation", [("part-of", f"Procedure/{procedure_id}"), ("_count", "100")])
    return list(search(session, request).matches)


def _by_identifier(session: Session, procedure: dict[str, Any]) -> list[Stored]:
    """The Goal and agent extracted from the conversation's answers (they have no partOf)."""
    out = []
    for system, value in identifier_pairs(procedure):
        for rtype, suffix in BY_IDENTIFIER:
            found = find_by_identifier(session, rtype, [(system, f"{value}{suffix}")])
            if found:
                out.append(read(session, rtype, found))
    return out


# ---- reading it back ----------------------------------------------------------------------------


def withdrawal(uow: UnitOfWork, procedure_id: str) -> Withdrawal | None:
    """Who withdrew the conversation, when and why; None for a note in force."""
    return withdrawals(uow.session, [procedure_id]).get(procedure_id)


def withdrawals(session: Session, procedure_ids: Iterable[str]) -> dict[str, Withdrawal]:
    """The latest withdrawal of each conversation given that has one (the caller discloses)."""
    out: dict[str, Withdrawal] = {}
    for pid in procedure_ids:
        request = parse_search("Provenance", [("target", f"Procedure/{pid}"), ("_count", "500")])
        for match in search(session, request).matches:
            content = match.content or {}
            if not _is_nullify(content):
                continue
            found = Withdrawal(
                when=instant(content.get("recorded")),
                who=author_display(session, _agent(content)),
                reason=next((r.get("text") for r in content.get("reason") or () if r.get("text")), ""),
            )
            kept = out.get(pid)
            if kept is None or (found.when and (kept.when is None or found.when > kept.when)):
                out[pid] = found
    return out


def _is_nullify(prov: dict[str, Any]) -> bool:
    return any(c.get("code") == NULLIFY for c in (prov.get("activity") or {}).get("coding") or ())


def _agent(prov: dict[str, Any]) -> dict[str, Any]:
    for agent in prov.get("agent") or ():
        who = agent.get("who") or {}
        if who.get("display") or who.get("reference"):
            return dict(who)
    return {"display": "unknown"}
