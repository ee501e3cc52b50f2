"""People, sessions and integration clients: each use case is one transaction with its audit record."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sicdoc.errors import Conflict, InvalidInput, NotFound, Unauthorized
from sicdoc.fhir.dates import as_utc, utc_now
from sicdoc.models import IntegrationClient, User
from sicdoc.security import audit, sessions, tokens
from sicdoc.security import scopes as smart
from sicdoc.security.audit import Actor
from sicdoc.security.opaque import digest, new_secret
from sicdoc.security.passwords import check_password, hash_password, needs_rehash, rehash, verify_password
from sicdoc.security.roles import ROLES
from sicdoc.services import transaction

# Recently viewed patients kept per login session.
RECENT_MAX = 8


class LoginFailed(Unauthorized):
    """Wrong password, unknown or disabled user: one message for all, so nothing leaks."""

    def __init__(self, message: str = "Wrong username or password, or the account is disabled.") -> None:
        super().__init__(message)


class AccountLocked(LoginFailed):
    """Too many wrong passwords in a row: no log-in, not even with the right password, until ``until``."""

    def __init__(self, until: datetime):
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


@dataclass(frozen=True)
class Lockout:
    """Lock an account for ``period`` after ``failures`` wrong passwords in a row (0 turns it off)."""

    failures: int = 5
    period: timedelta = timedelta(minutes=15)


def _now() -> datetime:
    return utc_now()  # a seam: the tests move the clock here


def _new_password_hash(username: str, password: str) -> str:
    check_password(password, [username])  # WeakPassword is an InvalidInput
    return hash_password(password)


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
    password_hash = _new_password_hash(username, password)
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
    """A new password (checked against the rule); ends the person's sessions and any lock-out."""
    password_hash = _new_password_hash(username, password)
    with transaction(session):
        user = _user(session, username)
        user.password_hash = password_hash
        user.failed_logins, user.locked_until = 0, None
        sessions.end_all(session, user.id)
        audit.append(session, actor, "user-password", "success", detail=username)


def unlock_user(session: Session, username: str, actor: Actor = audit.SYSTEM) -> None:
    """Lift a lock-out after repeated wrong passwords (an administrator's action)."""
    with transaction(session):
        user = _user(session, username)
        user.failed_logins, user.locked_until = 0, None
        audit.append(session, actor, "user-unlock", "success", detail=username)


def enable_user(session: Session, username: str, actor: Actor = audit.SYSTEM) -> None:
    """Let a disabled or locked-out person log in again (their old sessions stay ended)."""
    with transaction(session):
        user = _user(session, username)
        user.active = True
        user.failed_logins, user.locked_until = 0, None
        audit.append(session, actor, "user-enable", "success", detail=username)


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


def login(
    session: Session, username: str, password: str, actor: Actor, lockout: Lockout | None = None
) -> tuple[User, str]:
    """Check the password and open a session; return the user and the raw session id for the cookie.

    Raises LoginFailed (one answer for an unknown user, a wrong password and a disabled account) or
    AccountLocked once ``lockout.failures`` wrong passwords in a row have locked the account: then
    even the right password is refused until the lock ends. A successful log-in resets the count.
    """
    lockout = lockout or Lockout()
    now = _now()
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else None, password)  # same work whatever follows
    if user is None:
        # What was typed is not a username we know: it may be a password typed in the wrong box.
        actor = Actor("(unknown user)", actor.role, actor.source_address, actor.request_id)
        audit.record(session, actor, "login", "failure", detail="unknown user")
        raise LoginFailed()
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        until = as_utc(user.locked_until)
        audit.record(session, actor, "login", "failure", detail="locked")
        raise AccountLocked(until)
    if not ok:
        locked = _count_failure(session, user.id, actor, now, lockout)
        if locked is not None:
            raise AccountLocked(locked)
        raise LoginFailed()
    if not user.active:
        audit.record(session, actor, "login", "failure", detail="disabled user")
        raise LoginFailed()
    with transaction(session):
        if needs_rehash(user.password_hash):
            user.password_hash = rehash(password)
        if user.failed_logins or user.locked_until is not None:
            user.failed_logins, user.locked_until = 0, None
        raw = sessions.start(session, user, now)
        who = Actor(user.username, user.role, actor.source_address, actor.request_id)
        audit.append(session, who, "login", "success")
    return user, raw


