"""Planning and running the entries of a bundle: ids decided first, references rewritten, then writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from sicdoc.errors import InvalidInput, PreconditionFailed
from sicdoc.fhir.dates import format_instant
from sicdoc.fhir.search import parse_etag, parse_search, parse_version
from sicdoc.fhir.validation import is_resource_type
from sicdoc.services.matching import (
    Pending,
    identifier_criteria,
    look_up_and_lock,
    match_one,
)
from sicdoc.services.references import CONDITIONAL, resolve, rewrite_text
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored, identifier_pairs, new_id
from sicdoc.store import read as store_read

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3, "HEAD": 3}


@dataclass
class EntryPlan:
    index: int
    method: str
    resource_type: str
    resource_id: str | None
    resource: dict[str, Any] | None = None
    url: str = ""
    exists: bool = False  # a conditional create that matched
    if_match: int | None = None
    created: int = 0
    written: tuple[str, Stored] | None = None  # (audit action, version written)
    order: tuple[int, int] = field(default=(0, 0))

    def to_create(self) -> tuple[dict[str, Any], str]:
        """(resource, id) of a planned create: both are known once the entry is planned."""
        assert self.resource is not None and self.resource_id is not None
        return self.resource, self.resource_id

    def execute(self, uow: UnitOfWork, representation: bool) -> dict[str, Any]:
        where = f"Bundle.entry[{self.index}]"
        session, store = uow.session, uow.store
        if self.method == "DELETE":
            assert self.resource_id is not None
            if self.resource_id:
                deleted = store.delete(session, self.resource_type, self.resource_id)
                self.written = ("delete", deleted) if deleted else None
            return {"response": {"status": "204 No Content"}}
        if self.method in ("GET", "HEAD"):
            body = run_read(uow, self.url, where)
            entry: dict[str, Any] = {"response": {"status": "200 OK"}}
            if self.method == "GET":
                entry["resource"] = body
            return entry
        assert self.resource_id is not None and self.resource is not None
        if self.method == "POST" and self.exists:
            if not uow.may_read(self.resource_type):
                return {"response": {"status": "200 OK"}}  # one match exists; nothing more for a writer
            return response_entry(
                uow.read(self.resource_type, self.resource_id)
                if representation
                else store_read(session, self.resource_type, self.resource_id),
                "200 OK",
                representation,
            )
        representation = representation and uow.may_read(self.resource_type)
        if self.method == "POST":
            stored = store.create(session, self.resource, resource_id=self.resource_id)
            self.created = 1
            self.written = ("create", stored)
            return response_entry(stored, "201 Created", representation)
        self.resource["id"] = self.resource_id
        stored = store.update(session, self.resource, self.resource_id, if_match=self.if_match)
        self.created = int(stored.version_id == 1)
        self.written = ("create" if stored.version_id == 1 else "update", stored)
        return response_entry(stored, "201 Created" if stored.version_id == 1 else "200 OK", representation)


def response_entry(stored: Stored, status: str, representation: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "response": {
            "status": status,
            "location": f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}",
            "etag": stored.etag,
            "lastModified": format_instant(stored.last_updated),
        }
    }
    if representation and stored.content is not None:
        entry["fullUrl"] = f"{stored.resource_type}/{stored.id}"
        entry["resource"] = stored.content
    return entry


def _if_match(request: dict[str, Any], where: str) -> int | None:
    value = request.get("ifMatch")
    if value is None:
        return None
    return parse_etag(value, f"{where}.request.ifMatch")


def plan_entries(
    uow: UnitOfWork,
    entries: list[dict[str, Any]],
    known: Pending | None = None,
    criteria: Criteria | None = None,
) -> list[EntryPlan]:
    """Decide every entry's target id, then rewrite placeholders and conditional references.

    ``known`` (bulk loading) holds what earlier bundles of the same transaction looked up and
    created, the criteria that may create under locks held until it commits; it is read and extended
    in place. ``criteria`` is
    ``criteria_of(entries)`` when the caller has it already.
    """
    session = uow.session
    mapping: dict[str, str] = {}
    criteria = criteria or criteria_of(entries)
    wanted, writes = criteria.wanted, criteria.writes
    if known is None:
        # Conditional creates and updates that may create wait here for any other request with the
        # same criteria before they match, so ten identical ones leave one resource.
        pending = look_up_and_lock(session, wanted, writes, criteria.creates)
    else:
        pending = known
        missing = {t: {p for p in ps if (t, *p) not in known} for t, ps in wanted.items()}
        missing = {t: ps for t, ps in missing.items() if ps}
        # A plain bundle's conditional writes are all on identifiers (``criteria_of`` checked them).
        if missing or (not criteria.plain and any(identifier_criteria(q) is None for _, q in writes)):
            pending.update(look_up_and_lock(session, missing, writes, criteria.creates, known))
    plans: list[EntryPlan] = []
    for i in sorted(range(len(entries)), key=lambda k: _ORDER[entries[k]["request"]["method"]]):
        entry, request = entries[i], entries[i]["request"]
        method, url, where = request["method"], request["url"], f"Bundle.entry[{i}]"
        rtype, sep, rest = url.partition("?") if "?" in url else url.partition("/")
        plan = EntryPlan(i, method, rtype, None, entry.get("resource"), url, order=(_ORDER[method], i))
        plan.if_match = _if_match(request, where)
        if method == "POST":
            if request.get("ifNoneExist"):
                found = match_one(
                    session, rtype, request["ifNoneExist"], f"{where}.request.ifNoneExist", pending
                )
                plan.exists = found is not None
                plan.resource_id = found
            if plan.resource_id is None:
                plan.resource_id = new_id()
                for system, value in identifier_pairs(plan.resource or {}):
                    key = (rtype, system, value)  # later criteria naming it see this create too
                    pending[key] = (*pending.get(key, ()), plan.resource_id)
        elif method in ("PUT", "DELETE"):
            if sep == "?":
                found = match_one(session, rtype, rest, f"{where}.request.url", pending)
                plan.resource_id = found or (new_id() if method == "PUT" else "")
            else:
                plan.resource_id = rest.split("/", 1)[0]
                if not plan.resource_id:
                    raise InvalidInput(f"{where}.request.url needs an id", expression=f"{where}.request.url")
        if entry.get("fullUrl") and plan.resource_id and method in ("POST", "PUT"):
            mapping[entry["fullUrl"]] = f"{rtype}/{plan.resource_id}"
        plans.append(plan)
    _refuse_overlaps(plans)
    fast = all(key.startswith("urn:") for key in mapping)
    for plan in plans:
        # A conditional create that matched is answered with what it found; its resource is never
        # stored, so its references are left as sent (two of every five entries of a loaded patient).
        if plan.resource is not None and not plan.exists:
            where = f"Bundle.entry[{plan.index}].resource"
            if fast:
                raw = criteria.texts[plan.index] if plan.index < len(criteria.texts) else None
                plan.resource = rewrite_text(uow, plan.resource, where, mapping, pending, raw)
            else:
                resolve(uow, plan.resource, where, mapping, pending)
    return plans


@dataclass(frozen=True)
class Criteria:
    """What a bundle's entries match on, read once for both the batch's look-up and the bundle's plan."""

    wanted: dict[str, set[tuple[str, str]]]  # identifier criteria by type
    writes: list[tuple[str, str]]  # (type, criteria) of conditional creates and updates
    plain: bool  # only creates, every criterion on identifiers: nothing to read back but identifiers
    texts: tuple[bytes | None, ...] = ()  # each entry's resource serialised, for the rewrite
    creates: tuple[tuple[str, str], ...] = ()  # (type, criteria) of conditional creates, among writes


