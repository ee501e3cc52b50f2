"""The ``sicdoc`` command line: the ``main`` group and what its commands share.

The commands live in modules named for what they act on (``serving``, ``people``, ``qi``, ``audit``)
and attach themselves to ``main`` when imported at the end of this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import Flask

from sicdoc.errors import SicdocError


def _app(ctx: click.Context) -> Flask:
    from sicdoc.app import create_app

    obj = ctx.ensure_object(dict)
    if "app" not in obj:
        try:
            obj["app"] = create_app(obj.get("overrides"))
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
    return obj["app"]


@click.group()
@click.option("--database-url", envvar=None, help="Database URL (overrides SICDOC_DATABASE_URL).")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """sicdoc: serious illness conversations, FHIR R4 API and QI dashboards."""
    obj = ctx.ensure_object(dict)
    obj.setdefault("overrides", {})
    if database_url:
        obj["overrides"]["DATABASE_URL"] = database_url


def _session(ctx: click.Context):  # type: ignore[no-untyped-def]
    from sicdoc.db import session_scope

    return session_scope(_app(ctx))


def _run(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except SicdocError as exc:
        raise click.ClickException(str(exc)) from None


@main.group()
def sample() -> None:
    """Synthetic sample populations."""


def _register_sample_commands() -> None:
    from sicdoc.sample.command import generate_command

    sample.add_command(generate_command)


_register_sample_commands()


# Imported for their side effect: each module attaches its commands to ``main``.
from sicdoc.cli import audit, people, qi, serving  # noqa: E402

__all__ = ["audit", "main", "people", "qi", "serving"]
