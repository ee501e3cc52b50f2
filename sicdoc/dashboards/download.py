"""Panel tables as CSV downloads (the web view and the export share this)."""

from __future__ import annotations

import io

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def table_csv(table: pd.DataFrame) -> str:
    """A panel table as CSV. Text that a spreadsheet would run as a formula (a unit or clinician
    name from a feed starting with "=") is prefixed with an apostrophe, so it stays text."""
    safe = table.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_START) else v
            )
    out = io.StringIO()
    safe.to_csv(out, index=False)
    return out.getvalue()
