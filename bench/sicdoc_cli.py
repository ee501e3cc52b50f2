"""The real ``sicdoc`` command from the benchmarks: its environment, and generated populations kept on disk.

A population is generated once per (patients, seed) with ``sicdoc sample generate --format ndjson`` (one
patient per bundle) into a cache folder and reused by later runs: a million patients take about half
an hour to generate and 11 GiB to keep.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SICDOC = Path(sys.executable).parent / "sicdoc"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sicdoc-bench"

# Outside test mode sicdoc wants these set; the values matter to nothing measured, and the audit key
# stays the same so that a database loaded once can be served and written to by later runs.
ENV = {
    "SICDOC_SECRET_KEY": "bench-" + "s" * 40,
    "SICDOC_AUDIT_KEY": "bench-" + "a" * 40,
    "SICDOC_BASE_URL": "https://sicdoc.example.org",
}


def environment(**more: str) -> dict[str, str]:
    """This process's environment with the benchmark settings (and ``more``) on top."""
    return {**os.environ, **ENV, **more}


def sicdoc(url: str, *args: str, stdin: str | None = None) -> str:
    """Run ``sicdoc --database-url URL ARGS...`` and return what it printed; its errors stop the run."""
    done = subprocess.run(
        [str(SICDOC), "--database-url", url, *args],
        env=environment(),
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"sicdoc {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def population(patients: int, seed: int, cache: Path = CACHE) -> Path:
    """The NDJSON folder of ``patients`` generated with ``seed``, generated now unless cached."""
    folder = cache / f"population-{patients}-seed{seed}"
    if folder.is_dir():
        return folder
    partial = cache / f".{folder.name}.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"generating {patients:,} patients (seed {seed}) into {folder}", flush=True)
    command = [str(SICDOC), "sample", "generate", "--patients", str(patients), "--seed", str(seed)]
    subprocess.run([*command, "--out", str(partial), "--format", "ndjson"], check=True)
    partial.rename(folder)  # only a whole population is ever found in the cache
    return folder
