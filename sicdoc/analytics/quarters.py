"""Calendar quarters for small units: monthly counts added up by quarter, suppressed so that the
quarterly and the monthly view together reveal no small count, and quarter completeness.

A quarter's counts are the sums of its months, so next to the monthly chart of the same scope a
quarter could give away a month hidden there (quarter minus the two shown months). Both views are
therefore suppressed together (``suppress_periods``): the quarters first, on their own, so a small
unit's quarters show whenever their own counts allow; then the months, with the quarters' hidden
cells as given, hiding more months where a quarter would otherwise give one away.

A quarter is complete (a point of the limits and the rules) only when each of its three months is:
its measure window is over (``series.window_complete``) and it lies wholly inside the period asked.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import date

import pandas as pd

from sicdoc.analytics.frames import Where
from sicdoc.analytics.phases import period_end, period_start, quarter_months, quarter_of
from sicdoc.analytics.series import window_complete
from sicdoc.analytics.suppression import (
    COMPLEMENT,
    MIN_CELL,
    SMALL,
    Table,
    is_small,
    protect_with,
    rate_shown,
)

Relation = tuple[Sequence[str], str]  # cells of a row that add up to another of its columns
PROPORTION: tuple[Relation, ...] = ((("numerator", "_rest"), "denominator"),)


def suppress_periods(
    counts: pd.DataFrame, relations: Sequence[Relation] = (), *, min_cell: int = MIN_CELL
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The monthly and the quarterly view of ``counts`` (whole numbers by "YYYY-MM" index; a
    "_rest" column is an implicit cell, never shown), suppressed together: (months, quarters),
    each with the shown columns as int, "<11" or "suppressed".

    The quarters are protected first, on their own (next to the cohort total, which is shown
    elsewhere); the months then take the quarters' hidden cells as given and hide only months, so
    that neither view, nor the two side by side, gives away a count of 1..min_cell-1.
    """
    columns = list(counts.columns)
    quarters = counts.groupby([quarter_of(m) for m in counts.index], sort=True).sum()
    values: dict[Hashable, int] = {}
    for kind, frame in (("m", counts), ("q", quarters)):
        for label, row in frame.iterrows():
            for c in columns:
                values[(kind, label, c)] = int(row[c])
    for c in columns:
        values[("T", c)] = int(counts[c].sum())

    def rows_of(kind: str, frame: pd.DataFrame) -> list[Table[Hashable]]:
        return [
            ([(kind, label, c) for c in cells], (kind, label, total))
            for label in frame.index
            for cells, total in relations
        ]

    def starting(kind: str, frame: pd.DataFrame) -> set[Hashable]:
        # Small cells and the implicit rests (as in suppress_proportions).
        return {
            (kind, label, c)
            for label in frame.index
            for c in columns
            if c == "_rest" or is_small(values[(kind, label, c)], min_cell)
        }

    def open_cells(kind: str, frame: pd.DataFrame) -> list[Hashable]:
        return [(kind, label, c) for label in frame.index for c in columns if c != "_rest"]

    quarter_tables = rows_of("q", quarters) + [
        ([("q", q, c) for q in quarters.index], ("T", c)) for c in columns
    ]
    hidden = protect_with(
        values, quarter_tables, starting("q", quarters), open_cells("q", quarters), min_cell=min_cell
    )
    tables = quarter_tables + rows_of("m", counts)
    for c in columns:
        for quarter in quarters.index:
            months = [m for m in counts.index if quarter_of(m) == quarter]
            tables.append(([("m", m, c) for m in months], ("q", quarter, c)))
        tables.append(([("m", m, c) for m in counts.index], ("T", c)))
    hidden = protect_with(
        values, tables, hidden | starting("m", counts), open_cells("m", counts), min_cell=min_cell
    )
    shown_columns = [c for c in columns if c != "_rest"]

    def render(kind: str, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        out = pd.DataFrame(index=frame.index, columns=shown_columns, dtype=object)
        for label in frame.index:
            for c in shown_columns:
                value = values[(kind, label, c)]
                if (kind, label, c) not in hidden:
                    out.at[label, c] = value
                else:
                    out.at[label, c] = SMALL if is_small(value, min_cell) else COMPLEMENT
        out.index.name = name
        return out

    return render("m", counts, "month"), render("q", quarters, "quarter")


def with_rates(view: pd.DataFrame, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """``view`` with ``rate``: numerator / denominator where both are shown and ``rate_shown``."""
    view = view.copy()
    view["rate"] = pd.Series(
        [
            n / d if isinstance(n, int) and isinstance(d, int) and rate_shown(n, d, min_cell) else None
            for n, d in zip(view["numerator"], view["denominator"], strict=True)
        ],
        index=view.index,
        dtype=object,
    )
    return view


def quarter_complete(quarters: Sequence[str], measure: str, through: date | None, where: Where) -> pd.Series:
    """True for a quarter whose three months' windows are over by ``through`` and which lies wholly
    inside the period of ``where`` (a quarter cut by the period is partial)."""
    out = []
    for quarter in quarters:
        months = pd.Series(list(quarter_months(quarter)))
        windows = bool(window_complete(months, measure, through).all())
        inside = (where.period_from is None or period_start(quarter) >= where.period_from) and (
            where.period_to is None or period_end(quarter) <= where.period_to
        )
        out.append(windows and inside)
    return pd.Series(out, index=list(quarters), dtype=bool)
