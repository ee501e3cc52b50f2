"""People, their server-side sessions, integration clients and the OAuth state the token endpoint keeps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sicdoc.models.base import Base
from sicdoc.security.roles import ROLES

# SHA-256 hex digests of random secrets: the secrets themselves are never stored.
DIGEST = String(64)


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Wrong passwords in a row (reset by a good one); past the configured number the account is
    # locked until ``locked_until``. Kept here so every worker and server sees the same count.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role"),)


class UserSession(Base):
    """A login. The cookie holds a random id; only its digest is stored, so a database leak is no login."""

    __tablename__ = "user_session"

    id_hash: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Patient ids this login viewed, newest first: server-side, so they end with the session.
    recent_patients: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (Index("ix_user_session_user", "user_id"),)


class IntegrationClient(Base):
    """An EHR integration: authenticates with a registered JWK set (or a secret) and holds pre-authorised scopes."""

    __tablename__ = "integration_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    scopes: Mapped[str] = mapped_column(Text)
    secret_hash: Mapped[str | None] = mapped_column(String(255))
    jwks: Mapped[dict[str, Any] | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UsedJti(Base):
    """Client assertion ids already seen; the unique key refuses a replay even under a race."""

    __tablename__ = "used_jti"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("integration_client.client_id"))
    jti: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("client_id", "jti"),)


class AccessToken(Base):
    __tablename__ = "access_token"

    token_hash: Mapped[str] = mapped_column(DIGEST, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("integration_client.client_id"))
    scopes: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_access_token_client", "client_id"),)


class RateLimitCounter(Base):
    """One fixed-window rate-limit counter, shared by every worker and server on this database.

    Updated with a single atomic upsert per hit (``sicdoc.security.ratelimits``); ``window_end`` is in
    milliseconds since the Unix epoch.
    """

    __tablename__ = "rate_limit_counter"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    window_end: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_rate_limit_counter_window_end", "window_end"),)
