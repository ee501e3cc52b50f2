"""``sicdoc users`` and ``sicdoc clients``: the people and integration clients who may use sicdoc."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sicdoc.cli import _run, _session, main


@main.group()
def users() -> None:
    """People: clinician, qi_analyst or admin."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["clinician", "qi_analyst", "admin"]))
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.pass_context
def users_create(ctx: click.Context, username: str, role: str, password_stdin: bool) -> None:
    """Create a person (prompts for the password unless --password-stdin)."""
    from sicdoc.services import accounts

    if password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session(ctx) as session:
        _run(lambda: accounts.create_user(session, username, password, role))
    click.echo(f"created {username} ({role})")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx: click.Context, username: str) -> None:
    """Disable a person and end their sessions."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.disable_user(session, username))
    click.echo(f"disabled {username}; their sessions are ended")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(["clinician", "qi_analyst", "admin"]))
@click.pass_context
def users_set_role(ctx: click.Context, username: str, role: str) -> None:
    """Change a person's role and end their sessions."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.set_role(session, username, role))
    click.echo(f"{username} is now {role}; their sessions are ended")


@users.command("unlock")
@click.argument("username")
@click.pass_context
def users_unlock(ctx: click.Context, username: str) -> None:
    """Lift a lock-out after repeated wrong passwords."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.unlock_user(session, username))
    click.echo(f"{username} is unlocked")


@main.group()
def clients() -> None:
    """Integration clients (OAuth 2.0 client credentials with SMART system scopes)."""


@clients.command("create")
@click.argument("name")
@click.option("--scopes", required=True, help='Space-separated, e.g. "system/*.read system/Patient.write".')
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--secret", is_flag=True, help="Issue a client secret instead of (or besides) a JWK set.")
@click.pass_context
def clients_create(ctx: click.Context, name: str, scopes: str, jwks_file: Path | None, secret: bool) -> None:
    """Register a client; prints its client_id (and its secret, this once)."""
    from sicdoc.services import accounts

    jwks = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.ClickException(f"{jwks_file} is not JSON: {exc}") from None
    with _session(ctx) as session:
        result = _run(lambda: accounts.create_client(session, name, scopes, jwks=jwks, with_secret=secret))
    client_id, client_secret = result
    click.echo(f"client_id: {client_id}")
    if client_secret:
        click.echo(f"client_secret: {client_secret}")
        click.echo("(the secret is shown only now; sicdoc keeps only its hash)", err=True)


@clients.command("revoke")
@click.argument("client_id")
@click.pass_context
def clients_revoke(ctx: click.Context, client_id: str) -> None:
    """Revoke a client: no new tokens, and its current tokens stop working."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        _run(lambda: accounts.revoke_client(session, client_id))
    click.echo(f"revoked {client_id}")
