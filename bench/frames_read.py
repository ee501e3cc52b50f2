"""Reading a loaded store into analytics frames: wall time and the reading process's peak memory.

    .venv/bin/python bench/frames_read.py --store sqlite:///DIR/sicdoc-1000000-seed11.sqlite3 --runs 3

What the analytics worker does as it starts, and again whenever its frames pass their age limit: every
projection row read and normalised (``load_frames(...).normalised()``), then cut as of a day
(``Frames.observed``, as every dashboard does). Each run is a process of its own, so its peak RSS
(VmHWM) is one read's; prints each run and the medians. The store is one ``bench/scale.py --keep``
left, or any sicdoc database.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

AS_OF = date(2026, 6, 30)  # the sample generator's cut-off


def one_read(url: str) -> dict[str, float]:
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
    return {
        "rows": float(sum(len(getattr(frames, name)) for name in TABLES)),
        "read_s": read,
        "cut_s": cut,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="database URL of a loaded store")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a run's own process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_read(args.store)))
        return
    runs = []
    for n in range(args.runs):
        out = subprocess.run(
            [sys.executable, __file__, "--store", args.store, "--one"],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout))
        r = runs[-1]
        print(
            f"run {n + 1}: {r['rows']:,.0f} rows read and normalised in {r['read_s']:.1f} s, "
            f"cut in {r['cut_s']:.2f} s, peak RSS {r['peak_mib']:,.0f} MiB",
            flush=True,
        )
    med = {key: statistics.median(r[key] for r in runs) for key in ("read_s", "cut_s", "peak_mib")}
    print(
        f"median of {len(runs)}: read {med['read_s']:.1f} s, cut {med['cut_s']:.2f} s, "
        f"peak RSS {med['peak_mib']:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
