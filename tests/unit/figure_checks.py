"""What a reader can see on a figure, and the monthly control-chart rows the figure tests draw."""

import re

import pandas as pd

# A number shown as a count: after "label: ", before " decedents", or in "k of n".
COUNT_RE = re.compile(r"(?:(?:numerator|denominator|decedents|records): |of )([\d,]+)|([\d,]+) decedents")


def texts(fig) -> list[str]:
    """Every string a reader can see on hover or in a table cell."""
    out = []
    for trace in fig.data:
        for attr in ("hovertext", "text"):
            value = getattr(trace, attr, None)
            if isinstance(value, str):
                out.append(value)
            elif value is not None:
                out.extend(str(v) for v in value)
        if trace.type == "table":
            for column in trace.cells.values:
                out.extend(str(v) for v in column)
    return out


def small_counts(fig) -> list[str]:
    found = []
    for text in texts(fig):
        for match in COUNT_RE.finditer(text):
            number = int((match.group(1) or match.group(2)).replace(",", ""))
            if 1 <= number <= 10:
                found.append(text)
    return found


def monthly_rows(n: int, chart: str, special: int | None = None) -> pd.DataFrame:
    months = [f"2024-{m:02d}" if m <= 12 else f"2025-{m - 12:02d}" for m in range(1, n + 1)]
    rows = pd.DataFrame(
        {
            "cohort": "cancer",
            "month": months,
            "numerator": [20] * n,
            "denominator": [40] * n,
            "rate": [0.5] * n,
            "chart": chart,
            "cl": 0.5,
            "lcl": 0.27,
            "ucl": 0.73,
            "lwl": 0.34,
            "uwl": 0.66,
            "outside": False,
            "shift": False,
            "trend": False,
            "two_of_three": False,
            "special_cause": False,
            "run_signal": False,
        }
    ).astype(object)
    if special is not None:
        rows.loc[special, ["rate", "outside", "special_cause"]] = [0.9, True, True]
    return rows
