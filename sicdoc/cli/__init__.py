"""The ``sicdoc`` command line: the ``main`` group and what its commands share.

The commands live in modules named for what they act on (``serving``, ``people``, ``qi``, ``report``, ``audit``)
and attach themselves to ``main`` when imported at the end of this module.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import click
from flask import Flask
from sqlalchemy.exc import OperationalError

from sicdoc.errors import SicdocError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _app(ctx: click.Context) -> Flask:
    from sicdoc.app import create_app

    obj = ctx.ensure_object(dict)
    if "app" not in obj:
        try:
            obj["app"] = create_app(obj.get("overrides"))
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    return obj["app"]


class SicdocGroup(click.Group):
    """The command line's face of ``SicdocError``: one ``Error: ...`` line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SicdocError as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError as exc:
            # The server is not there, refused the work, or the schema is missing: what the database
            # said is the message (its first line; psycopg adds hints on the next).
            said = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
            raise click.ClickException(f"database: {said[0]}") from None


@click.group(cls=SicdocGroup)
@click.option("--database-url", envvar=None, help="Database URL (overrides SICDOC_DATABASE_URL).")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """sicdoc: serious illness conversations, FHIR R4 API and QI dashboards."""
    obj = ctx.ensure_object(dict)
    obj.setdefault("overrides", {})
    if database_url:
        obj["overrides"]["DATABASE_URL"] = database_url


def _session(ctx: click.Context) -> AbstractContextManager[Session]:
    from sicdoc.db import session_scope

    return session_scope(_app(ctx))


@main.group()
def sample() -> None:
    """Synthetic sample populations."""


def _register_sample_commands() -> None:
    from sicdoc.sample.command import generate_command

    sample.add_command(generate_command)


_register_sample_commands()


# Imported for their side effect: each module attaches its commands to ``main``.
from sicdoc.cli import analytics, audit, people, qi, report, serving  # noqa: E402

__all__ = ["analytics", "audit", "main", "people", "qi", "report", "serving"]
