"""Which patients' projection rows a move from one data version to a later one may have changed.

A figure computed patient by patient (the worklist) is then brought up to date by computing those
patients again instead of every patient. The answer errs on the side of more patients: every patient
named by any version of a resource written since (a corrected subject moves rows from one patient to
another), by its compartment rows, and by the conversation a linked record belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from sicdoc.fhir.compartment import compartment_patients
from sicdoc.fhir.dates import as_utc
from sicdoc.models import CompartmentMember, Conversation, Resource, ResourceVersion
from sicdoc.store.conversation_details import noted_procedures
from sicdoc.store.projections import PROJECTED
from sicdoc.store.resource_fields import part_of_procedures, ref_id
from sicdoc.store.writers import InFlight, in_flight

# A write transaction stamps its rows when it makes them and may commit after a version was taken with
# an older stamp than the version's last: such late commits are read back from the start of the oldest
# writer still open then (``sicdoc.store.writers``; on SQLite, one writer at a time, none can be), less
# CLOCK for the app servers' clocks against the database's. When that start could not be seen, from
# LONGEST_WRITE before the version's last write. (Reading back five minutes every time made a write in
# the five minutes after a bulk load read back the load's last 400,000 resources, and the worklist wait
# for a whole rebuild.)
CLOCK = timedelta(seconds=5)
LONGEST_WRITE = timedelta(minutes=5)
# Beyond this many resources written since, reading the whole tables is the better way (a bulk load).
MAX_CHANGED = 2000
# Types whose rows are shared by many patients (a ward): a write of one changes no patient alone.
_SHARED = frozenset({"Location"})
# Records that are part of a conversation: their writes change the Procedure's conversation row.
_LINKED = frozenset({"QuestionnaireResponse", "Observation", "Composition"})


def changed_patients(
    connection: Connection, old_version: str, new_version: str, *, max_changed: int = MAX_CHANGED
) -> set[str] | None:
    """The ids of the patients whose projection rows may differ between two ``data_version`` tokens
    (``sicdoc.store.frames``), or None when that cannot be told cheaply: a shared type was written,
    a type was reindexed, the tokens are of another shape, or more than ``max_changed`` resources
    were written since."""
    types = sorted(PROJECTED)
    old, new = old_version.split("#")[0].split("|"), new_version.split("#")[0].split("|")
    if len(old) != len(types) or len(new) != len(types):
        return None
    written: dict[str, list[str]] = {}
    count = 0
    writers = in_flight(old_version)
    for rtype, before, after in zip(types, old, new, strict=True):
        if before == after:
            continue
        known, since = _since(before, after)
        if rtype in _SHARED or not known:
            return None
        stmt = select(Resource.id).where(Resource.resource_type == rtype)
        if since is not None:
            stmt = stmt.where(Resource.last_updated > _read_back_from(since, writers))
        ids = list(connection.scalars(stmt.limit(max_changed + 1 - count)))
        count += len(ids)
        if count > max_changed:
            return None
        written[rtype] = ids
    patients: set[str] = set()
    for rtype, ids in written.items():
        patients |= _patients_of(connection, rtype, ids)
    return patients


def _read_back_from(last_seen: datetime, writers: InFlight) -> datetime:
    if writers.unknown:
        return last_seen - LONGEST_WRITE
    if writers.since is None:
        return last_seen - CLOCK
    return min(as_utc(last_seen), as_utc(writers.since)) - CLOCK


def _since(before: str, after: str) -> tuple[bool, datetime | None]:
    """(whether the writes can be found, the last write the old token saw: None for none of the
    type); not when the type was reindexed in between (its projections changed with no write)."""
    (when, _, mark), (_, _, new_mark) = before.partition("~"), after.partition("~")
    if mark != new_mark:
        return False, None
    return True, None if when == "-" else datetime.fromisoformat(when)


def _patients_of(connection: Connection, rtype: str, ids: list[str]) -> set[str]:
    found = set(ids) if rtype == "Patient" else set()
    procedures: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            connection.scalars(
                select(CompartmentMember.patient_id).where(
                    CompartmentMember.resource_type == rtype, CompartmentMember.resource_id.in_(chunk)
                )
            )
        )
        # Past versions' bodies are in history, the current one's in the resource row.
        versions = [
            *connection.scalars(
                select(ResourceVersion.content).where(
                    ResourceVersion.resource_type == rtype, ResourceVersion.id.in_(chunk)
                )
            ),
            *connection.scalars(
                select(Resource.content).where(Resource.resource_type == rtype, Resource.id.in_(chunk))
            ),
        ]
        for content in versions:
            if content:  # a deletion's version, and a live one's history row, hold no content
                found |= _named_patients(content)
                if rtype in _LINKED:
                    procedures.update(_conversations_of(rtype, content))
    found |= _conversation_patients(connection, procedures)
    return found


def _named_patients(content: dict[str, Any]) -> set[str]:
    named = compartment_patients(content)
    for field in ("subject", "patient"):
        if (pid := ref_id(content.get(field), "Patient")) is not None:
            named.add(pid)
    return named


def _conversations_of(rtype: str, content: dict[str, Any]) -> list[str]:
    return noted_procedures(content) if rtype == "Composition" else part_of_procedures(content)


def _conversation_patients(connection: Connection, procedure_ids: Iterable[str]) -> set[str]:
    ids = sorted(set(procedure_ids))
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        found.update(
            connection.scalars(
                select(Conversation.patient_id).where(Conversation.procedure_id.in_(ids[start : start + 500]))
            )
        )
    return found
