"""Small-cell suppression (CMS cell-size policy): no count of 1-10 shown or derivable.

A count of 1-10 is shown as "<11" (0 may be shown). Complementary suppression: the tables (sets of
cells that sum to a total) are equations, and no small hidden count may be pinned down by them (an
exact rank test), nor may hidden cells next to a shown total add up to 1-10. While one can, the next
smallest non-zero cell of the leaking table is hidden too (or the total when no cell is left). Cells
hidden only to protect others are shown as "suppressed". Rates, proportions and medians resting on a
hidden count are None (callers use ``rate_shown``).

Some cells are "implicit": never displayed but derivable, e.g. denominator - numerator. They take
part in the protection as hidden cells and are dropped from the output. Suppression is the last step
after every filter, so a changed filter cannot reveal a difference.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

MIN_CELL = 11
SMALL = "<11"
COMPLEMENT = "suppressed"
OTHER = "Other or unknown"

# Cells are named by any hashable key (a report's metric names, a frame's (row, column) pairs).
K = TypeVar("K", bound=Hashable)
# A table is (cells, total): the cells add up to the total (None when there is no shown total).
Table = tuple[Sequence[K], K | None]


def is_small(n: int | None, min_cell: int = MIN_CELL) -> bool:
    """A count that may not be shown: 1 up to min_cell - 1."""
    return n is not None and 1 <= n < min_cell


def suppress_count(n: int | None, min_cell: int = MIN_CELL) -> int | str | None:
    """A single count for display: "<11" for 1-10, the number otherwise."""
    if n is None:
        return None
    return SMALL if is_small(n, min_cell) else int(n)


def _equations(hidden: list[K], tables: list[Table[K]]) -> np.ndarray | None:
    """One row per table with a shown total: its hidden cells minus its total if hidden (a total of
    shown cells is a known constant, which does not matter for what can be pinned down)."""
    col = {k: i for i, k in enumerate(hidden)}
    rows = []
    for cells, total in tables:
        if total is None:  # no shown total, no equation
            continue
        row = np.zeros(len(hidden))
        for k in cells:
            if k in col:
                row[col[k]] += 1.0
        if total in col:
            row[col[total]] -= 1.0
        if row.any():
            rows.append(row)
    return np.array(rows) if rows else None


def _derivable(key: K, hidden: list[K], tables: list[Table[K]]) -> bool:
    """Whether the tables' equations pin down one hidden value (rank test over the unknowns)."""
    a = _equations(hidden, tables)
    if a is None:
        return False
    probe = np.zeros(len(hidden))
    probe[hidden.index(key)] = 1.0
    return bool(np.linalg.matrix_rank(np.vstack([a, probe])) == np.linalg.matrix_rank(a))


def _derivable_keys(keys: list[K], hidden: list[K], tables: list[Table[K]]) -> set[K]:
    """The ``keys`` the tables' equations pin down, from one decomposition: a hidden value is pinned
    exactly when every solution of the homogeneous system leaves it at zero (its row of the null
    space basis is zero). The same answer as ``_derivable`` key by key, for many keys at once."""
    a = _equations(hidden, tables)
    if a is None:
        return set()
    _, singular, vt = np.linalg.svd(a)
    tol = singular.max(initial=0.0) * max(a.shape) * np.finfo(float).eps
    rank = int((singular > tol).sum())
    null = vt[rank:]  # rows span the null space
    where = {k: i for i, k in enumerate(hidden)}
    return {k for k in keys if not np.any(np.abs(null[:, where[k]]) > 1e-9)}


def _exposed(
    values: Mapping[K, int], tables: list[Table[K]], hidden: set[K], min_cell: int
) -> list[Table[K]]:
    """Tables through which a small count can be worked out (empty when the hidden set is safe)."""
    order = sorted(hidden, key=str)
    small = [k for k in order if is_small(values[k], min_cell)]
    leaks = (
        _derivable_keys(small, order, tables)
        if len(small) > 8
        else {k for k in small if _derivable(k, order, tables)}
    )
    out: list[Table[K]] = []
    for cells, total in tables:
        if total is None:
            continue
        hidden_cells = [k for k in cells if k in hidden]
        group_sum = sum(values[k] for k in hidden_cells)
        group = total not in hidden and len(hidden_cells) > 1 and 1 <= group_sum < min_cell
        if group or leaks & {*cells, total}:
            out.append((cells, total))
    return out


