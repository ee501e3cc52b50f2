"""Overview tables: headline figures with 95% intervals, referral-to-death bands, data quality.

Every count in these tables is already suppressed ("<11" or "suppressed"); a rate or interval whose
counts are hidden is None.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from sicdoc.analytics.intervals import BAND_KEYS
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.suppression import rate_shown, suppress_table

HEADLINE_COLUMNS = ("cohort", "measure", "label", "value", "lower", "upper", "numerator", "denominator")
Z95 = 1.959964


def wilson(numerator: int, denominator: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sound near 0 and 1, unlike the Wald interval)."""
    p = numerator / denominator
    centre = p + Z95**2 / (2 * denominator)
    half = Z95 * math.sqrt(p * (1 - p) / denominator + Z95**2 / (4 * denominator**2))
    scale = 1 + Z95**2 / denominator
    return (centre - half) / scale, (centre + half) / scale


def _proportion(cohort: str, measure: str, label: str, num: object, den: object, min_cell: int) -> dict:
    row = {"cohort": cohort, "measure": measure, "label": label, "numerator": num, "denominator": den}
    if isinstance(num, int) and isinstance(den, int) and den > 0 and rate_shown(num, den, min_cell):
        low, high = wilson(num, den)
        return row | {"value": num / den, "lower": low, "upper": high}
    return row | {"value": None, "lower": None, "upper": None}


def _cif(cohort: str, measure: str, label: str, m: dict, key: str, horizon: str, n: object) -> dict:
    ci = (m.get(f"{key}_ci") or {}).get(horizon) or (None, None)
    return {
        "cohort": cohort,
        "measure": measure,
        "label": label,
        "value": m[key].get(horizon),
        "lower": ci[0],
        "upper": ci[1],
        "numerator": None,
        "denominator": n,
    }


# (report measure, horizon, label) of the cumulative incidences on the headline table.
HEADLINE_CIFS = (
    ("referral_cif", "90", "Referred within 90 days (cumulative incidence)"),
    ("referral_cif", "365", "Referred within 365 days (cumulative incidence)"),
    ("sic_cif", "90", "Conversation within 90 days (cumulative incidence)"),
)


def headline_table(ctx: PanelContext) -> pd.DataFrame:
    """Per cohort: patients, cumulative incidences, decedent proportions, medians and M4 at 72 h."""
    rows = []
    min_cell = ctx.min_cell
    for cohort, m in ctx.report["cohorts"].items():
        n = m["index_patients"]
        rows.append(_row(cohort, "index_patients", "Patients with an index diagnosis", n))
        for measure, horizon, label in HEADLINE_CIFS:
            rows.append(_cif(cohort, f"{measure}_{horizon}", label, m, measure, horizon, n))
        dec = m["decedents"]
        rows.append(_row(cohort, "decedents", "Decedents", dec))
        rows.append(
            _proportion(
                cohort,
                "decedents_referred",
                "Decedents ever referred",
                m["decedents_referred"],
                dec,
                min_cell,
            )
        )
        late = m["referral_to_death_bands"]
        early = late["gt90"]
        rows.append(
            _proportion(
                cohort,
                "referral_gt90d",
                "Decedents referred more than 90 days before death",
                early,
                dec,
                min_cell,
            )
        )
        rows.append(
            _proportion(
                cohort,
                "decedents_with_sic",
                "Decedents with a conversation before death",
                m["decedents_with_sic"],
                dec,
                min_cell,
            )
        )
        rows.append(
            _proportion(
                cohort,
                "first_sic_gt30d",
                "Decedents whose first conversation was over 30 days before death",
                m["decedents_first_sic_gt30d"],
                dec,
                min_cell,
            )
        )
        rows.append(
            _row(
                cohort,
                "median_days_referral_to_death",
                "Median days referral to death",
                m["median_days_referral_to_death"],
                dimension="days",
            )
        )
        rows.extend(_reach_rows(cohort, m))
        timely = (m.get("inpatient_timeliness") or {}).get("72")
        if timely is not None:
            rows.append(
                _proportion(
                    cohort,
                    "consult_or_sic_72h",
                    "Admissions with a consult or conversation within 72 h",
                    timely["numerator"],
                    timely["denominator"],
                    min_cell,
                )
            )
    return pd.DataFrame(rows, columns=list(HEADLINE_COLUMNS))


