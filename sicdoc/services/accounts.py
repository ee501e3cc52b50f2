"""People, sessions and integration clients: each use case is one transaction with its audit record."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sicdoc.errors import Conflict, InvalidInput, NotFound
from sicdoc.models import IntegrationClient, User
from sicdoc.models.security import ROLES
from sicdoc.security import audit, sessions, tokens
from sicdoc.security import scopes as smart
from sicdoc.security.audit import Actor
from sicdoc.security.passwords import hash_password, needs_rehash, rehash, verify_password
from sicdoc.services import transaction


class LoginFailed(Exception):
    """Wrong password, unknown or disabled user: one message for all, so nothing leaks."""


def _now() -> datetime:
    return datetime.now(UTC)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", code="value")


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named '{username}'")
    return user


def create_user(
    session: Session, username: str, password: str, role: str, actor: Actor = audit.SYSTEM
) -> User:
    _check_role(role)
    if not username or len(username) > 80 or not username.isprintable() or username.strip() != username:
        raise InvalidInput("A username is 1 to 80 printable characters without surrounding spaces")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    try:
        with transaction(session):
            user = User(
                username=username, password_hash=password_hash, role=role, active=True, created=_now()
            )
            session.add(user)
            session.flush()
            audit.append(session, actor, "user-create", "success", detail=f"{username} as {role}")
    except IntegrityError:
        raise Conflict(f"A user named '{username}' already exists") from None
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)).all())


def list_clients(session: Session) -> list[IntegrationClient]:
    return list(session.scalars(select(IntegrationClient).order_by(IntegrationClient.name)).all())


def set_password(session: Session, username: str, password: str, actor: Actor = audit.SYSTEM) -> None:
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    with transaction(session):
        user = _user(session, username)
        user.password_hash = password_hash
        sessions.end_all(session, user.id)
        audit.append(session, actor, "user-password", "success", detail=username)


def disable_user(session: Session, username: str, actor: Actor = audit.SYSTEM) -> None:
    """Disable a person and end every session they have."""
    with transaction(session):
        user = _user(session, username)
        user.active = False
        sessions.end_all(session, user.id)
        audit.append(session, actor, "user-disable", "success", detail=username)


def set_role(session: Session, username: str, role: str, actor: Actor = audit.SYSTEM) -> None:
    """Change a person's role; their sessions end, so the new role applies from the next login."""
    _check_role(role)
    with transaction(session):
        user = _user(session, username)
        old, user.role = user.role, role
        sessions.end_all(session, user.id)
        audit.append(session, actor, "user-role", "success", detail=f"{username}: {old} -> {role}")


def login(session: Session, username: str, password: str, actor: Actor) -> tuple[User, str]:
    """Check the password and open a session; return the user and the raw session id for the cookie."""
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        reason = "unknown user" if user is None else ("disabled user" if ok else "wrong password")
        if user is None:
            # What was typed is not a username we know: it may be a password typed in the wrong box.
            actor = Actor("(unknown user)", actor.role, actor.source_address, actor.request_id)
        audit.record(session, actor, "login", "failure", detail=reason)
        raise LoginFailed()
    with transaction(session):
        if needs_rehash(user.password_hash):
            user.password_hash = rehash(password)
        raw = sessions.start(session, user, _now())
        who = Actor(user.username, user.role, actor.source_address, actor.request_id)
        audit.append(session, who, "login", "success")
    return user, raw


def logout(session: Session, raw: str, actor: Actor) -> None:
    with transaction(session):
        sessions.end(session, raw)
        audit.append(session, actor, "logout", "success")


def current_user(
    session: Session, raw: str, lifetime: sessions.Lifetime, now: datetime | None = None
) -> User | None:
    """The person behind a session cookie (touching its last-seen time), or None."""
    with transaction(session):
        return sessions.resolve(session, raw, now or _now(), lifetime)


def create_client(
    session: Session,
    name: str,
    scopes: str,
    jwks: dict[str, Any] | None = None,
    with_secret: bool = False,
    actor: Actor = audit.SYSTEM,
) -> tuple[str, str | None]:
    """Register an integration client; return its id and, if asked for, its secret (shown only once)."""
    wanted = smart.split(scopes)
    if not wanted:
        raise InvalidInput("A client needs at least one scope")
    for scope in wanted:
        try:
            smart.parse(scope)
        except smart.ScopeError as exc:
            raise InvalidInput(str(exc)) from None
    if jwks is None and not with_secret:
        raise InvalidInput("Register a JWK set (private_key_jwt) or ask for a secret")
    if jwks is not None:
        try:
            jwks = tokens.public_jwks(jwks)
        except ValueError as exc:
            raise InvalidInput(f"JWK set: {exc}") from None
    secret = secrets.token_urlsafe(32) if with_secret else None
    client_id = secrets.token_hex(16)
    with transaction(session):
        session.add(
            IntegrationClient(
                client_id=client_id,
                name=name,
                scopes=" ".join(wanted),
                secret_hash=hash_password(secret) if secret else None,
                jwks=jwks,
                active=True,
                created=_now(),
            )
        )
        audit.append(
            session, actor, "client-create", "success", detail=f"{client_id} {name}: {' '.join(wanted)}"
        )
    return client_id, secret


def revoke_client(session: Session, client_id: str, actor: Actor = audit.SYSTEM) -> None:
    with transaction(session):
        client = session.get(IntegrationClient, client_id)
        if client is None:
            raise NotFound(f"No client '{client_id}'")
        client.active = False
        audit.append(session, actor, "client-revoke", "success", detail=client_id)


def issue_token(
    session: Session,
    authenticate: Callable[[Session, datetime], IntegrationClient],
    scope: str | None,
    actor: Actor,
    seconds: int = tokens.MAX_TOKEN_SECONDS,
) -> tokens.Issued:
    """Authenticate the client (``authenticate`` raises OAuthError) and issue a bearer token; failures are audited."""
    now = _now()
    try:
        with transaction(session):
            client = authenticate(session, now)
            issued = tokens.issue(session, client, scope, now, seconds)
            who = Actor(client.client_id, "client", actor.source_address, actor.request_id)
            audit.append(session, who, "token", "success", detail=issued.scope)
    except IntegrityError:
        session.rollback()
        audit.record(session, actor, "token", "failure", detail="replayed jti")
        raise tokens.invalid_client("This client assertion (jti) was already used") from None
    except tokens.OAuthError as exc:
        session.rollback()
        audit.record(session, actor, "token", "failure", detail=exc.description)
        raise
    return issued


def bearer_grant(session: Session, raw: str) -> tokens.Grant | None:
    grant = tokens.bearer(session, raw, _now())
    session.rollback()
    return grant


def forget_session(session: Session, raw: str) -> None:
    """Revoke a session cookie presented at login (the id rotates; the old one must die)."""
    with transaction(session):
        sessions.end(session, raw)
