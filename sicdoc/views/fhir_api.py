"""The FHIR R4 REST face: JSON in and out, every error an OperationOutcome."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from sicdoc.db import get_session
from sicdoc.errors import InvalidInput, SicdocError
from sicdoc.fhir import jsonio
from sicdoc.fhir.audit_event import searchset, to_audit_event
from sicdoc.fhir.capability import capability_statement, searchable_types
from sicdoc.fhir.dates import format_instant, utc_now
from sicdoc.fhir.outcome import operation_outcome
from sicdoc.fhir.validation import resource_class
from sicdoc.security import audit
from sicdoc.services import resources as resource_service
from sicdoc.store import Stored, read, vread
from sicdoc.views.guard import current_actor

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

FHIR_JSON = "application/fhir+json"
_ACCEPTED_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_VERSION_RE = re.compile(r"^\d{1,9}$")


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(jsonio.dumps(body), status=status, mimetype=FHIR_JSON, headers=headers)
    resp.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    return resp


def outcome_response(error: SicdocError) -> Response:
    return fhir_response(operation_outcome(error.issues), error.status)


# Failed attempts are audited too (refusals already were, by the guard).
_AUDITED = {"fhir.create": "create", "fhir.read_resource": "read", "fhir.read_version": "vread"}


@bp.errorhandler(SicdocError)
def _sicdoc_error(error: SicdocError) -> Response:
    action = _AUDITED.get(request.endpoint or "")
    if action and not isinstance(error, audit.AuditUnavailable):
        args = request.view_args or {}
        rtype, rid = args.get("resource_type"), args.get("resource_id")
        try:
            audit.record(
                get_session(),
                current_actor(),
                action,
                "failure",
                resource_type=rtype,
                resource_id=rid,
                patient_id=rid if rtype == "Patient" else None,
                detail=f"{error.status}: {error}"[:300],
            )
        except audit.AuditUnavailable as unavailable:
            return outcome_response(unavailable)
    return outcome_response(error)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    code = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}.get(
        error.code or 500, "processing"
    )
    resp = outcome_response(SicdocError(error.description or error.name, code=code))
    resp.status_code = error.code or 500
    if error.code == 405 and isinstance(getattr(error, "valid_methods", None), list):
        resp.headers["Allow"] = ", ".join(error.valid_methods)
    return resp


def base_url() -> str:
    return (
        current_app.config.get("FHIR_BASE_URL") or url_for("fhir.metadata", _external=True).rsplit("/", 1)[0]
    )


def _resource_headers(stored: Stored) -> dict[str, str]:
    return {
        "ETag": stored.etag,
        "Last-Modified": stored.last_updated.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }


def request_json() -> Any:
    mimetype = (request.mimetype or "").lower()
    if mimetype not in _ACCEPTED_TYPES:
        raise _UnsupportedMedia()
    return jsonio.loads(request.get_data(cache=False), current_app.config["FHIR_MAX_JSON_DEPTH"])


class _UnsupportedMedia(SicdocError):
    status = 415

    def __init__(self) -> None:
        super().__init__(
            f"Content-Type must be {FHIR_JSON}, not '{request.content_type or 'none'}'", code="not-supported"
        )


class _ServerWritten(SicdocError):
    status = 405

    def __init__(self) -> None:
        super().__init__("AuditEvent records are written by sicdoc itself", code="not-supported")


def _check_type(resource_type: str) -> None:
    resource_class(resource_type)


@bp.get("/metadata")
def metadata() -> Response:
    statement = capability_statement(base_url(), format_instant(utc_now()), searchable_types())
    return fhir_response(statement)


@bp.post("/<resource_type>")
def create(resource_type: str) -> Response:
    _check_type(resource_type)
    if resource_type == "AuditEvent":
        raise _ServerWritten()
    body = request_json()
    stored = resource_service.create_resource(
        get_session(), current_app.extensions["sicdoc.store"], resource_type, body, actor=current_actor()
    )
    headers = _resource_headers(stored)
    headers["Location"] = f"{base_url()}/{resource_type}/{stored.id}/_history/{stored.version_id}"
    return fhir_response(stored.content or {}, 201, headers)


@bp.get("/<resource_type>/<resource_id>")
def read_resource(resource_type: str, resource_id: str) -> Response:
    _check_type(resource_type)
    stored = read(get_session(), resource_type, resource_id)
    _audit_read("read", stored)
    return fhir_response(stored.content or {}, 200, _resource_headers(stored))


@bp.get("/<resource_type>/<resource_id>/_history/<version_id>")
def read_version(resource_type: str, resource_id: str, version_id: str) -> Response:
    _check_type(resource_type)
    if not _VERSION_RE.match(version_id):
        raise InvalidInput(f"'{version_id}' is not a version id", code="value")
    stored = vread(get_session(), resource_type, resource_id, int(version_id))
    _audit_read("vread", stored)
    return fhir_response(stored.content or {}, 200, _resource_headers(stored))


def _audit_read(action: str, stored: Stored) -> None:
    """Record a read before any data leaves; AuditUnavailable (503) if it cannot be written."""
    audit.record(
        get_session(),
        current_actor(),
        action,
        "success",
        resource_type=stored.resource_type,
        resource_id=stored.id,
        patient_id=stored.id if stored.resource_type == "Patient" else audit.patient_of(stored.content),
    )


_AUDIT_PARAMS = {"agent", "patient", "date", "subtype", "_count"}


@bp.get("/AuditEvent")
def search_audit_events() -> Response:
    """Search the audit log (agent, patient, date=YYYY-MM-DD, subtype, _count); the search is itself audited."""
    args = request.args
    unknown = sorted(set(args) - _AUDIT_PARAMS)
    if unknown:
        raise InvalidInput(f"Unsupported search parameter(s): {', '.join(unknown)}", code="not-supported")
    day = None
    if args.get("date"):
        raw = args["date"].removeprefix("eq")
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(
                "date must be a day, e.g. 2026-11-20", code="value", expression="date"
            ) from None
    count = args.get("_count", "100")
    if not count.isdigit() or not 1 <= int(count) <= 1000:
        raise InvalidInput("_count must be 1 to 1000", code="value", expression="_count")
    session = get_session()
    rows = audit.search(
        session,
        person=args.get("agent") or None,
        patient=(args.get("patient") or "").removeprefix("Patient/") or None,
        day=day,
        action=(args.get("subtype") or "").rpartition("|")[2] or None,
        limit=int(count),
    )
    events = [to_audit_event(row) for row in rows]
    audit.record(
        session,
        current_actor(),
        "audit-search",
        "success",
        resource_type="AuditEvent",
        detail=request.query_string.decode()[:400],
    )
    return fhir_response(searchset(events, request.url))
