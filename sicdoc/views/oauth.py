"""OAuth 2.0 client credentials for integration clients (SMART Backend Services) and its discovery document."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session

from sicdoc.config import public_base_url
from sicdoc.db import get_session
from sicdoc.models import IntegrationClient
from sicdoc.schemas.oauth import OAuthErrorSchema, SmartConfigurationSchema, TokenSchema
from sicdoc.security import audit, tokens
from sicdoc.security.audit import AuditUnavailable
from sicdoc.services import accounts
from sicdoc.views.guard import current_actor
from sicdoc.views.limits import limited

bp = Blueprint("oauth", __name__)


def token_url() -> str:
    """The token endpoint's public URL (the ``aud`` clients sign): from SICDOC_BASE_URL, never the Host."""
    return f"{public_base_url(current_app.config)}/auth/token"


@bp.errorhandler(tokens.OAuthError)
def _oauth_error(error: tokens.OAuthError) -> Response:
    """RFC 6749 error JSON, with the Basic challenge on a 401."""
    resp = jsonify(OAuthErrorSchema().dump(error.body()))
    resp.status_code = error.status
    if error.status == 401:
        resp.headers["WWW-Authenticate"] = 'Basic realm="sicdoc"'
    return resp


@bp.errorhandler(AuditUnavailable)
def _audit_unavailable(_error: AuditUnavailable) -> Response:
    return _oauth_error(tokens.OAuthError("temporarily_unavailable", "The audit log is unavailable", 503))


def _basic_credentials() -> tuple[str, str] | None:
    """HTTP Basic client credentials (RFC 6749 2.3.1: each form-encoded before base64), if sent."""
    kind, _, value = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() != "basic" or not value.strip():
        return None
    auth = request.authorization  # werkzeug's parse: None when the base64 or its UTF-8 is malformed
    if auth is None or not auth.username or not auth.password:
        raise tokens.invalid_client("Malformed Basic credentials")
    client_id, secret = unquote(auth.username), unquote(auth.password)
    if "\x00" in client_id or "\x00" in secret:
        raise tokens.OAuthError("invalid_request", "Credentials may not contain NUL (U+0000)")
    return client_id, secret


def _authenticator() -> Callable[[Session, datetime], IntegrationClient]:
    """Choose how the client authenticates: a signed JWT assertion, HTTP Basic, or a posted secret."""
    form = request.form
    if any("\x00" in key or "\x00" in value for key, value in form.items(multi=True)):
        raise tokens.OAuthError("invalid_request", "Parameters may not contain NUL (U+0000)")
    if form.get("grant_type") != "client_credentials":
        raise tokens.OAuthError("unsupported_grant_type", "grant_type must be client_credentials")
    if "client_assertion" in form or "client_assertion_type" in form:
        if form.get("client_assertion_type") != tokens.ASSERTION_TYPE:
            raise tokens.invalid_client(f"client_assertion_type must be {tokens.ASSERTION_TYPE}")
        assertion, audience = form.get("client_assertion", ""), token_url()
        return lambda session, now: tokens.client_from_assertion(session, assertion, audience, now)
    basic = _basic_credentials()
    client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
    if not client_id or not secret:
        raise tokens.invalid_client("Authenticate with a client assertion or a client secret")

    def by_secret(session: Session, _now: datetime) -> IntegrationClient:
        return tokens.client_from_secret(session, client_id, secret)

    return by_secret


@bp.post("/auth/token")
@limited("TOKEN_RATE_LIMIT")
def token() -> Response:
    session = get_session()
    try:
        authenticate = _authenticator()
    except tokens.OAuthError as exc:
        audit.record(session, current_actor(), "token", "failure", detail=exc.reason)
        raise
    issued = accounts.issue_token(
        session,
        authenticate,
        request.form.get("scope"),
        current_actor(),
        int(current_app.config["ACCESS_TOKEN_SECONDS"]),
    )
    resp = jsonify(TokenSchema().dump(issued.body()))
    resp.headers["Pragma"] = "no-cache"
    return resp


@bp.get("/.well-known/smart-configuration")
def smart_configuration() -> Response:
    return jsonify(
        SmartConfigurationSchema().dump(
            {
                "token_endpoint": token_url(),
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "private_key_jwt",
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "token_endpoint_auth_signing_alg_values_supported": list(tokens.ALGORITHMS),
                "scopes_supported": [
                    "system/*.read",
                    "system/*.write",
                    "system/*.*",
                    "system/Patient.write",
                    "system/ServiceRequest.write",
                ],
                "capabilities": [
                    "client-confidential-asymmetric",
                    "client-confidential-symmetric",
                    "permission-v1",
                    "permission-v2",
                ],
            }
        )
    )
