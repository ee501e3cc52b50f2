"""Alembic environment: needs only the models' metadata and a database URL (no app is built).

The URL comes from the caller (``sicdoc migrate`` passes it), else ``SICDOC_DATABASE_URL``, else
``sqlalchemy.url`` in the Alembic configuration.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

from sicdoc.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = (
        config.attributes.get("url")
        or os.environ.get("SICDOC_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit("Set SICDOC_DATABASE_URL (or run `sicdoc migrate`) to say which database to migrate")
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