def criteria_of(entries: list[dict[str, Any]]) -> Criteria:
    """The criteria of a bundle's conditional creates, updates and references."""
    wanted: dict[str, set[tuple[str, str]]] = {}
    plain = True
    texts: list[bytes | None] = []
    for entry in entries:
        request = entry["request"]
        criteria = []
        if request["method"] == "POST":
            if request.get("ifNoneExist"):
                criteria.append((request["url"].split("?", 1)[0], request["ifNoneExist"]))
                plain = plain and identifier_criteria(request["ifNoneExist"]) is not None
        else:
            plain = False
            if request["method"] in ("PUT", "DELETE") and "?" in request["url"]:
                criteria.append(tuple(request["url"].split("?", 1)))
        texts.append(None)
        if entry.get("resource") is not None:
            raw = texts[-1] = orjson.dumps(entry["resource"])
            if b"?" in raw:
                for match in CONDITIONAL.finditer(raw):
                    reference = match.group(1).decode()
                    criteria.append(tuple(reference.split("?", 1)))
                    plain = plain and (
                        not is_resource_type(reference.partition("?")[0])
                        or identifier_criteria(reference.partition("?")[2]) is not None
                    )
        for rtype, query in criteria:
            pairs = identifier_criteria(query)
            if pairs:
                wanted.setdefault(rtype, set()).update(pairs)
    writes, creates = _conditional_writes(entries)
    return Criteria(wanted, writes, plain, tuple(texts), creates)


