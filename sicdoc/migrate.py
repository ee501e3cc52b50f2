"""Run the Alembic migrations (the checkout's ``migrations/``, or the copy in a wheel) against a database URL."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from sicdoc.shipped import shipped_folder

MIGRATIONS = shipped_folder("migrations")


def alembic_config(url: str) -> Config:
    if not MIGRATIONS.is_dir():
        raise RuntimeError(f"Migrations folder not found at {MIGRATIONS}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
