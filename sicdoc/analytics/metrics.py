"""The machine-readable QI report: every metric of every cohort, suppressed for display by default.

    compute_metrics(frames, as_of=date(2026, 3, 31), period_from=date(2025, 1, 1),
                    period_to=date(2025, 12, 31), cohorts=None, value_set_version="2026.1")

The period applies to the index date (M1, M7), the death date (M2, M3) and the admission date (M4).
``site``/``unit`` filter by attribution (see cohorts.py) and, for M4, by the admission's own place.
Beyond the required keys the report carries ``prior_sic`` (patients with a conversation before index,
left out of M7 as ``prior_referral`` is left out of M1) and 95% intervals (``*_cif_ci``, log-log).
The patients in each incidence estimate (index patients minus the prevalent ones) are not shown: a
small prevalent count would otherwise force the whole estimate to be hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import pandas as pd

from sicdoc.analytics.cohorts import check_cohorts
from sicdoc.analytics.documentation import all_documentation, cohort_documentation, documentation_quality
from sicdoc.analytics.end_of_life import (
    CONCORDANCE_FIELDS,
    DENOMINATORS,
    EOL_FIELDS,
    data_quality_counts,
    decedent_care,
    end_of_life_counts,
)
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where
from sicdoc.analytics.inpatient import INPATIENT_COHORTS, admission_table, timeliness_counts
from sicdoc.analytics.intervals import BAND_KEYS, conversation_before_death, decedents, referral_to_death
from sicdoc.analytics.lookforward import (
    CURVE_DAYS,
    HORIZONS,
    incidence,
    lookforward_table,
    median_days_to_referral,
    referred_days,
)
from sicdoc.analytics.quality import cohort_flags, count_flags, flag_rows
from sicdoc.analytics.reach import ALL, present_reach, reach_counts, reach_table
from sicdoc.analytics.series import data_complete_through
from sicdoc.analytics.suppression import (
    MIN_CELL,
    curve_shown,
    is_small,
    protect,
    rate_shown,
    render,
    suppress_count,
)

DECIMALS = 4


def compute_metrics(
    frames: Frames,
    *,
    as_of: date,
    period_from: date | None,
    period_to: date | None,
    cohorts: list[str] | None,
    value_set_version: str,
    suppress: bool = True,
    site: str | None = None,
    unit: str | None = None,
    min_cell: int = MIN_CELL,
) -> dict:
    """All metrics per cohort as a JSON-serialisable dict (see the module docstring for the call)."""
    data = frames.normalised().observed(as_of)
    flags = flag_rows(data)
    where = Where(period_from, period_to, site, unit)
    # Day-level only where the report is (unsuppressed, for operators).
    through = data_complete_through(data, whole_months=suppress)
    return build_report(
        check_cohorts(cohorts),
        lambda cohort: cohort_counts(data, cohort, flags=flags, as_of=as_of, where=where, through=through),
        as_of=as_of,
        where=where,
        value_set_version=value_set_version,
        suppress=suppress,
        min_cell=min_cell,
        data_through=through,
        reach=lambda: reach_counts(reach_table(data, ALL, as_of=as_of, where=where), through),
        documentation=lambda: documentation_quality(all_documentation(data, where)),
    )


def data_note(as_of: date, data_through: date | None) -> str | None:
    """The notice when the as-of date runs past the last day with data (None when it does not)."""
    if data_through is None:
        return f"No data up to {as_of.isoformat()}."
    if as_of > data_through:
        return (
            f"Data complete through {data_through.isoformat()}, before the as-of date "
            f"{as_of.isoformat()}: later days have no records yet, and months whose window ends "
            "after that date are not complete."
        )
    return None


def build_report(
    cohorts: Iterable[str],
    counts: Callable[[str], dict],
    *,
    as_of: date,
    where: Where,
    value_set_version: str,
    suppress: bool,
    min_cell: int,
    data_through: date | None = None,
    reach: Callable[[], dict] | None = None,
    documentation: Callable[[], dict] | None = None,
) -> dict:
    """The report of ``cohorts``, each from its unsuppressed ``counts`` (see ``tally``).

    ``data_through`` is the last day with data (``series.data_complete_through``); ``reach`` gives
    the unsuppressed M5 figures of all admissions (``reach.reach_counts``), reported as ``reach``;
    ``documentation`` the documentation quality of every patient's conversations."""
    report: dict = {
        "as_of": as_of.isoformat(),
        "data_complete_through": data_through.isoformat() if data_through else None,
        "data_note": data_note(as_of, data_through),
        "period": {
            "from": where.period_from.isoformat() if where.period_from else None,
            "to": where.period_to.isoformat() if where.period_to else None,
        },
        "value_set_version": value_set_version,
        "filters": {"site": where.site, "unit": where.unit},
        "suppressed": suppress,
        "min_cell": min_cell if suppress else None,
        "reach": None,
        "documentation_quality": None,
        "cohorts": {},
    }
    if reach is not None:
        report["reach"] = present_reach(reach(), suppress=suppress, min_cell=min_cell)
    if documentation is not None:
        report["documentation_quality"] = present_documentation(
            documentation(), suppress=suppress, min_cell=min_cell
        )
    for cohort in cohorts:
        report["cohorts"][cohort] = present(counts(cohort), suppress=suppress, min_cell=min_cell)
    return report