def protect(
    values: Mapping[K, int],
    tables: Iterable[Table[K]],
    *,
    implicit: Iterable[K] = (),
    min_cell: int = MIN_CELL,
) -> set[K]:
    """Keys to hide so that no count of 1..min_cell-1 is shown or derivable from the tables.

    Derivable means: pinned down by the tables' equations (checked exactly, by rank), or a group
    of hidden cells whose sum is 1..min_cell-1 next to a shown total.
    """
    tables = [(list(cells), total) for cells, total in tables]
    hidden = {k for k, v in values.items() if is_small(v, min_cell)} | set(implicit)
    while exposed := _exposed(values, tables, hidden, min_cell):
        # Hide one more key and re-check: the smallest shown non-zero cell of an exposed table with a
        # single unknown (the direct leak), else of any exposed table; else of a table sharing a hidden
        # cell with one (closing the rectangle of a two-way table); else an exposed table's total;
        # else anything next to a hidden key.
        single = {k for cells, t in exposed if len(hidden & {*cells, t}) == 1 for k in cells}
        exposed_cells = {k for cells, _ in exposed for k in cells}
        neighbours = {k for cells, _ in tables if hidden & exposed_cells & set(cells) for k in cells}
        totals = {t for _, t in exposed if t is not None}
        anywhere = {k for cells, t in tables if hidden & {*cells, t} for k in [*cells, t] if k is not None}
        for tier in (single, exposed_cells, neighbours, totals, anywhere):
            shown = sorted((values[k], str(k), k) for k in tier if k not in hidden and values[k] != 0)
            if shown:
                hidden.add(shown[0][2])
                break
        else:
            break
    return hidden


def protect_with(
    values: Mapping[K, int],
    tables: Iterable[Table[K]],
    hidden: Iterable[K],
    candidates: Iterable[K],
    *,
    min_cell: int = MIN_CELL,
) -> set[K]:
    """``hidden`` (keys another view already hides, and small ones) plus candidates hidden until no
    count of 1..min_cell-1 is derivable; only ``candidates`` are ever added (the other view's shown
    cells stay shown). Every candidate is hidden if that is still not enough.

    Each step hides the smallest candidate of every exposed table; when no exposed table has one,
    the smallest candidate sharing a table with a hidden cell that is not a candidate (closing a
    leak through a margin with its partner); else the smallest candidate left."""
    tables = [(list(cells), total) for cells, total in tables]
    hidden = set(hidden)
    pool = set(candidates)
    while exposed := _exposed(values, tables, hidden, min_cell):
        # One step closes every exposed table that has a candidate (the smallest of each).
        picks = set()
        for cells, t in exposed:
            own = sorted(
                (values[k], str(k), k)
                for k in [*cells, t]
                if k in pool and k not in hidden and values[k] != 0
            )
            if own:
                picks.add(own[0][2])
        if picks:
            hidden |= picks
            continue
        partners = {
            k for cells, t in tables if (hidden - pool) & {*cells, t} for k in [*cells, t] if k in pool
        }
        for tier in (partners, pool):
            shown = sorted((values[k], str(k), k) for k in tier if k not in hidden and values[k] != 0)
            if shown:
                hidden.add(shown[0][2])
                break
        else:
            return hidden | pool
    return hidden


def render(
    values: Mapping[K, int],
    hidden: set[K],
    *,
    implicit: Iterable[K] = (),
    min_cell: int = MIN_CELL,
) -> dict[K, int | str]:
    """Display values: "<11" for small hidden counts, "suppressed" for complements, else the count."""
    skip = set(implicit)
    out: dict[K, int | str] = {}
    for key, value in values.items():
        if key in skip:
            continue
        if key not in hidden:
            out[key] = int(value)
        else:
            out[key] = SMALL if is_small(value, min_cell) else COMPLEMENT
    return out


def rate_shown(numerator: int, denominator: int, min_cell: int = MIN_CELL) -> bool:
    """Whether a proportion may be shown: neither it, its denominator nor the rest is 1..min_cell-1."""
    return not (
        is_small(numerator, min_cell)
        or is_small(denominator, min_cell)
        or is_small(denominator - numerator, min_cell)
    )


def curve_shown(curve: Mapping[int, Mapping[str, Any]], min_cell: int = MIN_CELL) -> dict[int, bool]:
    """Which points of a ``cumulative_incidence`` curve may be shown, by day: a point with an
    estimate whose events, patients and rest of the patients pass ``rate_shown`` and whose events
    added since the last shown point are not 1..min_cell-1, so neither the counts nor their
    differences can be read back from the curve."""
    shown, last_events = {}, 0
    for day, point in curve.items():
        show = (
            point["estimate"] is not None
            and rate_shown(point["events"], point["n"], min_cell)
            and not is_small(point["events"] - last_events, min_cell)
        )
        if show:
            last_events = point["events"]
        shown[day] = show
    return shown


