"""``sicdoc sample generate``: write a synthetic population as FHIR transaction Bundles."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click
from tqdm import tqdm

from sicdoc.sample.writer import FORMATS, Format, check_arguments, generate

# Below this many patients a progress bar is noise.
PROGRESS_FROM = 10_000


@click.command("generate")
@click.option("--patients", "patients", type=click.IntRange(min=1), required=True, help="Number of patients.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Random seed.")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="New or empty directory to write into.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="bundles",
    show_default=True,
    help="bundles: one JSON file per patient; ndjson: one Bundle per line.",
)
def generate_command(patients: int, seed: int, out: Path, fmt: str) -> None:
    """Generate a deterministic synthetic population (same arguments, same bytes)."""
    try:
        check_arguments(patients, seed, out, fmt)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    show = patients >= PROGRESS_FROM and sys.stderr.isatty()
    with tqdm(total=patients, unit="patient", disable=not show, file=sys.stderr) as bar:
        report = generate(patients, seed, out, cast(Format, fmt), progress=bar.update)
    click.echo(report.summary())