def cohort_counts(
    data: Frames,
    cohort: str,
    *,
    flags: pd.DataFrame,
    as_of: date,
    where: Where = EVERYWHERE,
    through: date | None = None,
) -> dict:
    """Unsuppressed metrics of one cohort, with the counts suppression needs (normalised, cut frames);
    ``through`` (the last day with data) closes the months of the reach series."""
    look = lookforward_table(data, cohort, as_of=as_of, where=where)
    inpatient = cohort in INPATIENT_COHORTS
    return tally(
        cohort,
        look=look,
        dead=decedents(data, cohort, where),
        admissions=admission_table(data, cohort, as_of=as_of, where=where) if inpatient else None,
        referral_cif=incidence(look, "referral", CURVE_DAYS["referral"]),
        sic_cif=incidence(look, "sic", CURVE_DAYS["sic"]),
        flags=flags,
        where=where,
        reach=reach_counts(reach_table(data, cohort, as_of=as_of, where=where), through),
        eol=decedent_care(data, cohort, where),
        documentation=cohort_documentation(data, cohort, where),
    )


def tally(
    cohort: str,
    *,
    look: pd.DataFrame,
    dead: pd.DataFrame,
    admissions: pd.DataFrame | None,
    referral_cif: dict,
    sic_cif: dict,
    flags: pd.DataFrame,
    where: Where,
    reach: dict | None = None,
    eol: pd.DataFrame | None = None,
    documentation: pd.DataFrame | None = None,
) -> dict:
    """One cohort's unsuppressed metrics from its look-forward, decedent and (inpatient cohorts only)
    admission tables and its incidence at the report's horizons; ``where`` is the period and place;
    ``reach`` the cohort's M5 figures (``reach.reach_counts``); ``eol`` its ``decedent_care`` table
    and ``documentation`` its scored conversations (both reported only when given)."""
    raw: dict = {
        "index_patients": len(look),
        "prior_referral": int(look["prior_referral"].sum()),
        "referral_cif": referral_cif,
        "referred_patients": len(referred_days(look)),
        "median_days_index_to_referral": median_days_to_referral(look),
        **referral_to_death(dead),
        **conversation_before_death(dead),
        "prior_sic": int(look["prior_sic"].sum()),
        "sic_cif": sic_cif,
        "inpatient_timeliness": None,
        "reach": reach,
    }
    raw["referral_cif_patients"] = raw["index_patients"] - raw["prior_referral"]
    raw["sic_cif_patients"] = raw["index_patients"] - raw["prior_sic"]
    patients = set(look["patient_id"]) | set(dead["patient_id"])
    if admissions is not None:
        raw["inpatient_timeliness"] = timeliness_counts(admissions)
        patients |= set(admissions["patient_id"])
    raw["data_quality"] = count_flags(cohort_flags(flags, cohort, patients, where))
    raw["end_of_life"] = None if eol is None else end_of_life_counts(eol, cohort)
    if eol is not None:
        raw["data_quality"] |= data_quality_counts(eol)
    raw["documentation_quality"] = None if documentation is None else documentation_quality(documentation)
    return raw


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), DECIMALS)


