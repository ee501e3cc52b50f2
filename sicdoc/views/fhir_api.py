"""The FHIR R4 REST face: thin routes over the services; every error is an OperationOutcome."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from sicdoc.db import get_session
from sicdoc.errors import InvalidInput, SicdocError
from sicdoc.fhir.capability import capability_statement
from sicdoc.fhir.dates import format_instant, utc_now
from sicdoc.fhir.outcome import information
from sicdoc.fhir.search import (
    check_criteria,
    parse_version,
)
from sicdoc.fhir.validation import resource_class, valid_id
from sicdoc.security import audit
from sicdoc.security import scopes as smart
from sicdoc.services import bundles as bundle_service
from sicdoc.services import resources as resource_service
from sicdoc.views.fhir_http import (
    fhir_response,
    http_error_response,
    if_match,
    outcome_response,
    prefer,
    request_json,
    resource_headers,
    written_response,
)
from sicdoc.views.guard import current_actor, refuse, retry_after, unit

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
_ID_ARGS = ("resource_id", "patient_id")


@bp.url_value_preprocessor
def _check_path(_endpoint: str | None, values: dict[str, str] | None) -> None:
    """Check the ids in the URL before anything uses them, and keep only storable text for the audit.

    The refusal itself waits for ``_refuse_bad_path`` (after the access rule), so an anonymous caller
    is still told 401 first, and the audit record of either refusal can be written.
    """
    if not values:
        return
    problems = []
    for name, value in values.items():
        if name in _ID_ARGS and not valid_id(value):
            problems.append(f"'{_printable(value)}' is not a resource id (1-64 of A-Z a-z 0-9 - .)")
        elif name == "resource_type" and (len(value) > 64 or "\x00" in value):
            problems.append(f"'{_printable(value)}' is not a resource type")
        elif name == "version_id":
            try:
                parse_version(value)
            except InvalidInput as exc:
                problems.append(str(exc))
        values[name] = _printable(value)
    if problems:
        g.bad_path = InvalidInput("; ".join(problems), code="value")


@bp.before_request
def _refuse_bad_path() -> None:
    bad = g.pop("bad_path", None)
    if bad is not None:
        raise bad


def _printable(value: str, limit: int = 64) -> str:
    """What of a URL value or a message can be stored and shown: no NUL, at most ``limit`` characters."""
    return value.replace("\x00", "\\0")[:limit]


# Failed attempts are audited too (refusals already are, by the guard).
_AUDITED = {
    "fhir.create": "create",
    "fhir.update": "update",
    "fhir.conditional_update": "update",
    "fhir.delete": "delete",
    "fhir.bundle": "bundle",
    "fhir.read_resource": "read",
    "fhir.read_version": "vread",
    "fhir.search_get": "search",
    "fhir.search_post": "search",
    "fhir.everything": "export",
}


@bp.errorhandler(SicdocError)
def _sicdoc_error(error: SicdocError) -> Response:
    action = _AUDITED.get(request.endpoint or "")
    if action and not isinstance(error, audit.AuditUnavailable):
        args = request.view_args or {}
        rtype, rid = args.get("resource_type"), args.get("resource_id") or args.get("patient_id")
        try:
            audit.record(
                get_session(),
                current_actor(),
                action,
                "failure",
                resource_type=rtype,
                resource_id=rid,
                patient_id=rid if rtype == "Patient" or request.endpoint == "fhir.everything" else None,
                detail=_printable(f"{error.status}: {error}", 300),
            )
        except audit.AuditUnavailable as unavailable:
            return outcome_response(unavailable)
    return retry_after(outcome_response(error), error)


class _ServerWritten(SicdocError):
    status = 405

    def __init__(self) -> None:
        super().__init__("AuditEvent records are written by sicdoc itself", code="not-supported")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return http_error_response(error)


def _type(resource_type: str) -> str:
    resource_class(resource_type)
    return resource_type


def _writable(resource_type: str) -> str:
    if _type(resource_type) == "AuditEvent":
        raise _ServerWritten()
    return resource_type


@bp.after_request
def _options_as_fhir(resp: Response) -> Response:
    """OPTIONS answers FHIR JSON: the CapabilityStatement at the base, else which methods the URL takes."""
    if request.method != "OPTIONS" or resp.status_code != 200 or resp.mimetype != "text/html":
        return resp
    from sicdoc.views.fhir_http import base_url

    allow = resp.headers.get("Allow", "")
    if request.path.rstrip("/") in ("/fhir", "/fhir/metadata"):
        body = capability_statement(base_url(), format_instant(utc_now()))
    else:
        body = information(f"{request.path} accepts {allow}")
    return fhir_response(body, 200, {"Allow": allow})


@bp.get("/metadata")
def metadata() -> Response:
    from sicdoc.views.fhir_http import base_url

    return fhir_response(capability_statement(base_url(), format_instant(utc_now())))


@bp.post("")
@bp.post("/")
def bundle() -> BaseResponse:
    body = request_json()
    denied = _bundle_scope_refusal(body)
    if denied is not None:
        return denied
    representation = prefer("return") == "representation"
    max_entries = current_app.config["FHIR_MAX_BUNDLE_ENTRIES"]
    if isinstance(body, dict) and body.get("type") == "batch":
        result = bundle_service.process_batch(
            unit(), body, max_entries=max_entries, representation=representation
        )
    else:
        result = bundle_service.process_transaction(
            unit(), body, max_entries=max_entries, representation=representation
        )
    return fhir_response(result.response, 200)


def _bundle_scope_refusal(body: object) -> BaseResponse | None:
    """Every entry's type and interaction must be within the token's scopes, before any work is done."""
    if not isinstance(body, dict):
        return None
    entries = body.get("entry")
    # Entries without a method cannot run (validation refuses them), so they need no scope either.
    usable = [
        e
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict)
        and isinstance(e.get("request"), dict)
        and type(e["request"].get("method")) is str
    ]
    needed = smart.required_scopes({"entry": usable})
    if any(rtype == "AuditEvent" and interaction != "read" for rtype, interaction in needed):
        raise _ServerWritten()
    granted = g.principal.scopes
    missing = sorted(f"{t}.{i}" for t, i in needed if not smart.allows(granted, t, i))
    if missing:
        from sicdoc.security.rules import Decision

        return refuse(Decision(False, 403, f"The token's scopes do not allow: {', '.join(missing)}"))
    return None


@bp.post("/<resource_type>")
def create(resource_type: str) -> Response:
    _writable(resource_type)
    if_none_exist = request.headers.get("If-None-Exist")
    if if_none_exist:
        check_criteria(if_none_exist, "If-None-Exist")
    result = resource_service.create_resource(
        unit(), resource_type, request_json(), if_none_exist=if_none_exist
    )
    if result.hidden:
        # A client that may not read the type learns only that a match exists: no id, body or version.
        return fhir_response(
            information(f"A {resource_type} matching If-None-Exist already exists; nothing was created"), 200
        )
    return written_response(
        result.stored, 201 if result.created else 200, unit().may_read(resource_type), result.warnings
    )


@bp.put("/<resource_type>")
def conditional_update(resource_type: str) -> Response:
    _writable(resource_type)
    criteria = request.query_string.decode()
    if not criteria:
        raise InvalidInput("PUT on a type needs search criteria (Type?identifier=…) or an id in the URL")
    check_criteria(criteria, "request URL")
    result = resource_service.conditional_update(
        unit(), resource_type, criteria, request_json(), if_match=if_match()
    )
    return written_response(
        result.stored, 201 if result.created else 200, unit().may_read(resource_type), result.warnings
    )


@bp.get("/<resource_type>/<resource_id>")
def read_resource(resource_type: str, resource_id: str) -> Response:
    stored = unit().read(_type(resource_type), resource_id)
    return fhir_response(stored.content, 200, resource_headers(stored))


@bp.put("/<resource_type>/<resource_id>")
def update(resource_type: str, resource_id: str) -> Response:
    result = resource_service.update_resource(
        unit(), _writable(resource_type), resource_id, request_json(), if_match=if_match()
    )
    return written_response(
        result.stored, 201 if result.created else 200, unit().may_read(resource_type), result.warnings
    )


@bp.delete("/<resource_type>/<resource_id>")
def delete(resource_type: str, resource_id: str) -> Response:
    resource_service.delete_resource(unit(), _writable(resource_type), resource_id)
    return fhir_response(None, 204)


@bp.get("/<resource_type>/<resource_id>/_history/<version_id>")
def read_version(resource_type: str, resource_id: str, version_id: str) -> Response:
    stored = unit().vread(_type(resource_type), resource_id, parse_version(version_id))
    return fhir_response(stored.content, 200, resource_headers(stored))


# The routes that answer with bundles of results attach to ``bp`` in their own module.
from sicdoc.views import fhir_search  # noqa: E402, F401
