"""Comparisons: funnel plots of units and clinicians, and equity strata.

Funnels are suppressed with the all-units total as margin, so a hidden unit cannot be recovered
from the total; hidden units get no dot. The centre line ("overall") is the pooled proportion of
all units when that total is shown (Spiegelhalter's p̄), else of the shown units; the limits are
exact binomial ones around it, widened for overdispersion as the panel says (``funnels.py``; φ
from the shown units). A ``target`` column is there only when the panel sets a target.
"""

from __future__ import annotations

import pandas as pd

from sicdoc.analytics.funnels import DEFAULT_OVERDISPERSION, FUNNEL_LEVELS, funnel, level_name
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.series import TOTAL, clinician_table, referral_within_strata, unit_table
from sicdoc.analytics.suppression import merge_small_groups, suppress_proportions

FUNNEL_COLUMNS = ("group", "numerator", "denominator", "rate", "overall")
DISPERSION_COLUMNS = ("overdispersion", "phi", "tau2", "limits_widened")
NO_COUNTS = pd.DataFrame(columns=["numerator", "denominator"])
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


def funnel_columns(target: float | None = None) -> list[str]:
    """The columns of a funnel table, in order (``target`` only when the panel sets one)."""
    names = [level_name(level) for level in FUNNEL_LEVELS]
    return [
        *FUNNEL_COLUMNS,
        *(["target"] if target is not None else []),
        *(f"{side}_{name}" for name in names for side in ("lower", "upper")),
        *(f"outside_{name}" for name in names),
        *DISPERSION_COLUMNS,
    ]


def _funnel_frame(
    table: pd.DataFrame,
    min_cell: int,
    *,
    target: float | None = None,
    overdispersion: str = DEFAULT_OVERDISPERSION,
) -> pd.DataFrame:
    columns = funnel_columns(target)
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
    overall = float(total_rate) if total_rate is not None else None
    if counts.empty:
        out = body.assign(overall=overall, overdispersion=overdispersion)
    else:
        if overall is None:
            overall = float(counts["numerator"].sum() / counts["denominator"].sum())
        limits = funnel(counts, overall=overall, overdispersion=overdispersion)
        out = body.join(limits.drop(columns=["numerator", "denominator", "p", "overall"]))
        out["overall"] = overall
        # Hidden units have no dot; the method and its estimate hold for the whole chart.
        for column in DISPERSION_COLUMNS:
            out[column] = limits[column].iloc[0]
    if target is not None:
        out["target"] = float(target)
    out.insert(0, "group", out.index.astype(str))
    return out.reset_index(drop=True).reindex(columns=columns)


def unit_funnel_table(
    ctx: PanelContext,
    hours: int = 72,
    *,
    target: float | None = None,
    overdispersion: str = DEFAULT_OVERDISPERSION,
) -> pd.DataFrame:
    """Stroke and heart-failure admissions with a consult or conversation within ``hours``, by unit.

    An admission linked to both cohorts counts once.
    """
    frames = [ctx.admissions(c) for c in ctx.inpatient_cohorts]
    frames = [f for f in frames if not f.empty]
    counts = NO_COUNTS
    if frames:
        admissions = pd.concat(frames, ignore_index=True).drop_duplicates("encounter_id")
        counts = unit_table(admissions, hours)
    return _funnel_frame(counts, ctx.min_cell, target=target, overdispersion=overdispersion)


def clinician_funnel_table(
    ctx: PanelContext, *, target: float | None = None, overdispersion: str = DEFAULT_OVERDISPERSION
) -> pd.DataFrame:
    """Decedents whose first conversation was over 30 days before death, by the clinician who had it
    (named as ``ctx.clinicians`` says)."""
    frames = [ctx.dead(c) for c in ctx.scope.cohorts]
    frames = [f for f in frames if not f.empty]
    counts = NO_COUNTS
    if frames:
        dead = pd.concat(frames, ignore_index=True).drop_duplicates("patient_id")
        # Labelled before grouping: a name or a pseudonym, never the recorded reference or display.
        dead["sic_clinician"] = dead["sic_clinician"].map(ctx.clinicians.label, na_action="ignore")
        counts = clinician_table(dead)
    return _funnel_frame(counts, ctx.min_cell, target=target, overdispersion=overdispersion)


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