def look_ahead(uow: UnitOfWork, bundles: list[Criteria]) -> Pending:
    """Look up the identifiers of many bundles' entries and lock their conditional criteria at
    once: what ``plan_entries`` takes as ``known`` for each of them in turn, in one transaction."""
    wanted: dict[str, set[tuple[str, str]]] = {}
    writes: list[tuple[str, str]] = []
    creates: list[tuple[str, str]] = []
    for criteria in bundles:
        writes += criteria.writes
        creates += criteria.creates
        for rtype, pairs in criteria.wanted.items():
            wanted.setdefault(rtype, set()).update(pairs)
    return look_up_and_lock(uow.session, wanted, writes, creates)


def _conditional_writes(
    entries: list[dict[str, Any]],
) -> tuple[list[tuple[str, str]], tuple[tuple[str, str], ...]]:
    """(type, criteria) of every conditional create (``ifNoneExist``) and conditional update; and
    of the creates alone."""
    found, creates = [], []
    for entry in entries:
        request = entry["request"]
        if request["method"] == "POST" and request.get("ifNoneExist"):
            found.append((request["url"].split("?", 1)[0], str(request["ifNoneExist"])))
            creates.append(found[-1])
        elif request["method"] == "PUT" and "?" in request["url"]:
            rtype, _, query = request["url"].partition("?")
            found.append((rtype, query))
    return found, tuple(creates)


def _refuse_overlaps(plans: list[EntryPlan]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for plan in plans:
        if plan.method in ("GET", "HEAD") or plan.exists or not plan.resource_id:
            continue
        key = (plan.resource_type, plan.resource_id)
        if key in seen:
            raise InvalidInput(
                f"Bundle.entry[{plan.index}] and Bundle.entry[{seen[key]}] both write {key[0]}/{key[1]}",
                code="duplicate",
                expression=f"Bundle.entry[{plan.index}]",
            )
        seen[key] = plan.index


def run_read(uow: UnitOfWork, url: str, where: str = "request") -> dict[str, Any]:
    """A GET inside a bundle: ``Type/id`` reads, ``Type?params`` searches; scoped and audited alike."""
    path, _, query = url.partition("?")
    parts = path.strip("/").split("/")
    if not is_resource_type(parts[0]):
        raise InvalidInput(f"{where}: '{url}' names no R4 type", expression=where)
    if len(parts) >= 2:
        if len(parts) == 4 and parts[2] == "_history":
            return uow.vread(parts[0], parts[1], parse_version(parts[3], where)).content or {}
        return uow.read(parts[0], parts[1]).content or {}
    request = parse_search(parts[0], parse_qsl(query, keep_blank_values=True))
    result = uow.search(request)
    found = [("match", m) for m in result.matches] + [("include", m) for m in result.included]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": result.total,
        "entry": [
            {"fullUrl": f"{m.resource_type}/{m.id}", "resource": m.content, "search": {"mode": mode}}
            for mode, m in found
        ],
    }


__all__ = [
    "Criteria",
    "EntryPlan",
    "PreconditionFailed",
    "criteria_of",
    "look_ahead",
    "plan_entries",
    "response_entry",
    "run_read",
]