def _reach_rows(cohort: str, m: dict) -> list[dict]:
    """Median days diagnosis -> referral and the M5 figures (a report without them has none)."""
    rows = [
        _row(
            cohort,
            "median_days_index_to_referral",
            "Median days diagnosis to first referral (referred patients)",
            m["median_days_index_to_referral"],
            dimension="days",
        )
    ]
    if "penetration" not in m:
        return rows
    pen = m["penetration"]
    rows.append(
        {
            "cohort": cohort,
            "measure": "penetration",
            "label": "Penetration: patients with an initial palliative consult / admissions",
            "value": pen["rate"],
            "lower": None,
            "upper": None,
            "numerator": pen["consulted_patients"],
            "denominator": pen["admissions"],
        }
    )
    for key, label in (
        ("admission_to_consult_hours", "Median hours admission to first palliative consult (IQR)"),
        ("referral_to_consult_hours", "Median hours referral to palliative consult (IQR)"),
    ):
        hours = m[key]
        rows.append(
            {
                "cohort": cohort,
                "measure": key,
                "label": label,
                "value": hours["median"],
                "lower": hours["q1"],
                "upper": hours["q3"],
                "numerator": None,
                "denominator": hours["n"],
            }
        )
    return rows


def _row(cohort: str, measure: str, label: str, value: object, dimension: str = "count") -> dict:
    return {
        "cohort": cohort,
        "measure": measure,
        "label": label,
        "value": value,
        "lower": None,
        "upper": None,
        "numerator": value if dimension == "count" else None,
        "denominator": None,
    }


def bands_table(ctx: PanelContext) -> pd.DataFrame:
    """Decedents by referral-to-death band per cohort (the report's suppressed counts)."""
    rows = []
    for cohort, m in ctx.report["cohorts"].items():
        for band in BAND_KEYS:
            rows.append({"cohort": cohort, "band": band, "decedents": m["referral_to_death_bands"][band]})
        rows.append({"cohort": cohort, "band": "All", "decedents": m["decedents"]})
    return pd.DataFrame(rows, columns=["cohort", "band", "decedents"])


def year_coverage(year: int, start: date | None, end: date) -> tuple[str, bool]:
    """The months of ``year`` a period from ``start`` (None: open) to ``end`` covers, as "Jan–Dec"
    or e.g. "Jan–Jun", and whether that is only part of the year (then its counts are not
    comparable with a whole year's)."""
    first = max(start, date(year, 1, 1)) if start else date(year, 1, 1)
    last = min(end, date(year, 12, 31))
    part = first > date(year, 1, 1) or last < date(year, 12, 31)
    return f"{first:%b}–{last:%b}", part


def bands_by_year_table(ctx: PanelContext) -> pd.DataFrame:
    """Decedents by year of death and band per cohort; each cohort's years add up to its "All" row.
    ``months`` and ``part_year`` say which months of each year the period and the data cover."""
    parts = []
    end = min(ctx.scope.as_of, ctx.scope.period_to or ctx.scope.as_of, ctx.data_through or ctx.scope.as_of)
    for cohort in ctx.scope.cohorts:
        dead = ctx.dead(cohort)
        counts = pd.crosstab(dead["death_date"].dt.year.astype("Int64"), dead["band"])
        counts = counts.reindex(columns=list(BAND_KEYS), fill_value=0)
        counts.index = [str(y) for y in counts.index]
        counts.loc["All"] = counts.sum()
        counts["decedents"] = counts[list(BAND_KEYS)].sum(axis=1)
        counts = counts.astype(int)
        shown = suppress_table(counts, list(BAND_KEYS), "decedents", total_row="All", min_cell=ctx.min_cell)
        shown.insert(0, "year", shown.index)
        shown.insert(0, "cohort", cohort)
        covered = [
            year_coverage(int(y), ctx.scope.period_from, end) if y != "All" else (None, None)
            for y in shown.index
        ]
        shown["months"] = [c[0] for c in covered]
        shown["part_year"] = [c[1] for c in covered]
        parts.append(shown.reset_index(drop=True))
    columns = ["cohort", "year", *BAND_KEYS, "decedents", "months", "part_year"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).loc[:, columns]


def quality_table(ctx: PanelContext) -> pd.DataFrame:
    """Data-quality flag counts per cohort (suppressed like every other count)."""
    rows = [
        {"cohort": cohort, "flag": kind, "records": count}
        for cohort, m in ctx.report["cohorts"].items()
        for kind, count in m["data_quality"].items()
    ]
    return pd.DataFrame(rows, columns=["cohort", "flag", "records"])
