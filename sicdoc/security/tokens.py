"""OAuth 2.0 client credentials as SMART Backend Services asks: signed JWT assertions (RS384/ES384)
or a client secret, scope mediation, and short-lived opaque bearer tokens stored only as digests.

Nothing here commits; ``sicdoc.services.accounts.issue_token`` owns the transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sicdoc.models import AccessToken, IntegrationClient, UsedJti
from sicdoc.security import scopes as smart
from sicdoc.security.passwords import verify_password

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_AHEAD = timedelta(minutes=5)
MAX_TOKEN_SECONDS = 300


class OAuthError(Exception):
    """An RFC 6749 error answer: ``error`` code, a description, and the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        self.error, self.description, self.status = error, description, status
        super().__init__(f"{error}: {description}")

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int
    scope: str

    def body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Grant:
    client_id: str
    scopes: frozenset[str]


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _active_client(session: Session, client_id: Any) -> IntegrationClient:
    client = session.get(IntegrationClient, client_id) if isinstance(client_id, str) and client_id else None
    if client is None or not client.active:
        raise invalid_client("Unknown or revoked client")
    return client


def public_jwks(jwks: Any) -> dict[str, Any]:
    """Check a JWK set for registration: parseable, public keys only, each with a ``kid``."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValueError("A JWK set needs a non-empty 'keys' array")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise ValueError("Only RSA and EC keys are accepted (RS384 / ES384)")
        if "d" in key:
            raise ValueError("Register the public key only; this JWK holds a private key")
        if not key.get("kid"):
            raise ValueError("Every key needs a 'kid'")
    KeySet.import_key_set(jwks)
    return jwks


def client_from_assertion(
    session: Session, assertion: str, token_url: str, now: datetime
) -> IntegrationClient:
    """Authenticate a client by its signed JWT; record its ``jti`` so the same assertion never works twice."""
    try:
        unverified = jws.extract_compact(assertion.encode("ascii"))
        issuer = _claim(unverified.payload, "iss")
    except (JoseError, ValueError, UnicodeError) as exc:
        raise invalid_client("The client assertion is not a well-formed JWT") from exc
    client = _active_client(session, issuer)
    header = unverified.headers()
    if header.get("alg") not in ALGORITHMS:
        raise invalid_client("The client assertion must be signed with RS384 or ES384")
    if "jku" in header or "jwk" in header or "x5u" in header:
        raise invalid_client("Keys are taken from the registered JWK set only")
    if not client.jwks:
        raise invalid_client("This client has no registered keys")
    try:
        claims = jwt.decode(assertion, KeySet.import_key_set(client.jwks), algorithms=list(ALGORITHMS)).claims
    except (JoseError, ValueError) as exc:
        raise invalid_client(
            "The client assertion's signature does not verify with a registered key"
        ) from exc
    _check_claims(claims, client.client_id, token_url, now)
    jti = claims["jti"]
    seen = session.scalar(select(UsedJti.pk).where(UsedJti.client_id == client.client_id, UsedJti.jti == jti))
    if seen is not None:
        raise invalid_client("This client assertion (jti) was already used")
    session.execute(delete(UsedJti).where(UsedJti.expires_at < now - MAX_ASSERTION_AHEAD))
    session.add(
        UsedJti(client_id=client.client_id, jti=jti, expires_at=datetime.fromtimestamp(claims["exp"], UTC))
    )
    session.flush()
    return client


def _claim(payload: bytes, name: str) -> Any:
    value = json.loads(payload)
    if not isinstance(value, dict):
        raise ValueError("claims are not an object")
    return value.get(name)


def _check_claims(claims: dict[str, Any], client_id: str, token_url: str, now: datetime) -> None:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise invalid_client("iss and sub must both be the client_id")
    aud = claims.get("aud")
    if token_url not in (aud if isinstance(aud, list) else [aud]):
        raise invalid_client(f"aud must be the token endpoint, {token_url}")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise invalid_client("exp is required")
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= now:
        raise invalid_client("The client assertion has expired")
    if expires > now + MAX_ASSERTION_AHEAD:
        raise invalid_client("exp may be at most 5 minutes ahead")
    if not isinstance(claims.get("jti"), str) or not claims["jti"] or len(claims["jti"]) > 255:
        raise invalid_client("jti is required")


def client_from_secret(session: Session, client_id: str | None, secret: str | None) -> IntegrationClient:
    client = _active_client(session, client_id)
    if not client.secret_hash or not secret or not verify_password(client.secret_hash, secret):
        raise invalid_client("Wrong client secret")
    return client


def issue(
    session: Session,
    client: IntegrationClient,
    requested: str | None,
    now: datetime,
    seconds: int = MAX_TOKEN_SECONDS,
) -> Issued:
    try:
        granted = smart.mediate(smart.split(client.scopes), requested)
    except smart.ScopeError as exc:
        raise OAuthError("invalid_scope", str(exc)) from exc
    seconds = max(1, min(seconds, MAX_TOKEN_SECONDS))
    raw = secrets.token_urlsafe(32)
    session.execute(delete(AccessToken).where(AccessToken.expires_at < now))
    session.add(
        AccessToken(
            token_hash=digest(raw),
            client_id=client.client_id,
            scopes=" ".join(granted),
            created=now,
            expires_at=now + timedelta(seconds=seconds),
        )
    )
    return Issued(raw, seconds, " ".join(granted))


def bearer(session: Session, raw: str, now: datetime) -> Grant | None:
    """The grant behind a bearer token, or None if it is unknown, expired or its client was revoked."""
    token = session.get(AccessToken, digest(raw))
    if token is None:
        return None
    expires = token.expires_at if token.expires_at.tzinfo else token.expires_at.replace(tzinfo=UTC)
    if expires <= now:
        return None
    client = session.get(IntegrationClient, token.client_id)
    if client is None or not client.active:
        return None
    return Grant(client.client_id, frozenset(smart.split(token.scopes)))
