"""HTTP plumbing for the FHIR face: JSON bodies, Prefer, ETags, bundles of results, error outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import http_date

from sicdoc.config import public_base_url
from sicdoc.errors import Issue, SicdocError
from sicdoc.fhir import jsonio
from sicdoc.fhir.dates import format_instant
from sicdoc.fhir.outcome import operation_outcome
from sicdoc.fhir.search import parse_etag
from sicdoc.store import Stored

FHIR_JSON = "application/fhir+json"
ACCEPTED_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")


def fhir_response(
    body: dict[str, Any] | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    resp = Response("" if body is None else jsonio.dumps(body), status=status, headers=headers)
    resp.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    return resp


def outcome_response(error: SicdocError) -> Response:
    return fhir_response(operation_outcome(error.issues), error.status)


def http_error_response(error: HTTPException) -> Response:
    code = {
        404: "not-found",
        405: "not-supported",
        413: "too-costly",
        415: "not-supported",
        429: "throttled",
    }.get(error.code or 500, "processing")
    resp = outcome_response(SicdocError(error.description or error.name, code=code))
    resp.status_code = error.code or 500
    if isinstance(error, MethodNotAllowed) and error.valid_methods is not None:
        resp.headers["Allow"] = ", ".join(error.valid_methods)
    return resp


class UnsupportedMedia(SicdocError):
    status = 415

    def __init__(self) -> None:
        super().__init__(
            f"Content-Type must be {FHIR_JSON}, not '{request.content_type or 'none'}'", code="not-supported"
        )


def base_url() -> str:
    """The FHIR base (SICDOC_BASE_URL + "/fhir") for Location headers and bundle links; never the Host."""
    return f"{public_base_url(current_app.config)}/fhir"


def request_json() -> Any:
    if (request.mimetype or "").lower() not in ACCEPTED_TYPES:
        raise UnsupportedMedia()
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked" and request.content_length is None:
        # Without a length the size limit cannot be checked before reading; refuse rather than truncate.
        raise SicdocError("Send a Content-Length; chunked request bodies are not accepted", code="too-costly")
    return jsonio.loads(request.get_data(cache=False), current_app.config["FHIR_MAX_JSON_DEPTH"])


def prefer(name: str) -> str | None:
    """One token of the Prefer header, e.g. prefer("return") -> "minimal"."""
    for part in request.headers.get("Prefer", "").split(";"):
        for item in part.split(","):
            key, _, value = item.strip().partition("=")
            if key.strip().lower() == name:
                return value.strip().strip('"').lower()
    return None


def if_match() -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    return parse_etag(raw)


def resource_headers(stored: Stored) -> dict[str, str]:
    return {
        "ETag": stored.etag,
        "Last-Modified": http_date(stored.last_updated),
    }


def written_response(
    stored: Stored, status: int, readable: bool = True, warnings: Sequence[Issue] = ()
) -> Response:
    """201/200 after a write, honouring ``Prefer: return=…`` (representation by default).

    A client that may write but not read the type gets an OperationOutcome instead of the resource.
    Warnings about the stored data go in that OperationOutcome, which R4 offers for hints and warnings
    (``return=OperationOutcome``); the resource body has no place for them.
    """
    headers = resource_headers(stored)
    headers["Location"] = f"{base_url()}/{stored.resource_type}/{stored.id}/_history/{stored.version_id}"
    choice = prefer("return")
    if choice == "minimal":
        return fhir_response(None, status, headers)
    if choice == "operationoutcome" or not readable:
        verb = "Created" if status == 201 else "Stored"
        done = Issue("informational", f"{verb} {stored.resource_type}/{stored.id}", severity="information")
        return fhir_response(operation_outcome([*warnings, done]), status, headers)
    return fhir_response(stored.content, status, headers)


def page_link(path: str, params: list[tuple[str, str]], cursor: str | None = None) -> str:
    query = list(params) + ([("_cursor", cursor)] if cursor else [])
    return f"{base_url()}{path}" + (f"?{urlencode(query)}" if query else "")


def entry_for(stored: Stored, mode: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{base_url()}/{stored.resource_type}/{stored.id}"}
    if stored.content is not None and not stored.deleted:
        entry["resource"] = stored.content
    if mode:
        entry["search"] = {"mode": mode}
    return entry


def history_entry(stored: Stored) -> dict[str, Any]:
    entry = entry_for(stored)
    url = f"{stored.resource_type}/{stored.id}"
    method = "DELETE" if stored.deleted else ("POST" if stored.version_id == 1 else "PUT")
    entry["request"] = {"method": method, "url": url if method != "POST" else stored.resource_type}
    entry["response"] = {
        "status": "204" if stored.deleted else ("201" if stored.version_id == 1 else "200"),
        "etag": stored.etag,
        "lastModified": format_instant(stored.last_updated),
    }
    return entry