def suppress_table(
    df: pd.DataFrame,
    count_cols: Sequence[str],
    total_col: str | None = None,
    *,
    total_row: Hashable | None = None,
    hidden_cols: Sequence[str] = (),
    min_cell: int = MIN_CELL,
) -> pd.DataFrame:
    """Suppress a table of counts with margins.

    Each row's ``count_cols`` (plus ``hidden_cols``) add up to ``total_col``; with ``total_row`` (an
    index label) each column's other rows add up to that row. ``hidden_cols`` are implicit cells
    (e.g. denominator - numerator): protected against but dropped from the result. Other columns pass
    through. Counts become objects: int, "<11" or "suppressed".
    """
    cols = [*count_cols, *hidden_cols] + ([total_col] if total_col else [])
    values = {(r, c): int(df[c].iloc[i]) for i, r in enumerate(df.index) for c in cols}
    tables: list[Table[tuple[Hashable, str]]] = []
    body = [r for r in df.index if r != total_row]
    for r in df.index:
        if total_col:
            tables.append(([(r, c) for c in [*count_cols, *hidden_cols]], (r, total_col)))
    if total_row is not None:
        for c in cols:
            tables.append(([(r, c) for r in body], (total_row, c)))
    implicit = {(r, c) for r in df.index for c in hidden_cols}
    hidden = protect(values, tables, implicit=implicit, min_cell=min_cell)
    shown = render(values, hidden, implicit=implicit, min_cell=min_cell)
    out = df.drop(columns=list(hidden_cols)).astype({c: object for c in cols if c not in hidden_cols})
    for (r, c), v in shown.items():
        out.at[r, c] = v
    return out


def suppress_proportions(
    df: pd.DataFrame,
    numerator: str = "numerator",
    denominator: str = "denominator",
    rate: str = "rate",
    *,
    total_row: Hashable | None = None,
    min_cell: int = MIN_CELL,
) -> pd.DataFrame:
    """Suppress a table of numerator/denominator/rate rows; a rate on any hidden count is None."""
    work = df.copy()
    work["_rest"] = work[denominator] - work[numerator]
    out = suppress_table(
        work, [numerator], denominator, total_row=total_row, hidden_cols=["_rest"], min_cell=min_cell
    )
    if rate in out.columns:
        shown = [
            isinstance(n, int) and isinstance(d, int) and rate_shown(n, d, min_cell)
            for n, d in zip(out[numerator], out[denominator], strict=True)
        ]
        out[rate] = out[rate].astype(object).where(pd.Series(shown, index=out.index), None)
    return out


def merge_small_groups(
    table: pd.DataFrame,
    counts: Sequence[str] = ("numerator", "denominator"),
    size: str = "denominator",
    *,
    total_row: Hashable | None = None,
    unknown: Sequence[Hashable] = ("unknown",),
    min_cell: int = MIN_CELL,
) -> pd.DataFrame:
    """The ``counts`` columns of a grouped table with the groups whose ``size`` is 1..min_cell-1
    merged into one OTHER row (before any complementary suppression).

    The ``unknown`` rows join that row when there is anything to merge. When the merged row is
    still small it goes with the smallest remaining group (labelled "<group>, other or unknown"):
    shown on its own next to the other groups it could be worked out from the total, or from any
    other stratum of the same patients, and hiding it would cost a whole group as its complement.
    ``total_row`` (the margin) is kept as it is; derived columns (rates) are the caller's to redo.
    """
    table = table.loc[:, list(counts)].astype(int)
    body = table.drop(index=[total_row]) if total_row is not None else table
    small = [g for g, n in body[size].items() if is_small(int(n), min_cell)]
    if not small:
        return table
    merged = [*small, *(g for g in body.index if g in set(unknown) and g not in small)]
    rest = body.drop(index=merged).copy()
    other = body.loc[merged].sum()
    label: Any = OTHER
    sizes = rest[size][rest[size] > 0]
    if is_small(int(other[size]), min_cell) and not sizes.empty:
        smallest: Any = sizes.idxmin()
        other = other + rest.loc[smallest]
        rest = rest.drop(index=[smallest])
        label = f"{smallest}, {OTHER.lower()}"
    rest.loc[label] = other
    if total_row is not None:
        rest.loc[total_row] = table.loc[cast(Any, total_row)]
    return rest.astype(int)