def _count_failure(
    session: Session, user_id: int, actor: Actor, now: datetime, lockout: Lockout
) -> datetime | None:
    """Count a wrong password atomically (workers and servers share the row); lock at the limit.

    Returns the end of the lock when this failure started one.
    """
    with transaction(session):
        count = session.execute(
            update(User)
            .where(User.id == user_id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        audit.append(session, actor, "login", "failure", detail="wrong password")
        if not lockout.failures or count < lockout.failures:
            return None
        until = now + lockout.period
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(failed_logins=0, locked_until=until)
            .execution_options(synchronize_session=False)
        )
        audit.append(
            session,
            actor,
            "lockout",
            "success",
            detail=f"{count} wrong passwords in a row; locked until {until.isoformat(timespec='seconds')}",
        )
    return until


def logout(session: Session, raw: str, actor: Actor) -> None:
    with transaction(session):
        sessions.end(session, raw)
        audit.append(session, actor, "logout", "success")


def current_user(
    session: Session, raw: str, lifetime: sessions.Lifetime, now: datetime | None = None
) -> User | None:
    """The person behind a session cookie, or None: read in the request's own transaction, and written
    (its last-seen time, or its end) in one of its own only when that is due."""
    now = now or _now()
    user, due = sessions.look_up(session, raw, now, lifetime)
    if not due:
        return user
    with transaction(session):
        return sessions.resolve(session, raw, now, lifetime)


def create_client(
    session: Session,
    name: str,
    scopes: str,
    jwks: dict[str, Any] | None = None,
    with_secret: bool = False,
    actor: Actor = audit.SYSTEM,
) -> tuple[str, str | None]:
    """Register an integration client; return its id and, if asked for, its secret (shown only once)."""
    name = " ".join(name.split())
    if not name or len(name) > 120 or not name.isprintable():
        raise InvalidInput("A client's name is 1 to 120 printable characters", expression="name")
    wanted = smart.split(scopes)
    if not wanted:
        raise InvalidInput("A client needs at least one scope", expression="scopes")
    for scope in wanted:
        try:
            smart.parse(scope)
        except smart.InvalidScope as exc:
            raise InvalidInput(str(exc), expression="scopes") from None
    if jwks is None and not with_secret:
        raise InvalidInput("Register a JWK set (private_key_jwt) or ask for a secret", expression="secret")
    if jwks is not None:
        try:
            jwks = tokens.public_jwks(jwks)
        except ValueError as exc:
            raise InvalidInput(f"JWK set: {exc}", expression="jwks") from None
    secret = new_secret() if with_secret else None
    client_id = secrets.token_hex(16)
    with transaction(session):
        session.add(
            IntegrationClient(
                client_id=client_id,
                name=name,
                scopes=" ".join(wanted),
                secret_hash=digest(secret) if secret else None,
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
        audit.record(session, actor, "token", "failure", detail=exc.reason)
        raise
    return issued


def bearer_grant(session: Session, raw: str) -> tokens.Grant | None:
    """The grant behind a bearer token, read in the transaction the request's own reads go on in."""
    return tokens.bearer(session, raw, _now())


def forget_session(session: Session, raw: str) -> None:
    """Revoke a session cookie presented at login (the id rotates; the old one must die)."""
    with transaction(session):
        sessions.end(session, raw)


def remember_patient(session: Session, raw_cookie: str, patient_id: str) -> None:
    """Note a patient this login viewed (server-side: the list ends with the session), inside the
    caller's writing transaction (a view's: its audit records' own, ``UnitOfWork.write_with_records``)."""
    sessions.remember_patient(session, raw_cookie, patient_id, RECENT_MAX)


def recent_patient_ids(session: Session, raw_cookie: str | None) -> list[str]:
    """The patients this login viewed, newest first (empty for no or an ended session)."""
    return sessions.recent_patients(session, raw_cookie) if raw_cookie else []
