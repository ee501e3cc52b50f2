"""Panel tables as CSV downloads (the web view and the export share this)."""

from __future__ import annotations

import io

import pandas as pd

from sicdoc.analytics.scope import Scope, slugify

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The time basis of every row, first in each CSV: a table read on its own still says what it covers.
SCOPE_COLUMNS = ("data_as_of", "period_from", "period_to")
# The filters of every row, after ``data_complete_through``: cohorts (";"-separated), site and unit
# ("" for all), and "suppressed" (every panel CSV is).
FILTER_COLUMNS = ("scope_cohorts", "scope_site", "scope_unit", "scope_suppression")


def csv_name(panel_id: str, scope: Scope) -> str:
    """The file name of a panel CSV: the panel and its filters (``Scope.slug``), the same for one scope."""
    return f"sicdoc-{slugify(panel_id)}-{scope.slug(suppressed=True)}.csv"


def table_csv(table: pd.DataFrame, scope: Scope | None = None, data_through: str | None = None) -> str:
    """A panel table as CSV, led by the scope's dates when given, then ``data_complete_through``
    (the last day with data, from the report) and the filters (``FILTER_COLUMNS``). Text that a
    spreadsheet would run as a formula (a unit or clinician name from a feed starting with "=") is
    prefixed with an apostrophe, so it stays text."""
    safe = table.copy()
    if scope is not None:
        dates = (scope.as_of, scope.period_from, scope.period_to)
        for position, (name, value) in enumerate(zip(SCOPE_COLUMNS, dates, strict=True)):
            safe.insert(position, name, value.isoformat() if value else "")
        safe.insert(len(SCOPE_COLUMNS), "data_complete_through", data_through or "")
        filters = (";".join(scope.cohorts), scope.site or "", scope.unit or "", "suppressed")
        for position, (name, text) in enumerate(zip(FILTER_COLUMNS, filters, strict=True)):
            safe.insert(len(SCOPE_COLUMNS) + 1 + position, name, text)
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START) else v
            )
    out = io.StringIO()
    safe.to_csv(out, index=False)
    return out.getvalue()
