"""OAuth 2.0 client credentials as SMART Backend Services asks: signed JWT assertions (RS384/ES384)
or a client secret, scope mediation, and short-lived opaque bearer tokens stored only as digests.

Nothing here commits; ``sicdoc.services.accounts.issue_token`` owns the transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sicdoc.errors import SicdocError
from sicdoc.models import AccessToken, IntegrationClient, UsedJti
from sicdoc.security import scopes as smart
from sicdoc.security.opaque import digest, matches, new_secret
from sicdoc.security.passwords import verify_password

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_AHEAD = timedelta(minutes=5)
# Clocks differ a little: an assertion's nbf may be this far ahead of ours.
CLOCK_SKEW = timedelta(seconds=60)
MAX_TOKEN_SECONDS = 300
# The one answer for an unknown or revoked client and for a wrong key or secret, so the token
# endpoint does not tell which client ids exist. The audit record keeps the real reason.
AUTHENTICATION_FAILED = "Client authentication failed"


class OAuthError(SicdocError):
    """An RFC 6749 error answer: ``error`` code, a description, and the HTTP status.

    ``reason`` is what the audit log records; it may say more than the client is told.
    """

    def __init__(self, error: str, description: str, status: int = 400, reason: str | None = None):
        self.error, self.description, self.status = error, description, status
        self.reason = reason or description
        code = "login" if status == 401 else "transient" if status >= 500 else "invalid"
        super().__init__(f"{error}: {description}", code=code)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


def authentication_failed(reason: str) -> OAuthError:
    """Who the client is was not proven: the same answer whether or not the client exists."""
    return OAuthError("invalid_client", AUTHENTICATION_FAILED, 401, reason=reason)


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


def _active_client(session: Session, client_id: Any) -> IntegrationClient | None:
    if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
        return None
    client = session.get(IntegrationClient, client_id)
    return client if client is not None and client.active else None


@cache
def _stand_in_keys() -> dict[str, Any]:
    """Throwaway keys that assertions of unknown clients are checked against, so that an unknown
    client costs the same signature check as a known one (the answer's timing tells nothing)."""
    return {"RS384": RSAKey.generate_key(2048), "ES384": ECKey.generate_key("P-384")}


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
    _key_set(jwks)
    return jwks


def _key_set(jwks: dict[str, Any]) -> KeySet:
    return KeySet.import_key_set({"keys": jwks["keys"]})


def client_from_assertion(
    session: Session, assertion: str, token_url: str, now: datetime
) -> IntegrationClient:
    """Authenticate a client by its signed JWT; record its ``jti`` so the same assertion never works twice.

    Until the signature verifies, every failure that depends on the client (unknown, revoked, no keys,
    wrong key) gets the same answer after the same work; the claims are checked only after that.
    """
    try:
        unverified = jws.extract_compact(assertion.encode("ascii"))
        issuer = _claim(unverified.payload, "iss")
        header = unverified.headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise invalid_client("The client assertion is not a well-formed JWT") from exc
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise invalid_client("The client assertion must be signed with RS384 or ES384")
    if "jku" in header or "jwk" in header or "x5u" in header:
        raise invalid_client("Keys are taken from the registered JWK set only")
    client = _active_client(session, issuer)
    try:
        keys = _key_set(client.jwks) if client is not None and client.jwks else None
    except (JoseError, ValueError):
        keys = None
    try:
        claims = jwt.decode(assertion, keys or _stand_in_keys()[alg], algorithms=[alg]).claims
    except (JoseError, ValueError):
        claims = None
    if client is None:
        raise authentication_failed("unknown or revoked client")
    if keys is None:
        raise authentication_failed("client has no registered keys")
    if claims is None:
        raise authentication_failed("assertion signature does not verify with a registered key")
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
    expires = _instant(claims, "exp")
    if expires is None:
        raise invalid_client("exp is required")
    if expires <= now:
        raise invalid_client("The client assertion has expired")
    if expires > now + MAX_ASSERTION_AHEAD:
        raise invalid_client("exp may be at most 5 minutes ahead")
    not_before = _instant(claims, "nbf")
    if not_before is not None and not_before > now + CLOCK_SKEW:
        raise invalid_client("The client assertion is not valid yet: its nbf is in the future")
    if not isinstance(claims.get("jti"), str) or not claims["jti"] or len(claims["jti"]) > 255:
        raise invalid_client("jti is required")


def _instant(claims: dict[str, Any], name: str) -> datetime | None:
    """A NumericDate claim as a time (None when absent); invalid_client when it is not a usable number."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid_client(f"{name} must be a number of seconds since 1970")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid_client(f"{name} is out of range") from None


# Client secrets are 256 random bits stored as their SHA-256, as access tokens are (``opaque``). They
# were argon2id hashes, which held 64 MiB of a web worker for each token request; a client registered
# then keeps its hash until its next token request, which checks it so once and stores the digest.
_ARGON2 = "$argon2"
# Checked against when there is no client or it has no secret: the same work and the same answer.
_STAND_IN = digest("the secret of no client")


def check_secret(stored: str | None, secret: str) -> bool:
    """Whether ``secret`` is the client secret ``stored`` was made from (False when there is none)."""
    if stored is not None and stored.startswith(_ARGON2):
        return verify_password(stored, secret)
    return matches(secret, stored or _STAND_IN) and stored is not None


def client_from_secret(session: Session, client_id: str | None, secret: str | None) -> IntegrationClient:
    """Authenticate by secret; an unknown client is checked against a stand-in (same work, same answer)."""
    client = _active_client(session, client_id)
    stored = client.secret_hash if client is not None else None
    ok = check_secret(stored, secret or "")
    if client is None:
        raise authentication_failed("unknown or revoked client")
    if not ok:
        raise authentication_failed("wrong client secret" if stored else "client has no secret")
    if stored is not None and stored.startswith(_ARGON2):
        client.secret_hash = digest(secret or "")  # committed with the token it authenticated
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
    except smart.InvalidScope as exc:
        raise OAuthError("invalid_scope", str(exc)) from exc
    seconds = max(1, min(seconds, MAX_TOKEN_SECONDS))
    raw = new_secret()
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
    # One statement for the token and its client: every FHIR request pays for this check.
    found = session.execute(
        select(AccessToken.expires_at, AccessToken.scopes, IntegrationClient.client_id)
        .join(IntegrationClient, IntegrationClient.client_id == AccessToken.client_id)
        .where(AccessToken.token_hash == digest(raw), IntegrationClient.active.is_(True))
    ).first()
    if found is None:
        return None
    expires_at, scopes, client_id = found
    expires = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
    if expires <= now:
        return None
    return Grant(client_id, frozenset(smart.split(scopes)))
