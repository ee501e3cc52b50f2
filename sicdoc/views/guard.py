"""The web glue of authorisation: identify who asks, ask the rule table, refuse before any work is done.

Also gives every request an id (returned as ``X-Request-ID``) and every response its security headers.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException
from werkzeug.wrappers import Response as BaseResponse

from sicdoc.db import get_session
from sicdoc.errors import SicdocError
from sicdoc.schemas.errors import ApiErrorSchema
from sicdoc.schemas.oauth import OAuthErrorSchema
from sicdoc.security import audit
from sicdoc.security.audit import Actor, AuditUnavailable
from sicdoc.security.rules import ANONYMOUS, CLINICIAN, RULES, Decision, Principal, Rule, decide
from sicdoc.security.sessions import Lifetime
from sicdoc.services import accounts
from sicdoc.services.unit import EVERYTHING, Access, UnitOfWork

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


DASHBOARD_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


NOTHING = Access(frozenset())


def init_app(app: Flask) -> None:
    app.before_request(authorize)
    app.after_request(security_headers)
    # Registered last so it runs first: a response whose audit record cannot be written is replaced.
    app.after_request(flush_disclosures)


def unit() -> UnitOfWork:
    """The request's unit of work: its session, the store, who acts and what they may read."""
    if "unit" not in g:
        principal: Principal = g.get("principal", ANONYMOUS)
        if principal.kind == "client":
            access = Access(principal.scopes)
        else:
            # Of the people, only clinicians read charts; the route rules say so first, this says it again.
            access = EVERYTHING if principal.role == CLINICIAN else NOTHING
        g.unit = UnitOfWork(
            get_session(),
            current_app.extensions["sicdoc.store"],
            current_actor(),
            access,
            f"{request.method} {request.endpoint or request.path}",
        )
    return g.unit


def flush_disclosures(resp: Response) -> Response:
    """Audit every patient whose data this response carries, before it leaves; 503 if that fails."""
    work: UnitOfWork | None = g.get("unit")
    if work is None:
        return resp
    if resp.status_code >= 400:
        work.discard()  # an error page carries no patient data
        return resp
    try:
        work.flush()
    except AuditUnavailable as exc:
        return error_response(exc)
    return resp


def cookie_name() -> str:
    # The __Host- prefix pins the cookie to this host and path "/", and browsers demand Secure with it.
    return "__Host-sicdoc" if current_app.config["SECURE_COOKIES"] else "sicdoc_session"


def lifetime() -> Lifetime:
    cfg = current_app.config
    return Lifetime(
        timedelta(minutes=float(cfg["SESSION_IDLE_MINUTES"])),
        timedelta(hours=float(cfg["SESSION_MAX_HOURS"])),
    )


def current_actor() -> Actor:
    principal: Principal = g.get("principal", ANONYMOUS)
    return Actor(principal.id, principal.role, request.remote_addr, g.get("request_id"))


def is_fhir() -> bool:
    return request.blueprint == "fhir" or request.path == "/fhir" or request.path.startswith("/fhir/")


def _principal(rule: Rule | None) -> Principal:
    if rule is None or rule.kind == "public":
        return ANONYMOUS
    session = get_session()
    if rule.kind == "bearer":
        kind, _, raw = request.headers.get("Authorization", "").partition(" ")
        grant = (
            accounts.bearer_grant(session, raw.strip()) if kind.lower() == "bearer" and raw.strip() else None
        )
        return Principal("client", grant.client_id, "client", grant.scopes) if grant else ANONYMOUS
    cookie = request.cookies.get(cookie_name())
    user = accounts.current_user(session, cookie, lifetime()) if cookie else None
    if user is None:
        return ANONYMOUS
    g.user = user
    g.session_cookie = cookie
    return Principal("user", user.username, user.role)


def authorize() -> BaseResponse | None:
    g.request_id = uuid.uuid4().hex
    g.principal = ANONYMOUS
    if request.endpoint is None:
        return None  # no such URL or method: the 404/405 follows, and nothing runs
    rule = RULES.get(request.endpoint)
    g.principal = _principal(rule)
    args = request.view_args or {}
    decision = decide(rule, g.principal, args.get("resource_type"))
    if decision.allowed:
        return None
    return refuse(decision, args.get("resource_type"), args.get("resource_id"))


