"""The reach panel (M5): penetration by month of admission for all admissions, each cohort, each site
and each unit, with the median (IQR) hours from admission and from referral to the first consult.

Rows: ``breakdown`` "cohort" (group "all" = every adult admission, then each cohort), "site" and
"unit" (groups of all admissions); ``month`` "YYYY-MM" or "period" (the whole period, the margin).

Suppression. Each group's months are one table whose margin is its period row (as the report's
months). Sites and units are first merged into "Other or unknown" when they have 1-10 admissions
in the period; their cells of each month (and of the period) are then a second table whose margin
is the "all" row of that month, which is shown on this panel and in the report exactly as the
report shows it. Protection runs over both directions in turn until neither hides anything more; when
it would hide an "all" cell, every cell of that month's groups is hidden instead, so the "all" row
never differs from the report. Consulted patients are summed over groups and months as if each
patient were in one group and month (the margin can be smaller: a patient consulted in two units is
one patient), which only errs towards hiding more. Hours are shown only when they rest on 11 or more
admissions; their ``n`` only on a cohort's period row, as in the report (by month or unit it could be
worked out by subtraction).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import pairwise

import numpy as np
import pandas as pd

from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.reach import (
    ALL,
    HOUR_MEASURES,
    HOURS_KEYS,
    PERIOD_ROW,
    hours_summary,
)
from sicdoc.analytics.suppression import (
    is_small,
    merge_small_groups,
    protect,
    rate_shown,
    render,
    suppress_proportions,
)

MEASURES = ("admission_to_consult", "referral_to_consult")
REACH_COLUMNS = (
    "cohort",
    "breakdown",
    "group",
    "month",
    "consulted_patients",
    "admissions",
    "penetration",
    "complete",
    *(f"{m}_{k}_hours" if k != "n" else f"{m}_n" for m in MEASURES for k in HOURS_KEYS),
)
COUNT_COLUMNS = ("consulted_patients", "admissions", *(f"{m}_n" for m in MEASURES))
BREAKDOWNS = ("site", "unit")
MAX_ROUNDS = 50


def _group_rows(counts: dict) -> pd.DataFrame:
    """One group's months and its period row, unsuppressed, indexed by month, from its
    ``reach_counts`` (the report's, so each cohort's figures are worked out once)."""
    months = counts["penetration_monthly"].set_index("month")
    period: dict[str, object] = {**counts["penetration"], "complete": bool(months["complete"].all())}
    for m in MEASURES:
        period |= {f"{m}_hours_{k}": v for k, v in counts[f"{m}_hours"].items()}
    months.loc[PERIOD_ROW] = pd.Series(period)
    return months


def _keys(group: Hashable, months: Iterable[str]) -> list[tuple[Hashable, str, str]]:
    return [(group, m, kind) for m in months for kind in ("num", "den", "rest")]


def _row_tables(group: Hashable, months: list[str]) -> list:
    body = [m for m in months if m != PERIOD_ROW]
    tables: list = [([(group, m, "num"), (group, m, "rest")], (group, m, "den")) for m in months]
    for kind in ("num", "den"):
        tables.append(([(group, m, kind) for m in body], (group, PERIOD_ROW, kind)))
    return tables


def _column_tables(groups: list[Hashable], month: str) -> list:
    tables: list = [([(g, month, "num"), (g, month, "rest")], (g, month, "den")) for g in groups]
    for kind in ("num", "den"):
        tables.append(([(g, month, kind) for g in groups], (ALL, month, kind)))
    return tables


def _protect_grid(
    values: dict, groups: list[Hashable], months: list[str], fixed_hidden: set, min_cell: int
) -> set:
    """Hidden keys of a groups x months grid whose margins are the ``ALL`` group's cells (their
    hidden state ``fixed_hidden`` is the report's) and each group's period row."""
    rests = {k for k in values if k[2] == "rest"}
    forced: set = set()
    hidden = {k for k, v in values.items() if is_small(v, min_cell)} | rests | fixed_hidden
    for _ in range(MAX_ROUNDS):
        before = set(hidden)
        for g in groups:
            keys = _keys(g, months)
            sub = {k: values[k] for k in keys}
            hidden |= protect(sub, _row_tables(g, months), implicit=hidden & set(keys), min_cell=min_cell)
        for m in months:
            keys = [k for g in groups for k in _keys(g, [m])] + [(ALL, m, kind) for kind in ("num", "den")]
            sub = {k: values[k] for k in keys}
            got = protect(sub, _column_tables(groups, m), implicit=hidden & set(keys), min_cell=min_cell)
            if any(k[0] == ALL and k not in fixed_hidden for k in got):
                forced |= {(g, m, kind) for g in groups for kind in ("num", "den") if values[(g, m, kind)]}
                got = {k for k in got if k[0] != ALL}
            hidden |= got | forced
        if hidden == before:
            break
    return {k for k in hidden if k[0] != ALL}


def _values(frames: dict[Hashable, pd.DataFrame]) -> dict[tuple[Hashable, str, str], int]:
    """(group, month, kind) -> count: "num" consulted patients, "den" admissions, "rest" the difference."""
    out = {}
    for g, frame in frames.items():
        nums = frame["consulted_patients"].astype(int).tolist()
        dens = frame["admissions"].astype(int).tolist()
        for m, num, den in zip(frame.index, nums, dens, strict=True):
            out[(g, m, "num")], out[(g, m, "den")], out[(g, m, "rest")] = num, den, den - num
    return out


def _shown_rows(
    raw: dict[Hashable, pd.DataFrame], hidden: set, min_cell: int, cohort: str, breakdown: str
) -> list[dict]:
    values = _values(raw)
    rests = {k for k in values if k[2] == "rest"}
    shown = render(values, hidden | rests, implicit=rests, min_cell=min_cell)
    rows = []
    for g, frame in raw.items():
        for m, row in frame.iterrows():
            num, den = shown[(g, m, "num")], shown[(g, m, "den")]
            visible = isinstance(num, int) and isinstance(den, int) and rate_shown(num, den, min_cell)
            out = {
                "cohort": cohort,
                "breakdown": breakdown,
                "group": g,
                "month": m,
                "consulted_patients": num,
                "admissions": den,
                "penetration": row["rate"] if visible and den else None,
                "complete": bool(row["complete"]),
            }
            for measure in MEASURES:
                n = int(row[f"{measure}_hours_n"])
                small = is_small(n, min_cell)
                for k in ("median", "q1", "q3"):
                    value = row[f"{measure}_hours_{k}"]
                    out[f"{measure}_{k}_hours"] = None if small or pd.isna(value) else round(float(value), 2)
                # Counts of consulted admissions only where the report shows them (a cohort's whole
                # period): by month or by unit they could be differenced against it.
                whole = breakdown == "cohort" and m == PERIOD_ROW
                out[f"{measure}_n"] = ("<11" if small else n) if whole else None
            rows.append(out)
    return rows


def _months_hidden(frame: pd.DataFrame, group: Hashable, min_cell: int) -> set:
    """Hidden keys of one group's months table with its period margin (the report's rule)."""
    table = frame[["consulted_patients", "admissions", "rate"]].rename(
        columns={"consulted_patients": "numerator", "admissions": "denominator"}
    )
    shown = suppress_proportions(
        table.astype({"numerator": int, "denominator": int}), total_row=PERIOD_ROW, min_cell=min_cell
    )
    hidden = set()
    for m, row in shown.iterrows():
        hidden |= {(group, m, "num")} if not isinstance(row["numerator"], int) else set()
        hidden |= {(group, m, "den")} if not isinstance(row["denominator"], int) else set()
    return hidden


def reach_panel_table(ctx: PanelContext) -> pd.DataFrame:
    """Penetration and hours to consult by month, per cohort (and all), site and unit (suppressed)."""
    rows: list[dict] = []
    everyone = ctx.reach(ALL)
    all_rows = _group_rows(ctx.reach_counts(ALL))
    all_hidden = _months_hidden(all_rows, ALL, ctx.min_cell)
    for cohort in [ALL, *ctx.scope.cohorts]:
        frame = all_rows if cohort == ALL else _group_rows(ctx.reach_counts(cohort))
        hidden = all_hidden if cohort == ALL else _months_hidden(frame, cohort, ctx.min_cell)
        rows += _shown_rows({cohort: frame}, hidden, ctx.min_cell, cohort, "cohort")
    for breakdown in BREAKDOWNS:
        rows += _breakdown_rows(ctx, everyone, breakdown, all_rows, all_hidden)
    out = pd.DataFrame(rows, columns=list(REACH_COLUMNS))
    # Counts stay whole numbers next to "<11" and None (pandas would make the column float).
    for column in COUNT_COLUMNS:
        out[column] = pd.Series([r[column] for r in rows], index=out.index, dtype=object)
    return out


def _breakdown_rows(
    ctx: PanelContext,
    everyone: pd.DataFrame,
    breakdown: str,
    all_rows: pd.DataFrame,
    all_hidden: set,
) -> list[dict]:
    if everyone.empty:
        return []
    codes, groups = breakdown_groups(everyone[breakdown], ctx.min_cell)
    raw = group_frames(everyone, codes, groups, all_rows)
    values = _values({**raw, ALL: all_rows})
    hidden = _protect_grid(values, groups, list(all_rows.index), all_hidden, ctx.min_cell)
    return _shown_rows(raw, hidden, ctx.min_cell, ALL, breakdown)


def breakdown_groups(column: pd.Series, min_cell: int) -> tuple[np.ndarray, list[Hashable]]:
    """Each admission's group by a site or unit ``column`` (a position in the labels returned,
    sorted as text): a missing place is "unknown", and places with 1..min_cell-1 admissions are
    merged (``merge_small_groups``; equal sizes in order of first appearance, as ``value_counts``)."""
    place, places = pd.factorize(column)
    # A missing place (-1) reads the last name, "unknown"; a place so named is the same group.
    names = np.array([*np.asarray(places, dtype=object), "unknown"], dtype=object)
    label_of_name, labels = pd.factorize(names)
    label = label_of_name[place]
    counts = np.bincount(label, minlength=len(labels))
    # Labels are numbered in order of first appearance, but for "unknown" (numbered last), which
    # is merged whenever anything is: equal sizes then go in the order ``value_counts`` gives them.
    present = np.flatnonzero(counts)
    texts = np.asarray(labels, dtype=object)
    sizes = (
        pd.Series(counts[present], index=pd.Index(texts[present], dtype=object))
        .sort_values(ascending=False, kind="stable")
        .to_frame("admissions")
    )
    merged = merge_small_groups(sizes, counts=("admissions",), size="admissions", min_cell=min_cell)
    # Places merged away go to the one new label (OTHER, or "<smallest>, other or unknown").
    new = [g for g in merged.index if g not in sizes.index]
    target = {name: (name if name in merged.index else new[0]) for name in sizes.index}
    groups = sorted(set(target.values()), key=str)
    position = {g: i for i, g in enumerate(groups)}
    group_of_label = np.full(len(texts), -1, dtype=np.int64)
    group_of_label[present] = [position[target[name]] for name in texts[present]]
    return group_of_label[label], groups


def group_frames(
    table: pd.DataFrame, codes: np.ndarray, groups: list[Hashable], all_rows: pd.DataFrame
) -> dict[Hashable, pd.DataFrame]:
    """Each group's rows as ``_group_rows`` gives them for the group's admissions alone, over the
    months of ``all_rows`` (a month without admissions of the group at 0) with their completeness.
    One pass over the table for all groups: a subset per group cost a copy of the table each."""
    months = [m for m in all_rows.index if m != PERIOD_ROW]
    size = len(groups) * len(months)
    month = pd.Index(months).get_indexer(table["month"])
    cell = np.where(month >= 0, codes * len(months) + month, -1)
    patient = table["patient_id"].to_numpy()
    if patient.dtype.kind != "i":  # ids, not yet the integer keys of normalised frames
        patient, _ = pd.factorize(table["patient_id"])
    consulted = table["consult_at"].notna().to_numpy() & (patient >= 0)
    span = max(int(patient.max()) + 1, 1)

    def patients(keys: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
        # Distinct (key, patient) pairs (hashed, not sorted), counted per key.
        return np.bincount(pd.unique(keys[rows] * span + patient[rows]) // span, minlength=n)

    dated = cell >= 0
    columns: dict[str, np.ndarray] = {
        "consulted_patients": _with_period(
            patients(cell, consulted & dated, size), patients(codes, consulted, len(groups))
        ),
        "admissions": _with_period(
            np.bincount(cell[dated], minlength=size), np.bincount(codes, minlength=len(groups))
        ),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["rate"] = np.where(
            columns["admissions"] > 0, columns["consulted_patients"] / columns["admissions"], np.nan
        )
    for measure in HOUR_MEASURES:
        hours = table[measure].reset_index(drop=True)
        timed = hours.notna().to_numpy()
        known = dated & timed
        stats = {k: np.full(size, np.nan) for k in ("q1", "median", "q3")}
        if known.any():
            # pandas' grouped quantile, as ``monthly_reach`` takes it month by month.
            quartiles = hours[known].groupby(cell[known]).quantile(np.array([0.25, 0.5, 0.75])).unstack()
            at = quartiles.index.to_numpy()
            for k, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
                stats[k][at] = quartiles[q].to_numpy()
        # Each group's timed admissions as one slice of them sorted by group.
        order = np.argsort(codes[timed], kind="stable")
        values = hours.to_numpy(dtype=float)[timed][order]
        bounds = np.searchsorted(codes[timed][order], np.arange(len(groups) + 1))
        period = [hours_summary(pd.Series(values[a:b])) for a, b in pairwise(bounds)]
        for k in ("median", "q1", "q3"):
            whole = np.array([np.nan if p[k] is None else p[k] for p in period], dtype=float)
            columns[f"{measure}_{k}"] = _with_period(stats[k], whole)
        columns[f"{measure}_n"] = _with_period(
            np.bincount(cell[known], minlength=size), np.array([p["n"] for p in period], dtype=np.int64)
        )
    index = pd.Index([*months, PERIOD_ROW])
    complete = all_rows["complete"].to_numpy()
    return {
        g: pd.DataFrame(
            {name: column[i] for name, column in columns.items()} | {"complete": complete}, index=index
        )
        for i, g in enumerate(groups)
    }


def _with_period(cells: np.ndarray, period: np.ndarray) -> np.ndarray:
    """groups x (months + the period): each group's month cells, then its period value."""
    return np.column_stack([cells.reshape(len(period), -1), period])
