"""FHIR routes that answer with bundles of results: search, history, ``$everything`` and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import parse_qsl

from flask import Response, request

from sicdoc.db import get_session
from sicdoc.errors import InvalidInput, SicdocError
from sicdoc.fhir.audit_event import searchset, to_audit_event
from sicdoc.fhir.dates import format_instant, parse_range
from sicdoc.fhir.outcome import operation_outcome
from sicdoc.fhir.search import (
    decode_cursor,
    encode_cursor,
    page_size,
    parse_count,
    parse_search,
)
from sicdoc.security import audit
from sicdoc.views.fhir_api import _type, bp
from sicdoc.views.fhir_http import (
    entry_for,
    fhir_response,
    history_entry,
    page_link,
    prefer,
)
from sicdoc.views.guard import unit


@bp.get("/<resource_type>/<resource_id>/_history")
def instance_history(resource_type: str, resource_id: str) -> Response:
    unit().instance_history(_type(resource_type), resource_id)  # 404 for an unknown resource
    return _history_bundle(resource_type, resource_id)


@bp.get("/_history")
def system_history() -> Response:
    return _history_bundle(None, None)


@bp.get("/<resource_type>/_history")
def type_history(resource_type: str) -> Response:
    return _history_bundle(_type(resource_type), None)


def _history_bundle(resource_type: str | None, resource_id: str | None) -> Response:
    count = page_size(request.args.get("_count"))
    since = None
    if "_since" in request.args:
        rng = parse_range(request.args["_since"])
        if rng is None:
            raise InvalidInput("_since must be an instant", code="value")
        since = rng[0]
    cursor = decode_cursor(request.args["_cursor"], "history") if "_cursor" in request.args else None
    items, next_cursor = unit().history_page(
        resource_type, resource_id, since=since, count=count, cursor=cursor
    )
    path = request.path.removeprefix("/fhir")
    params = [(k, v) for k, v in request.args.items(multi=True) if k != "_cursor"]
    links = [{"relation": "self", "url": page_link(path, params)}]
    if next_cursor:
        links.append({"relation": "next", "url": page_link(path, params, encode_cursor(next_cursor))})
    body = {
        "resourceType": "Bundle",
        "type": "history",
        "link": links,
        "entry": [history_entry(s) for s in items],
    }
    return fhir_response(body)


@bp.get("/<resource_type>")
def search_get(resource_type: str) -> Response:
    return _search(_type(resource_type), list(request.args.items(multi=True)))


@bp.post("/<resource_type>/_search")
def search_post(resource_type: str) -> Response:
    if request.mimetype != "application/x-www-form-urlencoded":
        raise InvalidInput(
            "POST _search takes application/x-www-form-urlencoded parameters", code="not-supported"
        )
    pairs = list(request.args.items(multi=True)) + parse_qsl(
        request.get_data(as_text=True), keep_blank_values=True
    )
    return _search(_type(resource_type), pairs)


def _search(resource_type: str, pairs: list[tuple[str, str]]) -> Response:
    strict = prefer("handling") == "strict"
    req = parse_search(resource_type, pairs, strict=strict)
    result = unit().search(req)
    path = f"/{resource_type}"
    links = [{"relation": "self", "url": page_link(path, req.canonical)}]
    if result.next_cursor:
        links.append(
            {"relation": "next", "url": page_link(path, req.canonical, encode_cursor(result.next_cursor))}
        )
    entries = [entry_for(m, "match") for m in result.matches] + [
        entry_for(m, "include") for m in result.included
    ]
    if req.ignored:
        note = SicdocError(
            f"Ignored unknown or unsupported parameters: {', '.join(sorted(set(req.ignored)))}",
            code="not-supported",
        )
        outcome = operation_outcome(
            [i.__class__(i.code, i.diagnostics, i.expression, "warning") for i in note.issues]
        )
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    body: dict[str, object] = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        body["total"] = result.total
    body["link"] = links
    if entries:
        body["entry"] = entries
    return fhir_response(body)


_EVERYTHING_PARAMS = {"_type", "_since", "_count", "_cursor"}


@bp.get("/Patient/<patient_id>/$everything")
def everything(patient_id: str) -> Response:
    """The patient's compartment (R4 CompartmentDefinition/patient), paged like search."""
    args = request.args
    unknown = sorted(set(args) - _EVERYTHING_PARAMS)
    if unknown:
        raise InvalidInput(
            f"Unsupported $everything parameter(s): {', '.join(unknown)}", code="not-supported"
        )
    types = None
    if "_type" in args:
        types = {t.strip() for v in args.getlist("_type") for t in v.split(",") if t.strip()} or None
        for rtype in types or ():
            _type(rtype)
    since = None
    if "_since" in args:
        rng = parse_range(args["_since"])
        if rng is None:
            raise InvalidInput("_since must be an instant", code="value", expression="_since")
        since = rng[0]
    cursor = decode_cursor(args["_cursor"], "compartment") if "_cursor" in args else None
    page = unit().compartment(
        patient_id,
        types=types,
        since=since,
        count=page_size(args.get("_count")),
        cursor=cursor,
        with_total=cursor is None,
    )
    path = f"/Patient/{patient_id}/$everything"
    params = [(k, v) for k, v in args.items(multi=True) if k != "_cursor"]
    links = [{"relation": "self", "url": page_link(path, params)}]
    if page.next_cursor:
        links.append({"relation": "next", "url": page_link(path, params, encode_cursor(page.next_cursor))})
    body: dict[str, object] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": format_instant(datetime.now().astimezone()),
    }
    if page.total is not None:
        body["total"] = page.total
    body["link"] = links
    if page.items:
        body["entry"] = [entry_for(s, "match") for s in page.items]
    return fhir_response(body)


_AUDIT_PARAMS = {"agent", "patient", "date", "subtype", "_count"}


@bp.get("/AuditEvent")
def search_audit_events() -> Response:
    """Search the audit log (agent, patient, date=YYYY-MM-DD, subtype, _count); the search is itself audited."""
    args = request.args
    if any("\x00" in k or "\x00" in v for k, v in args.items(multi=True)):
        raise InvalidInput("Search parameters may not contain NUL (U+0000)", code="value")
    unknown = sorted(set(args) - _AUDIT_PARAMS)
    if unknown:
        raise InvalidInput(f"Unsupported search parameter(s): {', '.join(unknown)}", code="not-supported")
    day = None
    if args.get("date"):
        try:
            day = date.fromisoformat(args["date"].removeprefix("eq"))
        except ValueError:
            raise InvalidInput(
                "date must be a day, e.g. 2026-11-20", code="value", expression="date"
            ) from None
    count = parse_count(args.get("_count", "100"))
    if not 1 <= count <= 1000:
        raise InvalidInput("_count must be 1 to 1000", code="value", expression="_count")
    session = get_session()
    rows = audit.search(
        session,
        person=args.get("agent") or None,
        patient=(args.get("patient") or "").removeprefix("Patient/") or None,
        day=day,
        action=(args.get("subtype") or "").rpartition("|")[2] or None,
        limit=count,
    )
    events = [to_audit_event(row) for row in rows]
    unit().disclose("audit-search", resource_type="AuditEvent", detail=request.query_string.decode()[:400])
    return fhir_response(searchset(events, request.url))