def refuse(
    decision: Decision, resource_type: str | None = None, resource_id: str | None = None
) -> BaseResponse:
    """Audit the refusal in its own transaction, then answer 401/403 in the face's own vocabulary."""
    try:
        audit.record(
            get_session(),
            current_actor(),
            "access",
            "denied",
            resource_type=resource_type,
            resource_id=resource_id,
            patient_id=resource_id if resource_type == "Patient" else None,
            detail=f"{request.method} {request.endpoint or request.path}: {decision.reason}",
        )
    except AuditUnavailable as exc:
        return error_response(exc)
    if decision.status == 401 and not is_fhir():
        return login_redirect()
    code = "login" if decision.status == 401 else "forbidden"
    resp = error_response(SicdocError(decision.reason, code=code), decision.status)
    if decision.status == 401 and is_fhir():
        resp.headers["WWW-Authenticate"] = 'Bearer realm="sicdoc"'
    return resp


def login_redirect() -> BaseResponse:
    """Send a person to the login page, saying why and where they will be taken back to afterwards."""
    expired = bool(request.cookies.get(cookie_name()))
    return redirect(url_for("auth.login", next=return_path(), reason="expired" if expired else None))


def return_path() -> str | None:
    """The page to come back to after logging in: this one, or for a form post the page that showed it.

    A post cannot be replayed (its CSRF token and session are gone), so the form is opened again and
    the browser puts back the text it kept (static/js/forms.js).
    """
    path = request.full_path.rstrip("?") if request.method == "GET" else request.path
    if request.method != "GET" and not _has_get(path):
        referrer = request.referrer or ""
        prefix = request.host_url
        path = "/" + referrer[len(prefix) :] if referrer.startswith(prefix) else ""
    return path if path and path != "/" and _has_get(path.split("?", 1)[0]) else None


def _has_get(path: str) -> bool:
    adapter = current_app.url_map.bind(request.host, script_name=request.script_root)
    try:
        endpoint, _ = adapter.match(path, method="GET")
    except (HTTPException, RoutingException):  # no route, a redirect, a method mismatch: no page here
        return False
    return endpoint not in ("auth.login", "static")


def safe_next(value: str | None) -> str | None:
    """A ``next`` that is a page of this site (never another host, never a POST-only URL), else None."""
    if not value or not value.startswith("/") or "\\" in value or any(ord(c) < 0x21 for c in value):
        return None
    if urlsplit(value).netloc or value.startswith("//"):
        return None
    return value if _has_get(value.split("?", 1)[0]) else None


def error_response(error: SicdocError, status: int | None = None) -> Response:
    status = status or error.status
    if request.blueprint in ("oauth", "api"):
        return retry_after(json_error(error, status), error)
    if is_fhir():
        from sicdoc.views.fhir_api import outcome_response

        resp = outcome_response(error)
        resp.status_code = status
        return retry_after(resp, error)
    body = render_template(
        "error.html", status=status, message=str(error), user=g.get("user"), retry_in=asks_again_in(error)
    )
    return retry_after(Response(body, status, mimetype="text/html"), error)


def retry_after(resp: Response, error: SicdocError) -> Response:
    """A refusal that passes (figures still being computed) says when to ask again, on every face."""
    if error.retry_after_seconds is not None:
        resp.headers["Retry-After"] = str(error.retry_after_seconds)
    return resp


def asks_again_in(error: SicdocError) -> int | None:
    """Seconds after which an error page asks again by itself (forms.js): only for a GET refused for
    now, so the analyst who opens the dashboards while they are built need not keep reloading."""
    return error.retry_after_seconds if request.method == "GET" else None


def json_error(error: SicdocError, status: int) -> Response:
    """The JSON faces' errors: RFC 6749 error JSON at the token endpoint, ``{error, message}`` elsewhere."""
    if request.blueprint == "oauth":
        code = "temporarily_unavailable" if status >= 500 else "invalid_request"
        body = OAuthErrorSchema().dump({"error": code, "error_description": str(error)})
    else:
        code = "unavailable" if status >= 500 else error.issues[0].code if error.issues else "invalid"
        body = ApiErrorSchema().dump({"error": code, "message": str(error)})
    resp = jsonify(body)
    resp.status_code = status
    return resp


def security_headers(resp: Response) -> Response:
    headers = resp.headers
    # plotly.js styles its charts with inline style elements; only the dashboards need that, never script.
    headers["Content-Security-Policy"] = DASHBOARD_CSP if request.blueprint == "dashboards" else CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    if not request.path.startswith("/static/"):
        # Patient data must not linger in browser or proxy caches; nothing here needs caching.
        headers["Cache-Control"] = "no-store"
    if request.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if "request_id" in g:
        headers["X-Request-ID"] = g.request_id
    return resp
