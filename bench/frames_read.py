"""Reading a loaded store into analytics frames: wall time and the reading process's peak memory.

    .venv/bin/python bench/frames_read.py --store sqlite:///DIR/sicdoc-1000000-seed11.sqlite3 --runs 3
    .venv/bin/python bench/frames_read.py --store ... --runs 3 --after-write

What the analytics worker does as it starts, and again whenever its frames pass their age limit: every
projection row read and normalised (``load_frames(...).normalised()``), then cut as of a day
(``Frames.observed``, as every dashboard does). Each run is a process of its own, so its peak RSS
(VmHWM) is one read's; prints each run and the medians. The store is one ``bench/scale.py --keep``
left, or any sicdoc database.

``--after-write`` then does what the worker does after a write of a patient with a stroke (a Patient,
a Condition, an Encounter), both ways, each timed with the peak RSS of that step alone (the peak is
reset before it): as after a bulk load, those tables read whole again and the frames keyed again with
them (``Frames.replaced``); and as after a write of a few patients, that patient's rows read and put
in place of theirs (``Frames.patched``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import status_mib

AS_OF = date(2026, 6, 30)  # the sample generator's cut-off
# The projection tables a write of a patient with a stroke feeds.
WRITTEN = ("patients", "diagnoses", "encounters")


def one_read(url: str, after_write: bool) -> dict[str, float]:
    from sqlalchemy import create_engine

    from sicdoc.store.frames import TABLES, load_frames

    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        frames = load_frames(conn).normalised()
    read = time.perf_counter() - started
    started = time.perf_counter()
    frames.observed(AS_OF)
    cut = time.perf_counter() - started
    figures = {
        "rows": float(sum(len(getattr(frames, name)) for name in TABLES)),
        "read_s": read,
        "cut_s": cut,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if after_write:
        figures |= write_steps(engine, frames)
    return figures


def write_steps(engine: Any, frames: Any) -> dict[str, float]:
    try:
        from sicdoc.store.frames import load_normalised_tables as read
    except ImportError:  # the code of a store kept from before 2026-12-04 (night), for comparison
        from sicdoc.store.frames import load_tables as read
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on
    started = time.perf_counter()
    with engine.connect() as conn:
        frames.replaced(**read(conn, WRITTEN))
    figures = {
        "replace_s": time.perf_counter() - started,
        "replace_peak_mib": status_mib(os.getpid(), "VmHWM"),
    }
    if not hasattr(frames, "patched"):  # code from before 2026-12-04 (late)
        return figures
    from sicdoc.store.frames import patient_tables

    # The written patient's rows put in place of theirs (the patient with the most encounters, so
    # that every table it names has rows to replace).
    written = {str(frames.patient_ids(frames.encounters["patient_id"].mode().head(1)).iloc[0])}
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    with engine.connect() as conn:
        frames.patched(written, patient_tables(conn, written, WRITTEN))
    return figures | {
        "patch_s": time.perf_counter() - started,
        "patch_peak_mib": status_mib(os.getpid(), "VmHWM"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="database URL of a loaded store")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--after-write", action="store_true", help="also key the frames again after a write")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a run's own process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_read(args.store, args.after_write)))
        return
    runs = []
    for n in range(args.runs):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--store",
                args.store,
                "--one",
                *(["--after-write"] * args.after_write),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout))
        r = runs[-1]
        print(
            f"run {n + 1}: {r['rows']:,.0f} rows read and normalised in {r['read_s']:.1f} s, "
            f"cut in {r['cut_s']:.2f} s, peak RSS {r['peak_mib']:,.0f} MiB"
            + (
                f"; after a write, keyed again in {r['replace_s']:.1f} s, peak RSS {r['replace_peak_mib']:,.0f} MiB"
                if "replace_s" in r
                else ""
            )
            + (
                f"; put in place in {r['patch_s']:.2f} s, peak RSS {r['patch_peak_mib']:,.0f} MiB"
                if "patch_s" in r
                else ""
            ),
            flush=True,
        )
    keys = [key for key in runs[0] if key != "rows"]
    med = {key: statistics.median(r[key] for r in runs) for key in keys}
    print(
        f"median of {len(runs)}: read {med['read_s']:.1f} s, cut {med['cut_s']:.2f} s, "
        f"peak RSS {med['peak_mib']:,.0f} MiB"
        + (
            f"; after a write {med['replace_s']:.1f} s, peak RSS {med['replace_peak_mib']:,.0f} MiB"
            if "replace_s" in med
            else ""
        )
        + (
            f"; put in place {med['patch_s']:.2f} s, peak RSS {med['patch_peak_mib']:,.0f} MiB"
            if "patch_s" in med
            else ""
        )
    )


if __name__ == "__main__":
    main()
