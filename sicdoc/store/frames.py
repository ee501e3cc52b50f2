"""Read models for analytics: the projection tables as the ``Frames`` DataFrames, one query each.

Rows dated after the cut-off are left out in SQL (``Frames.observed`` would drop them anyway), so a
report as of an old date reads less. Everything else is filtered in pandas, where the attribution
and period rules live; pushing them into SQL would duplicate those rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Date, DateTime, Select, String, func, or_, select, type_coerce

from sicdoc.analytics.frames import Frames
from sicdoc.analytics.tables import COLUMNS, normalised_parts
from sicdoc.models import (
    CareEvent,
    Conversation,
    DiagnosisFact,
    EncounterFact,
    LocationFact,
    PalliativeConsult,
    PalliativeReferral,
    PatientFact,
    ReindexMark,
    Resource,
)
from sicdoc.store.projections import PROJECTED
from sicdoc.store.writers import open_writers

# The resource types whose writes change each table (the projector's handlers, sicdoc/store/projections.py).
SOURCES: dict[str, frozenset[str]] = {
    "patients": frozenset({"Patient"}),
    "diagnoses": frozenset({"Condition"}),
    "encounters": frozenset({"Encounter"}),
    "referrals": frozenset({"ServiceRequest"}),
    "consults": frozenset({"Encounter"}),
    "conversations": frozenset({"Procedure", "QuestionnaireResponse", "Observation", "Composition"}),
    "care_events": frozenset({"Encounter", "EpisodeOfCare", "Procedure", "Observation"}),
    "locations": frozenset({"Location"}),
}
TABLES: dict[str, tuple[Any, str | None]] = {
    "patients": (PatientFact, None),
    "diagnoses": (DiagnosisFact, "diagnosis_date"),
    "encounters": (EncounterFact, "admit_date"),
    "referrals": (PalliativeReferral, "authored_date"),
    "consults": (PalliativeConsult, "start_date"),
    "conversations": (Conversation, "performed_date"),
    "care_events": (CareEvent, "start_date"),
    "locations": (LocationFact, None),
}


# Rows read and converted at a time when all of a table is read: small enough that the raw rows
# never outweigh the frames, large enough that pandas' per-call costs do not show.
BATCH_ROWS = 100_000


def _raw(column: Any) -> Any:
    # Dates and instants come back as the driver gives them: on SQLite that is text, which pandas
    # parses per column far faster than SQLAlchemy's per-value conversion (Frames.normalised()
    # parses every date column anyway); PostgreSQL's driver returns native values either way.
    if isinstance(column.type, Date | DateTime):
        return type_coerce(column, String).label(column.key)
    return column


@lru_cache(maxsize=64)
def _query(name: str, as_of: date | None) -> Select:
    # Kept, as statements are immutable: building one took as long as running it on a chart's patient.
    model, date_column = TABLES[name]
    stmt = select(*(_raw(getattr(model, c)) for c in COLUMNS[name]))
    if as_of is not None and date_column is not None:
        column = getattr(model, date_column)
        stmt = stmt.where(or_(column.is_(None), column <= as_of))
    return stmt


def load_frames(connection: Connection, *, as_of: date | None = None) -> Frames:
    """The projection tables as normalised frames (records dated after ``as_of`` left out when
    given), each read and converted ``BATCH_ROWS`` rows at a time (``Frames.normalised_from``)."""
    return Frames.normalised_from((name, _batches(connection, name, as_of)) for name in TABLES)


def load_normalised_tables(connection: Connection, names: Iterable[str]) -> dict[str, pd.DataFrame]:
    """Some projection tables, each read and converted ``BATCH_ROWS`` rows at a time but not keyed:
    what ``Frames.replaced`` takes after a write."""
    return {name: normalised_parts(name, _batches(connection, name, None)) for name in names}


def _batches(connection: Connection, name: str, as_of: date | None) -> Iterator[pd.DataFrame]:
    stmt = _query(name, as_of)
    if connection.dialect.name == "postgresql":
        yield from _server_side_batches(connection, name, stmt)
        return
    result = connection.execute(stmt)  # SQLite's cursor steps through the rows as they are fetched
    try:
        while rows := result.cursor.fetchmany(BATCH_ROWS):
            yield _frame(name, rows)
    finally:
        result.close()


def _server_side_batches(connection: Connection, name: str, stmt: Select) -> Iterator[pd.DataFrame]:
    # PostgreSQL's driver otherwise receives the whole table before the first batch (at a million
    # patients, more than a gigabyte for the care events alone). A named cursor is sent a batch at a
    # time; it is the driver's own, as SQLAlchemy's streaming would build a Row object per row.
    compiled = stmt.compile(dialect=connection.dialect)
    driver = connection.connection.driver_connection
    assert driver is not None  # a connection in use has its driver's connection
    with driver.cursor(name=f"sicdoc_frames_{name}") as cursor:
        cursor.execute(str(compiled), compiled.params)
        while rows := cursor.fetchmany(BATCH_ROWS):
            yield _frame(name, rows)


def load_tables(
    connection: Connection, names: Iterable[str], *, as_of: date | None = None
) -> dict[str, pd.DataFrame]:
    """Some projection tables as DataFrames (the columns of ``Frames``)."""
    return {name: _frame(name, _fetch(connection, _query(name, as_of))) for name in names}


def patient_tables(
    connection: Connection, patient_ids: Iterable[str], names: Iterable[str] = TABLES
) -> dict[str, pd.DataFrame]:
    """The projection tables ``names`` (by default all): their rows of these patients (by each
    table's patient index), and the whole of those that belong to no patient (locations, a few
    hundred rows)."""
    ids = sorted(set(patient_ids))
    tables = {}
    for name in names:
        model = TABLES[name][0]
        if "patient_id" not in COLUMNS[name]:
            tables[name] = _frame(name, _fetch(connection, _query(name, None)))
            continue
        rows: list[Any] = []
        for start in range(0, len(ids), 500):  # stay under every driver's bound-parameter limit
            chunk = ids[start : start + 500]
            rows += _fetch(connection, _query(name, None).where(model.patient_id.in_(chunk)))
        tables[name] = _frame(name, rows)
    return tables


def _fetch(connection: Connection, stmt: Select) -> list[Any]:
    # Rows straight from the driver's cursor: building a SQLAlchemy Row for each of hundreds of
    # thousands of rows took longer than the query (the columns need no result processing).
    result = connection.execute(stmt)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _frame(name: str, rows: Sequence[Any]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=list(COLUMNS[name]), coerce_float=False)


# Types read for labels rather than projected: a change of a clinician's name moves the version too.
LABEL_TYPES = ("Practitioner", "PractitionerRole")


def data_version(connection: Connection) -> str:
    """A token that changes whenever a projected resource, or a clinician named in QI outputs, is
    written (or deleted).

    The latest ``last_updated`` per type: each is one probe of the (type, last_updated) index, so
    it stays cheap however big the store grows. A type ``sicdoc reindex`` has rebuilt adds the time
    of its last batch, since its projections changed without a write. The projected types come
    first, then ``#`` and the label types (``changed_tables`` reads the first part); on PostgreSQL,
    while a write transaction has been open a while, ``@`` and when it began (``sicdoc.store.writers``).
    """
    writers = open_writers(connection)  # first: see sicdoc.store.writers
    marks = connection.execute(select(ReindexMark.resource_type, ReindexMark.reindexed_at))
    reindexed = {rtype: when for rtype, when in marks}

    def latest(resource_type: str) -> str:
        when = connection.scalar(
            select(func.max(Resource.last_updated)).where(Resource.resource_type == resource_type)
        )
        token = when.isoformat() if when is not None else "-"
        mark = reindexed.get(resource_type)
        return token if mark is None else f"{token}~{mark.isoformat()}"

    projected = "|".join(latest(t) for t in sorted(PROJECTED))
    return projected + "#" + "|".join(latest(t) for t in LABEL_TYPES) + writers


def changed_tables(old_version: str, new_version: str) -> set[str]:
    """The projection tables a move from one ``data_version`` to another may have changed."""
    types = sorted(PROJECTED)
    old, new = old_version.split("#")[0].split("|"), new_version.split("#")[0].split("|")
    if len(old) != len(types) or len(new) != len(types):
        return set(TABLES)
    moved = {t for t, a, b in zip(types, old, new, strict=True) if a != b}
    return {name for name, sources in SOURCES.items() if sources & moved}


def places(connection: Connection) -> dict[str, list[str]]:
    """Sites and units that occur in the projections, for filter choices."""
    sites = [
        *connection.scalars(select(EncounterFact.site).where(EncounterFact.site.is_not(None)).distinct()),
        *connection.scalars(select(PatientFact.site).where(PatientFact.site.is_not(None)).distinct()),
    ]
    units = connection.scalars(
        select(EncounterFact.unit).where(EncounterFact.unit.is_not(None)).distinct()
    ).all()
    # The queries leave out NULL; the filters tell the type checker so.
    return {
        "sites": sorted({s for s in sites if s is not None}),
        "units": sorted({u for u in units if u is not None}),
    }


def patient_labels(connection: Connection, patient_ids: Iterable[str], mrn_system: str) -> dict[str, dict]:
    """Name and MRN of each patient, read from the current stored Patient resource."""
    ids = list(dict.fromkeys(patient_ids))
    out: dict[str, dict] = {}
    for start in range(0, len(ids), 500):  # stay under every driver's bound-parameter limit
        chunk = ids[start : start + 500]
        rows = connection.execute(
            select(Resource.id, Resource.content).where(
                Resource.resource_type == "Patient", Resource.id.in_(chunk), Resource.deleted.is_(False)
            )
        )
        for rid, content in rows:
            out[rid] = {"name": _name(content), "mrn": _mrn(content, mrn_system)}
    return out


# A relative reference (an absolute one names another server's resource).
PRACTITIONER_REF = re.compile(r"^(Practitioner|PractitionerRole)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def clinician_names(connection: Connection, refs: Iterable[str]) -> dict[str, str]:
    """The name of each recorded performer that is a stored Practitioner (or a PractitionerRole
    whose practitioner is stored), read from the current resource. Free-text performers and
    references to anything else have no name here."""
    targets: dict[str, tuple[str, str]] = {}
    for ref in dict.fromkeys(r for r in refs if isinstance(r, str)):
        match = PRACTITIONER_REF.match(ref)
        if match:
            targets[ref] = (match.group(1), match.group(2))
    roles = _current(
        connection, "PractitionerRole", {i for t, i in targets.values() if t == "PractitionerRole"}
    )
    role_practitioner = {}
    for rid, content in roles.items():
        match = PRACTITIONER_REF.match(str((content.get("practitioner") or {}).get("reference") or ""))
        if match and match.group(1) == "Practitioner":
            role_practitioner[rid] = match.group(2)
    wanted = {i for t, i in targets.values() if t == "Practitioner"} | set(role_practitioner.values())
    practitioners = _current(connection, "Practitioner", wanted)
    out = {}
    for ref, (rtype, rid) in targets.items():
        pid = rid if rtype == "Practitioner" else role_practitioner.get(rid)
        found = practitioners.get(pid) if pid else None
        name = _name(found) if found else None
        if name and name != "(no name)":
            out[ref] = name
    return out


def clinician_departments(connection: Connection, refs: Iterable[str]) -> dict[str, str]:
    """The department (service) of each recorded performer: the ``specialty`` of an active
    PractitionerRole, as text (else a coding's display). A PractitionerRole reference reads its own
    role; a Practitioner reference the roles that name that Practitioner (several: the lowest id
    with a specialty). Free-text performers and clinicians without such a role have none here."""
    targets: dict[str, tuple[str, str]] = {}
    for ref in dict.fromkeys(r for r in refs if isinstance(r, str)):
        match = PRACTITIONER_REF.match(ref)
        if match:
            targets[ref] = (match.group(1), match.group(2))
    if not targets:
        return {}
    # Every live role: one per clinician, so a few thousand rows at most; a role names its
    # Practitioner only inside its content, which no index holds.
    rows = connection.execute(
        select(Resource.id, Resource.content)
        .where(Resource.resource_type == "PractitionerRole", Resource.deleted.is_(False))
        .order_by(Resource.id)
    )
    by_role: dict[str, str] = {}
    by_practitioner: dict[str, str] = {}
    for rid, content in rows:
        service = _specialty(content or {})
        if service is None:
            continue
        by_role[rid] = service
        match = PRACTITIONER_REF.match(
            str(((content or {}).get("practitioner") or {}).get("reference") or "")
        )
        if match and match.group(1) == "Practitioner":
            by_practitioner.setdefault(match.group(2), service)
    out = {}
    for ref, (rtype, rid) in targets.items():
        found = by_role.get(rid) if rtype == "PractitionerRole" else by_practitioner.get(rid)
        if found:
            out[ref] = found
    return out


def _specialty(role: dict) -> str | None:
    """An active role's first specialty as text, whitespace collapsed (None without one)."""
    if role.get("active") is False:
        return None
    for specialty in role.get("specialty") or ():
        if not isinstance(specialty, dict):
            continue
        label = specialty.get("text") or next(
            (
                c.get("display")
                for c in specialty.get("coding") or ()
                if isinstance(c, dict) and c.get("display")
            ),
            None,
        )
        text = " ".join(str(label or "").split())
        if text:
            return text
    return None


def _current(connection: Connection, resource_type: str, ids: set[str]) -> dict[str, dict]:
    ids_list = sorted(ids)
    out: dict[str, dict] = {}
    for start in range(0, len(ids_list), 500):  # stay under every driver's bound-parameter limit
        rows = connection.execute(
            select(Resource.id, Resource.content).where(
                Resource.resource_type == resource_type,
                Resource.id.in_(ids_list[start : start + 500]),
                Resource.deleted.is_(False),
            )
        )
        out.update({rid: content for rid, content in rows})
    return out


def _name(patient: dict) -> str:
    names = patient.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    if official.get("text"):
        return str(official["text"])
    given = " ".join(official.get("given") or [])
    return " ".join(p for p in (given, official.get("family") or "") if p) or "(no name)"


def _mrn(patient: dict, mrn_system: str) -> str | None:
    identifiers = patient.get("identifier") or []
    for ident in identifiers:
        if ident.get("system") == mrn_system:
            return ident.get("value")
    for ident in identifiers:
        codings = (ident.get("type") or {}).get("coding") or []
        if any(c.get("code") == "MR" for c in codings):
            return ident.get("value")
    return None
