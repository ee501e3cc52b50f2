"""Comparisons: funnel plots of units and clinicians, and equity strata.

Funnels are suppressed with the all-units total as margin, so a hidden unit cannot be recovered
from the total; hidden units get no dot. The funnel target is the pooled proportion of all units
when that total is shown (Spiegelhalter's p̄), else of the shown units.
"""

from __future__ import annotations

import pandas as pd

from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.series import TOTAL, clinician_table, referral_within_strata, unit_table
from sicdoc.analytics.spc import FUNNEL_LEVELS, funnel
from sicdoc.analytics.suppression import merge_small_groups, suppress_proportions

FUNNEL_COLUMNS = ("group", "numerator", "denominator", "rate", "target")
STRATA_COLUMNS = ("cohort", "stratum", "group", "numerator", "denominator", "rate")
# Names of the languages records most often carry (BCP 47 primary tags); other codes are shown as is.
LANGUAGE_NAMES = {
    "ar": "Arabic",
    "bn": "Bengali",
    "de": "German",
    "en": "English",
    "es": "Spanish",
    "fa": "Persian",
    "fr": "French",
    "hi": "Hindi",
    "ht": "Haitian Creole",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "pl": "Polish",
    "pt": "Portuguese",
    "ru": "Russian",
    "so": "Somali",
    "tl": "Tagalog",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "zh": "Chinese",
}


def _funnel_frame(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    limit_columns = [f"{side}_{level * 100:g}" for level in FUNNEL_LEVELS for side in ("lower", "upper")]
    columns = [*FUNNEL_COLUMNS, *limit_columns, *(f"outside_{level * 100:g}" for level in FUNNEL_LEVELS)]
    if table.empty or int(table["denominator"].sum()) == 0:
        return pd.DataFrame(columns=columns)
    table = table[["numerator", "denominator"]].astype(int)
    table.loc[TOTAL] = table.sum()
    table["rate"] = table["numerator"] / table["denominator"].where(table["denominator"] > 0)
    shown = suppress_proportions(table, total_row=TOTAL, min_cell=min_cell)
    body = shown.drop(index=TOTAL)
    visible = body[body["rate"].notna()]
    counts = visible[["numerator", "denominator"]].astype(int)
    total_rate = shown["rate"].loc[TOTAL]
    target = float(total_rate) if total_rate is not None else None
    if counts.empty:
        out = body.assign(target=target)
    else:
        if target is None:
            target = float(counts["numerator"].sum() / counts["denominator"].sum())
        limits = funnel(counts, target=target).drop(columns=["numerator", "denominator", "p"])
        out = body.join(limits)
        out["target"] = target
    out.insert(0, "group", out.index.astype(str))
    return out.reset_index(drop=True).reindex(columns=columns)


def unit_funnel_table(ctx: PanelContext, hours: int = 72) -> pd.DataFrame:
    """Stroke and heart-failure admissions with a consult or conversation within ``hours``, by unit.

    An admission linked to both cohorts counts once.
    """
    frames = [ctx.admissions(c) for c in ctx.inpatient_cohorts]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return _funnel_frame(pd.DataFrame(columns=["numerator", "denominator"]), ctx.min_cell)
    admissions = pd.concat(frames, ignore_index=True).drop_duplicates("encounter_id")
    return _funnel_frame(unit_table(admissions, hours), ctx.min_cell)


def clinician_funnel_table(ctx: PanelContext) -> pd.DataFrame:
    """Decedents whose first conversation was over 30 days before death, by the clinician who had it
    (named as ``ctx.clinicians`` says)."""
    frames = [ctx.dead(c) for c in ctx.scope.cohorts]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return _funnel_frame(pd.DataFrame(columns=["numerator", "denominator"]), ctx.min_cell)
    dead = pd.concat(frames, ignore_index=True).drop_duplicates("patient_id")
    # Labelled before grouping: a name or a pseudonym, never the recorded reference or display.
    dead["sic_clinician"] = dead["sic_clinician"].map(ctx.clinicians.label, na_action="ignore")
    return _funnel_frame(clinician_table(dead), ctx.min_cell)


def suppress_groups(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """A grouped numerator/denominator table with an "All" row, as shown: groups under ``min_cell``
    merged into "Other or unknown" first, then suppressed (complements the smallest cells)."""
    merged = merge_small_groups(table, total_row=TOTAL, min_cell=min_cell)
    merged["rate"] = (merged["numerator"] / merged["denominator"].where(merged["denominator"] > 0)).astype(
        object
    )
    merged["rate"] = merged["rate"].where(merged["denominator"] > 0, None)
    return suppress_proportions(merged, total_row=TOTAL, min_cell=min_cell)


def strata_table(ctx: PanelContext, days: int = 90) -> pd.DataFrame:
    """Referred within ``days`` of index, by race, ethnicity, language, sex and age band per cohort."""
    parts = []
    for cohort in ctx.scope.cohorts:
        look = ctx.look(cohort)
        if look.empty:
            continue
        for stratum, table in referral_within_strata(look, days).items():
            if int(table["denominator"].loc[TOTAL]) == 0:
                continue
            if stratum == "language":
                table = table.rename(index=lambda code: LANGUAGE_NAMES.get(str(code).lower(), code))
            shown = suppress_groups(table, ctx.min_cell)
            shown.insert(0, "group", shown.index.astype(str))
            shown.insert(0, "stratum", stratum)
            shown.insert(0, "cohort", cohort)
            parts.append(shown.reset_index(drop=True))
    if not parts:
        return pd.DataFrame(columns=list(STRATA_COLUMNS))
    return pd.concat(parts, ignore_index=True).loc[:, list(STRATA_COLUMNS)]
