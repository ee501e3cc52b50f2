"""Programme phases and chart periods: which phase each month or quarter falls in, and what to say
when a phase start lies outside the periods shown.

A dashboard definition may name phase start dates (for example the start of a QI programme). A
period belongs to the latest phase that started on or before the period's first day, so a phase
starting part-way through a month (or quarter) begins with the next whole one. Periods before the
first start are the "baseline". Control charts compute their centre line, limits and rules within
each phase (``spc.p_chart``/``spc.xmr`` with a phase per point).

Periods are "YYYY-MM" for months and "YYYY-Qn" for calendar quarters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

BASELINE = "baseline"
GROUPINGS = ("month", "quarter")


@dataclass(frozen=True)
class Phase:
    start: date
    label: str


def quarter_of(month: str) -> str:
    """ "2025-05" -> "2025-Q2"."""
    year, mon = month.split("-")
    return f"{year}-Q{(int(mon) - 1) // 3 + 1}"


def quarter_months(quarter: str) -> tuple[str, str, str]:
    """ "2025-Q2" -> ("2025-04", "2025-05", "2025-06")."""
    year, q = quarter.split("-Q")
    first = (int(q) - 1) * 3 + 1
    return tuple(f"{year}-{m:02d}" for m in range(first, first + 3))  # type: ignore[return-value]


def period_start(period: str) -> date:
    """The first day of a "YYYY-MM" month or a "YYYY-Qn" quarter."""
    if "-Q" in period:
        period = quarter_months(period)[0]
    return date.fromisoformat(period + "-01")


def period_end(period: str) -> date:
    """The last day of a month or quarter."""
    last = quarter_months(period)[2] if "-Q" in period else period
    return (pd.Timestamp(last + "-01") + pd.offsets.MonthEnd(0)).date()


def shift_quarter(quarter: str, quarters: int) -> str:
    """The quarter ``quarters`` quarters later (earlier when negative)."""
    year, q = quarter.split("-Q")
    index = int(year) * 4 + int(q) - 1 + quarters
    return f"{index // 4}-Q{index % 4 + 1}"


def all_periods(first: str, last: str) -> list[str]:
    """Every month (or quarter) from ``first`` to ``last``, both included."""
    out, current = [], first
    step = (lambda p: shift_quarter(p, 1)) if "-Q" in first else _next_month
    while current <= last:
        out.append(current)
        current = step(current)
    return out


def _next_month(month: str) -> str:
    year, mon = (int(x) for x in month.split("-"))
    return f"{year + mon // 12}-{mon % 12 + 1:02d}"


def phase_of(periods: Sequence[str], phases: Sequence[Phase]) -> list[str]:
    """The label of the phase each period belongs to (``BASELINE`` before the first start)."""
    out = []
    for period in periods:
        first_day = period_start(period)
        label = BASELINE
        for phase in phases:
            if phase.start <= first_day:
                label = phase.label
        out.append(label)
    return out


def phase_ids(periods: Sequence[str], phases: Sequence[Phase]) -> list[int]:
    """The phase number of each period: 0 for the baseline, i for the i-th phase."""
    out = []
    for period in periods:
        first_day = period_start(period)
        out.append(sum(1 for phase in phases if phase.start <= first_day))
    return out


def phase_notes(phases: Sequence[Phase], periods: Sequence[str], unit: str = "month") -> list[str]:
    """A sentence for every phase whose start lies outside the periods shown (none shown: none)."""
    periods = [str(p) for p in periods]
    if not periods:
        return []
    first, last = min(periods), max(periods)
    notes = []
    for phase in phases:
        if phase.start > period_end(last):
            notes.append(
                f"phase '{phase.label}' starts {phase.start.isoformat()}, after the last {unit} shown "
                f"({last}): the chart has no points in it"
            )
        elif phase.start <= period_start(first) and phase is not _latest_before(phases, first):
            continue  # an earlier phase replaced by a later one before the chart starts
        elif phase.start < period_start(first):
            notes.append(
                f"phase '{phase.label}' starts {phase.start.isoformat()}, before the first {unit} shown "
                f"({first}): every point before the next phase is in it"
            )
    return notes


def _latest_before(phases: Sequence[Phase], first: str) -> Phase | None:
    started = [p for p in phases if p.start <= period_start(first)]
    return started[-1] if started else None


def missing_periods(periods: Sequence[str]) -> list[str]:
    """The months (or quarters) between the first and last shown that have no row at all."""
    periods = [str(p) for p in periods]
    if not periods:
        return []
    present = set(periods)
    return [p for p in all_periods(min(periods), max(periods)) if p not in present]


def quarter_of_day(day: date) -> str:
    """The "YYYY-Qn" quarter a day falls in."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _period_key(table: pd.DataFrame) -> str:
    return "quarter" if "quarter" in table.columns else "month"


def chart_notes(rows: pd.DataFrame, phases: Sequence[Phase]) -> list[str]:
    """What one cohort's chart must say in words: phases starting outside its periods, and the
    periods between its first and last with no data at all."""
    key = _period_key(rows)
    periods = [str(p) for p in rows[key]]
    notes = phase_notes(phases, periods, key)
    missing = missing_periods(periods)
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        notes.append(f"no data for {shown}: no point drawn")
    return notes


def panel_notes(
    table: pd.DataFrame, phases: Sequence[Phase], cohorts: Sequence[str], period_text: str
) -> list[str]:
    """The notes of a monthly or interval panel, cohort by cohort (``period_text`` names the period
    asked, for a cohort with no data in it)."""
    notes = []
    for cohort in cohorts:
        rows = table[table["cohort"] == cohort] if not table.empty else table
        label = cohort.replace("_", " ")
        if rows.empty:
            notes.append(f"{label}: no data for {period_text} in this scope")
            continue
        notes.extend(f"{label}: {note}" for note in chart_notes(rows, phases))
    return notes
