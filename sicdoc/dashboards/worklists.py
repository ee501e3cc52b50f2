"""The clinician worklist as the analytics service serves it: a page of the table, with names and
MRNs, and the table brought up to date after a write.

The table itself (``sicdoc.analytics.worklist.scoped``) is computed by the analytics worker or the
service; nothing here is stale, as clinicians act on it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import Scope
from sicdoc.analytics.served_worklist import Worklist
from sicdoc.analytics.worklist import WORKLIST_TABLES, plain, scoped
from sicdoc.codes import MRN_SYSTEM
from sicdoc.dashboards.calls import Call
from sicdoc.dashboards.shared import SharedResults
from sicdoc.store.changes import changed_patients
from sicdoc.store.frames import patient_labels, patient_tables


def call(scope: Scope) -> Call:
    """What the analytics worker is asked for: the worklist of ``scope``, kept with its ids apart
    (``Worklist``), named apart from the single DataFrame servers of earlier versions ask for."""
    return Call("worklist", (scope, True), (scope.key(), "ids apart"))


def page_of(
    engine: Engine,
    table: Worklist,
    *,
    in_hospital: bool,
    only: Collection[str] | None,
    hide: Collection[str],
    offset: int,
    limit: int,
) -> tuple[pd.DataFrame, int]:
    """One page of ``table`` with each patient's current name and MRN, and how many match in all."""
    # Positions, not a filtered copy: at a hospital's size the table is tens of megabytes, and a
    # copy per view (four at once per worker) is what a worker's memory peak would be made of.
    keep = np.ones(len(table), dtype=bool)
    if in_hospital:
        keep &= table.rows["in_hospital"].to_numpy(dtype=bool)
    if only is not None:
        keep &= table.holds(set(only))
    if hide:
        keep &= ~table.holds(set(hide))
    matching = np.flatnonzero(keep)
    top = plain(table.table(matching[offset : offset + limit]))
    with engine.connect() as conn:
        labels = patient_labels(conn, top["patient_id"], MRN_SYSTEM)
    top["name"] = [labels.get(p, {}).get("name", "(not stored)") for p in top["patient_id"]]
    top["mrn"] = [labels.get(p, {}).get("mrn") for p in top["patient_id"]]
    return top, len(matching)


def updated(engine: Engine, table: Worklist, old_version: str, version: str, scope: Scope) -> Worklist | None:
    """The worklist ``table`` of ``old_version`` brought up to ``version`` by computing again the
    patients written since, from their own rows; None when they cannot be told cheaply."""
    with engine.connect() as conn:
        patients = changed_patients(conn, old_version, version)
        if patients is None:
            return None
        fresh = scoped(Frames.of(patient_tables(conn, patients, WORKLIST_TABLES)), scope)
    return table.patched(fresh, patients)


def from_shared(engine: Engine, shared: SharedResults, scope: Scope, probe: Callable[[], str]) -> Worklist:
    """The worklist of ``scope`` for the data as ``probe`` finds it, in a web process of shared mode.

    A write's patients are put in place here, in the table this process last served or the last one
    the analytics worker stored: a clinician's worklist after a write waits neither for the worker's
    poll nor for a dashboard it is building (seconds at a hospital's size), and stays exactly current.
    """
    asked = call(scope)
    version = probe()
    # This process's table first; when too much was written since it, the worker's last one.
    for kept in (True, False):
        held = shared.held(asked, version, kept=kept)
        if held is None:
            break
        if held.version != version:
            version = probe()  # the stored table may be of a write made since the probe
        if held.version == version:
            return held.value
        current = updated(engine, held.value, held.version, version, scope)
        if current is not None:
            shared.keep(asked, version, current, held)
            return current
        if not held.kept:
            break
        held = None  # let go before the stored one is read: two of a hospital's worklist at once set the peak
    return shared.result(asked, version, probe)[0]