def _cif(curve: dict, suppress: bool, min_cell: int, horizons: tuple[int, ...]) -> tuple[dict, dict]:
    """Estimates and intervals at the ``horizons`` (the dashboard's grid days may be in ``curve`` too);
    under suppression only the points ``curve_shown`` allows along the whole curve."""
    shown = (
        curve_shown(curve, min_cell) if suppress else {h: p["estimate"] is not None for h, p in curve.items()}
    )
    estimates, intervals = {}, {}
    for h, point in curve.items():
        if h not in horizons:
            continue
        lower, upper = point["lower"], point["upper"]
        estimates[str(h)] = _round(point["estimate"]) if shown[h] else None
        intervals[str(h)] = [_round(lower), _round(upper)] if shown[h] and lower is not None else None
    return estimates, intervals


def present(raw: dict, *, suppress: bool = True, min_cell: int = MIN_CELL) -> dict:
    """The report shape for one cohort; with ``suppress`` no count of 1..min_cell-1 is recoverable."""
    bands = {f"band:{k}": v for k, v in raw["referral_to_death_bands"].items()}
    values = {
        key: raw[key]
        for key in (
            "index_patients",
            "prior_referral",
            "referral_cif_patients",
            "prior_sic",
            "sic_cif_patients",
            "decedents",
            "decedents_referred",
            "decedents_with_sic",
            "decedents_first_sic_gt30d",
        )
    } | bands
    values["_no_sic"] = raw["decedents"] - raw["decedents_with_sic"]
    values["_sic_le30"] = raw["decedents_with_sic"] - raw["decedents_first_sic_gt30d"]
    tables = [
        (["prior_referral", "referral_cif_patients"], "index_patients"),
        (["prior_sic", "sic_cif_patients"], "index_patients"),
        (list(bands), "decedents"),
        (["band:never", "decedents_referred"], "decedents"),
        ([f"band:{k}" for k in BAND_KEYS[1:]], "decedents_referred"),
        (["decedents_with_sic", "_no_sic"], "decedents"),
        (["decedents_first_sic_gt30d", "_sic_le30"], "decedents_with_sic"),
    ]
    implicit = ["referral_cif_patients", "sic_cif_patients", "_no_sic", "_sic_le30"]
    eol = raw.get("end_of_life")
    if eol is not None:
        _eol_tables(eol, values, tables, implicit)
    timely = raw["inpatient_timeliness"] or {}
    for h, cell in timely.items():
        values |= {
            f"num:{h}": cell["numerator"],
            f"den:{h}": cell["denominator"],
            f"_rest:{h}": cell["denominator"] - cell["numerator"],
        }
        tables.append(([f"num:{h}", f"_rest:{h}"], f"den:{h}"))
        implicit.append(f"_rest:{h}")
    hidden = protect(values, tables, implicit=implicit, min_cell=min_cell) if suppress else set()
    shown = render(values, hidden, implicit=implicit, min_cell=min_cell)

    def median(key: str, base: int) -> float | int | None:
        return None if suppress and is_small(base, min_cell) else raw[key]

    referral_cif, referral_ci = _cif(raw["referral_cif"], suppress, min_cell, HORIZONS["referral"])
    sic_cif, sic_ci = _cif(raw["sic_cif"], suppress, min_cell, HORIZONS["sic"])
    out: dict[str, Any] = {
        "index_patients": shown["index_patients"],
        "prior_referral": shown["prior_referral"],
        "referral_cif": referral_cif,
        "referral_cif_ci": referral_ci,
        "median_days_index_to_referral": median("median_days_index_to_referral", raw["referred_patients"]),
        "decedents": shown["decedents"],
        "decedents_referred": shown["decedents_referred"],
        "referral_to_death_bands": {k: shown[f"band:{k}"] for k in BAND_KEYS},
        "median_days_referral_to_death": median("median_days_referral_to_death", raw["decedents_referred"]),
        "decedents_with_sic": shown["decedents_with_sic"],
        "decedents_first_sic_gt30d": shown["decedents_first_sic_gt30d"],
        "median_days_first_sic_to_death": median("median_days_first_sic_to_death", raw["decedents_with_sic"]),
        "prior_sic": shown["prior_sic"],
        "sic_cif": sic_cif,
        "sic_cif_ci": sic_ci,
        "inpatient_timeliness": None,
        "data_quality": {
            k: (suppress_count(v, min_cell) if suppress else v) for k, v in raw["data_quality"].items()
        },
    }
    if raw["inpatient_timeliness"] is not None:
        out["inpatient_timeliness"] = {}
        for h, cell in timely.items():
            num, den = shown[f"num:{h}"], shown[f"den:{h}"]
            visible = isinstance(num, int) and isinstance(den, int) and rate_shown(num, den, min_cell)
            rate = cell["rate"] if (visible or not suppress) else None
            out["inpatient_timeliness"][h] = {"numerator": num, "denominator": den, "rate": _round(rate)}
    if raw.get("reach") is not None:
        out |= present_reach(raw["reach"], suppress=suppress, min_cell=min_cell)
    if eol is not None:
        out["end_of_life"] = {
            "decedents": shown["decedents"],
            "hospice_enrolled": shown["eol:hospice_enrolled"],
        }
        for field in (*EOL_FIELDS, *CONCORDANCE_FIELDS):
            out["end_of_life"][field] = None if eol[field] is None else shown[f"eol:{field}"]
    if raw.get("documentation_quality") is not None:
        out["documentation_quality"] = present_documentation(
            raw["documentation_quality"], suppress=suppress, min_cell=min_cell
        )
    return out


