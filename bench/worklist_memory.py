"""What serving the clinician worklist costs a web worker's memory: views by four threads at once.

    .venv/bin/python bench/worklist_memory.py                  # a million patients' worklist
    .venv/bin/python bench/worklist_memory.py --patients 100000 --runs 5

A web worker in shared mode holds the worklist table the analytics worker built (at a million
patients about 330,000 rows) and answers each view with one page of it. This builds that table from
generated people (bench/population.py: the worklist of a 100,000-patient block, repeated under new
patient ids up to ``--patients``), then in a fresh process per run lets four threads ask for
``--views`` pages between them, filtered as clinicians filter them (in hospital now, snoozed patients
hidden), through ``AnalyticsService.worklist``. It prints the medians of the process's resident set
before the views, its peak (VmHWM) and what it keeps after, and the time the views took, once with
glibc's default malloc arenas and once with the two that ``sicdoc serve`` allows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import status_mib

ROOT = Path(__file__).resolve().parent.parent
BLOCK = 100_000
AS_OF = date(2026, 6, 30)  # the sample generator's cut-off
THREADS = 4


def own_mib(field: str) -> float:
    value = status_mib(os.getpid(), field)
    assert value is not None
    return value


def worklist_table(patients: int) -> Any:
    import pandas as pd

    from bench.population import as_frames, frames_from_rows, plan_rows
    from sicdoc.analytics.worklist import worklist

    block = worklist(as_frames(frames_from_rows(plan_rows(min(BLOCK, patients)))), as_of=AS_OF)
    copies = max(1, patients // BLOCK)
    parts = []
    for k in range(copies):
        part = block.copy()
        part["patient_id"] = part["patient_id"].astype(str) + f"-{k}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def child(patients: int, views: int, arenas: str) -> None:
    """One run, in a process of its own (the arena limit and the peak are per process)."""
    from sqlalchemy import create_engine

    from sicdoc.allocator import cap_malloc_arenas
    from sicdoc.analytics.scope import parse_scope
    from sicdoc.analytics.served_worklist import Worklist
    from sicdoc.dashboards import worklists
    from sicdoc.dashboards.service import AnalyticsService

    if arenas == "two":
        assert cap_malloc_arenas(2)
    table = worklist_table(patients)
    ids = table["patient_id"].tolist()
    held = Worklist.of(table)
    del table
    analytics = AnalyticsService(create_engine("sqlite://"), {}, "bench")
    # The table as a web worker holds it, and names from nowhere: what is measured is the paging.
    analytics._worklist_table = lambda scope: held  # type: ignore[method-assign]
    worklists.patient_labels = lambda conn, ids, system: {}  # type: ignore[assignment]
    scope = parse_scope({"as_of": AS_OF.isoformat()}, today=AS_OF)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # the peak from here on, not the table's building
    before = own_mib("VmRSS")

    def work(k: int) -> None:
        for i in range(views // THREADS):
            hidden = {ids[(k * 7919 + i * 104729) % len(ids)]}
            analytics.worklist(scope, in_hospital=i % 2 == 0, hide=hidden, offset=50 * i, limit=50)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    rows = len(held)
    table_mib = float(held.rows.memory_usage(deep=True).sum() + held.ids.nbytes) / 2**20
    figures = {"rows": rows, "table_mib": table_mib, "before": before, "seconds": seconds}
    print(json.dumps(figures | {"peak": own_mib("VmHWM"), "after": own_mib("VmRSS")}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--views", type=int, default=80)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=("default", "two"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.patients, args.views, args.child)
        return
    command = [sys.executable, __file__, "--patients", str(args.patients), "--views", str(args.views)]
    print(
        f"{args.patients:,} patients' worklist, {args.views} views on {THREADS} threads, medians of {args.runs}"
    )
    for arenas, label in (("default", "glibc's default arenas"), ("two", "two arenas, as sicdoc serve")):
        runs = [
            json.loads(
                subprocess.run(
                    [*command, "--child", arenas], check=True, capture_output=True, text=True
                ).stdout
            )
            for _ in range(args.runs)
        ]

        def median(key: str, runs: list[dict] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        first = runs[0]
        print(
            f"  {label:<30} table {first['rows']:,} rows, {first['table_mib']:.0f} MiB; RSS before the views "
            f"{median('before'):.0f} MiB, peak {median('peak'):.0f} (+{median('peak') - median('before'):.0f}), "
            f"after {median('after'):.0f} MiB; views {median('seconds'):.2f} s"
        )


if __name__ == "__main__":
    main()
