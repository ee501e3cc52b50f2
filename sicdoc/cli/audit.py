"""``sicdoc audit checkpoint`` and ``sicdoc audit verify``: anchor the audit chain outside the database, check it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sicdoc.cli import _session, main

if TYPE_CHECKING:
    from sicdoc.security.chain import Checkpoint


@main.group("audit")
def audit_group() -> None:
    """The append-only audit log: anchor it with checkpoints, verify it."""


@audit_group.command("checkpoint")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the line to this file, quietly (default: print it, for a log shipper).",
)
@click.pass_context
def checkpoint_command(ctx: click.Context, out: Path | None) -> None:
    """Write the chain's head (seq, hash, times) as one JSON line, to keep where the DBA cannot edit it."""
    from sicdoc.security import chain

    with _session(ctx) as session:
        line = chain.checkpoint(session).line()
    if out is None:
        click.echo(line)
        return
    try:
        with out.open("a", encoding="utf-8") as sink:
            sink.write(line + "\n")
            sink.flush()
            os.fsync(sink.fileno())
    except OSError as exc:
        raise click.ClickException(f"cannot append to {out}: {exc.strerror}") from None


def _read_checkpoints(path: Path) -> list[Checkpoint]:
    from sicdoc.security.chain import Checkpoint

    points = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            points.append(Checkpoint.parse(line))
        except ValueError as exc:
            raise click.ClickException(f"{path} line {number}: {exc}") from None
    if not points:
        raise click.ClickException(f"{path} holds no checkpoint")
    return points


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of checkpoint lines: each must match the log, and the log must reach the latest.",
)
@click.pass_context
def verify_command(ctx: click.Context, checkpoint_file: Path | None) -> None:
    """Walk the keyed chain; exit 1 with one line naming what broke (an altered, missing or cut-off record)."""
    from sicdoc.security import chain

    points = _read_checkpoints(checkpoint_file) if checkpoint_file else []
    with _session(ctx) as session:
        verdict = chain.verify(session, points)
    if not verdict.intact:
        click.echo(f"audit log {verdict.problem}", err=True)
        sys.exit(1)
    summary = f"audit log intact: {verdict.head_seq} record{'' if verdict.head_seq == 1 else 's'}"
    if verdict.unkeyed_through:
        summary += f" (seq 1-{verdict.unkeyed_through} written before the audit key)"
    if points:
        latest = max(points, key=lambda p: p.seq)
        summary += f"; matches {len(points)} checkpoint(s), latest at seq {latest.seq} ({latest.written_at})"
    click.echo(summary)