def _eol_tables(eol: dict, values: dict, tables: list, implicit: list) -> None:
    """Add the end-of-life counts to one cohort's suppression: each count with the rest of its
    denominator, so neither can be worked out from the other."""
    values["eol:hospice_enrolled"] = eol["hospice_enrolled"]
    for field, base in DENOMINATORS.items():
        if eol[field] is None:
            continue
        total = "decedents" if base == "decedents" else f"eol:{base}"
        values[f"eol:{field}"] = eol[field]
        if field == "eol_no_hospice":  # the rest is shown: the enrolled, NQF 0216's denominator
            tables.append((["eol:eol_no_hospice", "eol:hospice_enrolled"], total))
            continue
        values[f"_eol_rest:{field}"] = values[total] - eol[field]
        tables.append(([f"eol:{field}", f"_eol_rest:{field}"], total))
        implicit.append(f"_eol_rest:{field}")


def present_documentation(raw: dict, *, suppress: bool = True, min_cell: int = MIN_CELL) -> dict:
    """Documentation quality for display: small counts hidden, and the mean with them."""
    n, four = raw["conversations"], raw["conversations_all_four"]
    if not suppress:
        return dict(raw)
    values = {"conversations": n, "conversations_all_four": four, "_rest": n - four}
    hidden = protect(
        values,
        [(["conversations_all_four", "_rest"], "conversations")],
        implicit=["_rest"],
        min_cell=min_cell,
    )
    shown = render(values, hidden, implicit=["_rest"], min_cell=min_cell)
    return {
        "conversations": shown["conversations"],
        "conversations_all_four": shown["conversations_all_four"],
        "mean_domains": None if is_small(n, min_cell) else raw["mean_domains"],
    }
