"""``sicdoc users`` and ``sicdoc clients``: the people and integration clients who may use sicdoc."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sicdoc.cli import _app, _session, main
from sicdoc.security.roles import ROLES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sicdoc.services.practitioners import Profile


@main.group()
def users() -> None:
    """People: clinician, qi_analyst or admin."""


def _profile_options(name_required: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--name, --credentials, --npi and --service: the person behind the account, as notes name them."""

    def add(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.option("--name", required=name_required, help='Full name, e.g. "Ada Okafor".'),
                click.option("--credentials", default="", help='e.g. "MD" or "RN, MSN".'),
                click.option("--npi", default="", help="National Provider Identifier (10 digits)."),
                click.option("--service", default="", help='Service or department, e.g. "Palliative care".'),
            ]
        ):
            command = option(command)
        return command

    return add


def _profile(name: str | None, credentials: str, npi: str, service: str) -> Profile | None:
    """The profile asked for, checked before anything is stored (None when none was given)."""
    from sicdoc.services.practitioners import Profile, check_profile

    if not (name or credentials or npi or service):
        return None
    profile = Profile(name or "", credentials, npi, service).cleaned()
    errors = check_profile(profile)
    if errors:
        raise click.ClickException(" ".join(errors.values()))
    return profile


def _save_profile(ctx: click.Context, session: Session, username: str, profile: Profile) -> str:
    from sicdoc.services.practitioners import save_profile
    from sicdoc.services.unit import system_unit

    return save_profile(system_unit(session, _app(ctx).extensions["sicdoc.store"]), username, profile)


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@_profile_options(name_required=False)
@click.pass_context
def users_create(
    ctx: click.Context,
    username: str,
    role: str,
    password_stdin: bool,
    name: str | None,
    credentials: str,
    npi: str,
    service: str,
) -> None:
    """Create a person (prompts for the password unless --password-stdin); --name and the options
    after it record the person behind the account, as their notes will name them."""
    from sicdoc.services import accounts

    profile = _profile(name, credentials, npi, service)
    if password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session(ctx) as session:
        accounts.create_user(session, username, password, role)
        shown = _save_profile(ctx, session, username, profile) if profile else None
    click.echo(f"created {username} ({role})" + (f"; notes name them {shown}" if shown else ""))


users.add_command(users_create, "add")


@users.command("set-name")
@click.argument("username")
@_profile_options(name_required=True)
@click.pass_context
def users_set_name(
    ctx: click.Context, username: str, name: str, credentials: str, npi: str, service: str
) -> None:
    """Record the person behind an account: name, credentials, NPI and service (as notes name them)."""
    profile = _profile(name, credentials, npi, service)
    assert profile is not None  # --name is required
    with _session(ctx) as session:
        shown = _save_profile(ctx, session, username, profile)
    click.echo(f"{username}: notes name them {shown}")


@users.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx: click.Context, username: str) -> None:
    """Let a disabled or locked-out person log in again."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        accounts.enable_user(session, username)
    click.echo(f"{username} may log in again")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx: click.Context, username: str) -> None:
    """Disable a person and end their sessions."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        accounts.disable_user(session, username)
    click.echo(f"disabled {username}; their sessions are ended")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
def users_set_role(ctx: click.Context, username: str, role: str) -> None:
    """Change a person's role and end their sessions."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        accounts.set_role(session, username, role)
    click.echo(f"{username} is now {role}; their sessions are ended")


@users.command("unlock")
@click.argument("username")
@click.pass_context
def users_unlock(ctx: click.Context, username: str) -> None:
    """Lift a lock-out after repeated wrong passwords."""
    from sicdoc.services import accounts

    with _session(ctx) as session:
        accounts.unlock_user(session, username)
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
        result = accounts.create_client(session, name, scopes, jwks=jwks, with_secret=secret)
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
        accounts.revoke_client(session, client_id)
    click.echo(f"revoked {client_id}")
