"""The "Goals and care" panels: end-of-life indicators, concordance, documentation quality and the
six-months measure by department and unit (``sicdoc.analytics.end_of_life`` computes the measures).

Every count is suppressed before anything is derived from it; a share and its 95% Wilson interval
are shown only where its count, denominator and the rest of the denominator are shown.

- ``eol_indicators``: per cohort, each indicator by calendar year of death and for the whole period
  ("All"). The "All" row is the metrics report's (the same cells shown and hidden); the years are
  protected with it as their margin, and where protecting a year would need an "All" cell the
  report shows, every year of that measure is hidden instead.
- ``concordance``: the report's concordance counts per cohort, each with its share of its own
  denominator (comfort-focused decedents, DNR decedents, DNR/DNI decedents).
- ``documentation_quality``: by month (or quarter) of the conversation, the share of completed
  conversations that document all four domains, as a p-chart (or run chart), for every patient's
  conversations ("all") and each cohort's members'.
- ``documentation_funnel``: the same share by the clinician's department (the PractitionerRole
  specialty of the conversation's performer; none known: "Unknown department"), as a funnel.
- ``sic_last_180d_by_department``: decedents with a conversation in their last 180 days, by the
  department of the clinician who held their last conversation on or before death ("No
  conversation" for decedents without one) and by the unit the decedent is attributed to.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import date

import pandas as pd

from sicdoc.analytics.cohorts import in_period
from sicdoc.analytics.documentation import all_documentation
from sicdoc.analytics.end_of_life import (
    CHEMO_COHORTS,
    COLUMN_OF,
    CONCORDANCE_FIELDS,
    DENOMINATORS,
    EOL_FIELDS,
    last_conversation,
)
from sicdoc.analytics.funnels import DEFAULT_OVERDISPERSION
from sicdoc.analytics.panels.comparison import _funnel_frame, suppress_groups
from sicdoc.analytics.panels.context import PanelContext
from sicdoc.analytics.panels.monthly import PHASE_COLUMN, RUN_CHART_BELOW, SPC_COLUMNS, proportion_chart
from sicdoc.analytics.panels.overview import wilson, year_coverage
from sicdoc.analytics.series import TOTAL, month_of
from sicdoc.analytics.suppression import COMPLEMENT, protect, rate_shown, render

ALL = TOTAL
EVERYONE = "all"  # the group of every patient's conversations on the documentation chart
UNKNOWN_DEPARTMENT = "Unknown department"
NO_CONVERSATION = "No conversation"
DOCUMENTATION_SERIES = "documentation_quality"
MAX_ROUNDS = 20

EOL_LABELS = {
    "eol_chemo_last_14d": "Chemotherapy in the last 14 days (NQF 0210)",
    "eol_ed_gt1_last_30d": "More than one ED visit in the last 30 days (NQF 0211)",
    "eol_icu_last_30d": "ICU stay in the last 30 days (NQF 0213)",
    "eol_no_hospice": "Never enrolled in hospice (NQF 0215)",
    "eol_hospice_lt3d": "Enrolled in hospice under 3 days before death, of the enrolled (NQF 0216)",
    "eol_death_in_hospital": "Died in hospital",
    "eol_death_in_icu": "Died in the ICU",
    "sic_last_180d": "Conversation in the last 180 days",
}
CONCORDANCE_LABELS = {
    "decedents": "Decedents",
    "concordance_comfort_focus_decedents": "Last documented care focus comfort-focused",
    "concordance_comfort_icu_cpr_mv_last_30d": "… of them, ICU, CPR or ventilation in the last 30 days",
    "concordance_comfort_died_in_hospital": "… of them, died in hospital",
    "dnr_decedents": "Last documented code status DNR (with or without DNI)",
    "dnr_then_cpr": "… of them, CPR on a later day",
    "dnr_dni_decedents": "… of them, DNR and DNI",
    "dnr_dni_then_intubation": "… of those, intubated on a later day",
}
EOL_COLUMNS = (
    "cohort",
    "year",
    "measure",
    "label",
    "numerator",
    "denominator",
    "rate",
    "lower",
    "upper",
    "months",
    "part_year",
)
CONCORDANCE_COLUMNS = (
    "cohort",
    "measure",
    "label",
    "count",
    "denominator_measure",
    "denominator",
    "share",
    "lower",
    "upper",
)
DOCUMENTATION_COLUMNS = ("numerator", "denominator", "rate", "complete", PHASE_COLUMN, *SPC_COLUMNS)
BY_DEPARTMENT_COLUMNS = ("breakdown", "group", "numerator", "denominator", "rate", "lower", "upper")


def _interval(num: object, den: object, min_cell: int) -> dict[str, float | None]:
    """Share and 95% Wilson interval of shown counts; None where either count (or the rest) is hidden."""
    if isinstance(num, int) and isinstance(den, int) and den > 0 and rate_shown(num, den, min_cell):
        low, high = wilson(num, den)
        return {"rate": num / den, "lower": low, "upper": high}
    return {"rate": None, "lower": None, "upper": None}


def _indicator_fields(cohort: str) -> list[str]:
    return [f for f in EOL_FIELDS if f != "eol_chemo_last_14d" or cohort in CHEMO_COHORTS]


def _denominator_key(field: str) -> str:
    return "decedents" if DENOMINATORS[field] == "decedents" else "hospice_enrolled"


def _last_day(ctx: PanelContext) -> date:
    s = ctx.scope
    return min(s.as_of, s.period_to or s.as_of, ctx.data_through or s.as_of)


def _year_values(table: pd.DataFrame, fields: list[str]) -> dict[tuple[str, str], int]:
    """(year or "All", key) -> count: decedents, hospice_enrolled, each field and "_rest:" + field
    (its denominator minus it; none for eol_no_hospice, whose rest is hospice_enrolled)."""
    years = table["death_date"].dt.year.astype(int).astype(str)
    values: dict[tuple[str, str], int] = {}
    for label in [*sorted(years.unique()), ALL]:
        rows = table if label == ALL else table[years == label]
        values[(label, "decedents")] = len(rows)
        values[(label, "hospice_enrolled")] = int((~rows["no_hospice"].astype(bool)).sum())
        for field in fields:
            values[(label, field)] = int(rows[COLUMN_OF[field]].astype(bool).sum())
            if field != "eol_no_hospice":
                values[(label, f"_rest:{field}")] = (
                    values[(label, _denominator_key(field))] - values[(label, field)]
                )
    return values


def _year_tables(values: dict, years: list[str], fields: list[str]) -> list:
    keys = sorted({k for _, k in values})
    tables: list = []
    for label in [*years, ALL]:
        for field in fields:
            if field == "eol_no_hospice":
                tables.append(([(label, field), (label, "hospice_enrolled")], (label, "decedents")))
            else:
                rest = (label, f"_rest:{field}")
                tables.append(([(label, field), rest], (label, _denominator_key(field))))
    for key in keys:
        tables.append(([(y, key) for y in years], (ALL, key)))
    return tables


def _hidden_years(
    values: dict, years: list[str], fields: list[str], report_hidden: set, min_cell: int
) -> set:
    """Hidden cells of the years, protected with the "All" row hidden exactly where the report
    hides it: an "All" cell the report shows is never hidden here; the years of its measure are."""
    tables = _year_tables(values, years, fields)
    rests = {k for k in values if k[1].startswith("_rest:")}
    forced: set = set()
    hidden: set = set()
    for _ in range(MAX_ROUNDS):
        hidden = protect(values, tables, implicit=rests | report_hidden | forced, min_cell=min_cell)
        conflicts = {k for label, k in hidden if label == ALL and (ALL, k) not in report_hidden | rests}
        more = {(y, k) for y in years for k in conflicts if values[(y, k)]} - forced
        if not more:
            break
        forced |= more
    return hidden


def eol_indicators_table(ctx: PanelContext) -> pd.DataFrame:
    """Per cohort: each end-of-life indicator by calendar year of death and for the period ("All"),
    suppressed, with shares and 95% Wilson intervals; ``months``/``part_year`` say which months of
    each year the period and the data cover."""
    end = _last_day(ctx)
    rows: list[dict] = []
    for cohort in ctx.scope.cohorts:
        table = ctx.eol(cohort)
        if table.empty:
            continue
        fields = _indicator_fields(cohort)
        values = _year_values(table, fields)
        years = sorted({label for label, _ in values if label != ALL})
        report = ctx.report["cohorts"][cohort]
        eol = report.get("end_of_life") or {}
        shown_all = {"decedents": report["decedents"], "hospice_enrolled": eol.get("hospice_enrolled")}
        shown_all |= {f: eol.get(f) for f in fields}
        report_hidden = {(ALL, k) for k, v in shown_all.items() if isinstance(v, str)}
        hidden = _hidden_years(values, years, fields, report_hidden, ctx.min_cell)
        rests = {k for k in values if k[1].startswith("_rest:")}
        shown = render(values, hidden | rests, implicit=rests, min_cell=ctx.min_cell)
        for label, value in shown_all.items():
            shown[(ALL, label)] = value if value is not None else COMPLEMENT
        for year in [*years, ALL]:
            months, part = (
                year_coverage(int(year), ctx.scope.period_from, end) if year != ALL else (None, None)
            )
            for field in fields:
                num, den = shown[(year, field)], shown[(year, _denominator_key(field))]
                rows.append(
                    {
                        "cohort": cohort,
                        "year": year,
                        "measure": field,
                        "label": EOL_LABELS[field],
                        "numerator": num,
                        "denominator": den,
                        **_interval(num, den, ctx.min_cell),
                        "months": months,
                        "part_year": part,
                    }
                )
    return _frame(rows, EOL_COLUMNS, ("numerator", "denominator"))


def concordance_table(ctx: PanelContext) -> pd.DataFrame:
    """Per cohort: the report's concordance counts (suppressed as the report shows them), each with
    its denominator and share of it, and a 95% Wilson interval."""
    rows: list[dict] = []
    for cohort in ctx.scope.cohorts:
        report = ctx.report["cohorts"][cohort]
        eol = report.get("end_of_life")
        if eol is None:
            continue
        counts = {"decedents": report["decedents"], **eol}
        rows.append(
            {
                "cohort": cohort,
                "measure": "decedents",
                "label": CONCORDANCE_LABELS["decedents"],
                "count": counts["decedents"],
                "denominator_measure": None,
                "denominator": None,
                "share": None,
                "lower": None,
                "upper": None,
            }
        )
        for field in CONCORDANCE_FIELDS:
            base = DENOMINATORS[field]
            num, den = counts[field], counts[base]
            share = _interval(num, den, ctx.min_cell)
            rows.append(
                {
                    "cohort": cohort,
                    "measure": field,
                    "label": CONCORDANCE_LABELS[field],
                    "count": num,
                    "denominator_measure": base,
                    "denominator": den,
                    "share": share["rate"],
                    "lower": share["lower"],
                    "upper": share["upper"],
                }
            )
    return _frame(rows, CONCORDANCE_COLUMNS, ("count", "denominator"))


def _conversations_in_period(ctx: PanelContext, scored: pd.DataFrame) -> pd.DataFrame:
    where = ctx.scope.where
    return scored[in_period(scored["performed_date"], where.period_from, where.period_to)]


def _monthly_share(scored: pd.DataFrame) -> pd.DataFrame:
    """month, numerator (conversations with all four domains), denominator (conversations)."""
    frame = pd.DataFrame({"month": month_of(scored["performed_date"]), "all_four": scored["all_four"]})
    frame = frame[frame["month"].notna()]
    grouped = frame.groupby("month", sort=True)["all_four"].agg(["sum", "size"]).reset_index()
    grouped.columns = ["month", "numerator", "denominator"]
    return grouped.astype({"numerator": int, "denominator": int})


def documentation_quality_table(ctx: PanelContext, run_chart_below: int = RUN_CHART_BELOW) -> pd.DataFrame:
    """Per group ("all": every patient's conversations, filtered by the conversation's site and
    unit; then each cohort's members') and month (or quarter) of the conversation: conversations
    documenting all four domains of the completed ones, suppressed, with the chart statistics."""
    key = "quarter" if ctx.scope.grouping == "quarter" else "month"
    groups = {EVERYONE: all_documentation(ctx.data, ctx.scope.where)}
    groups |= {cohort: ctx.documentation(cohort) for cohort in ctx.scope.cohorts}
    parts = []
    for group, scored in groups.items():
        raw = _monthly_share(_conversations_in_period(ctx, scored))
        if raw.empty:
            continue
        parts.append(proportion_chart(ctx, raw, DOCUMENTATION_SERIES, group, run_chart_below))
    columns = ["cohort", key, *DOCUMENTATION_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True).loc[:, columns]


def department_of(ctx: PanelContext, clinicians: pd.Series) -> pd.Series:
    """The department of each recorded performer; "Unknown department" when none is known."""
    known = clinicians.map(lambda ref: ctx.departments.get(str(ref)) if isinstance(ref, str) else None)
    return known.where(known.notna(), UNKNOWN_DEPARTMENT).astype(object)


def documentation_funnel_table(
    ctx: PanelContext, *, target: float | None = None, overdispersion: str = DEFAULT_OVERDISPERSION
) -> pd.DataFrame:
    """Completed conversations in the period documenting all four domains, by the performer's
    department (every patient's conversations, filtered by the conversation's site and unit)."""
    scored = _conversations_in_period(ctx, all_documentation(ctx.data, ctx.scope.where))
    counts = pd.DataFrame(columns=["numerator", "denominator"])
    if not scored.empty:
        department = department_of(ctx, scored["clinician_id"])
        grouped = scored.assign(department=department.to_numpy()).groupby("department", sort=True)
        counts = pd.DataFrame(
            {"numerator": grouped["all_four"].sum().astype(int), "denominator": grouped.size().astype(int)}
        )
    return _funnel_frame(counts, ctx.min_cell, target=target, overdispersion=overdispersion)


def _decedents(ctx: PanelContext) -> pd.DataFrame:
    """Decedents of every cohort in scope, each once (the first cohort's attribution)."""
    frames = [ctx.eol(c) for c in ctx.scope.cohorts]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["patient_id", "death_date", "unit", "sic_last_180d"])
    return pd.concat(frames, ignore_index=True).drop_duplicates("patient_id").reset_index(drop=True)


def _grouped(labels: pd.Series, hit: pd.Series) -> pd.DataFrame:
    frame = pd.DataFrame({"group": labels.to_numpy(), "hit": hit.astype(bool).to_numpy()})
    grouped = frame.groupby("group", sort=True)["hit"]
    table = pd.DataFrame({"numerator": grouped.sum().astype(int), "denominator": grouped.size().astype(int)})
    table.loc[ALL] = table.sum()
    return table.astype(int)


def sic_by_department_table(ctx: PanelContext) -> pd.DataFrame:
    """Decedents with a conversation in their last 180 days, by the department of the clinician of
    their last conversation on or before death and by their unit; each breakdown with its "All"
    row, groups under the smallest shown count merged into "Other or unknown" and suppressed."""
    dead = _decedents(ctx)
    if dead.empty:
        return pd.DataFrame(columns=list(BY_DEPARTMENT_COLUMNS))
    death = dead.set_index("patient_id")["death_date"]
    last = last_conversation(ctx.data, death)
    department = department_of(ctx, last["clinician_id"]).where(last["date"].notna(), NO_CONVERSATION)
    unit = dead["unit"].astype(object).where(dead["unit"].notna(), "unknown")
    hit = dead["sic_last_180d"]
    shown = {
        "department": suppress_groups(_grouped(department.reset_index(drop=True), hit), ctx.min_cell),
        "unit": suppress_groups(_grouped(unit, hit), ctx.min_cell),
    }
    # One "All" row for both: a total hidden in one breakdown is hidden in the other too.
    for column in ("numerator", "denominator"):
        if any(not isinstance(t.at[ALL, column], int) for t in shown.values()):
            for t in shown.values():
                if isinstance(t.at[ALL, column], int):
                    t.at[ALL, column] = COMPLEMENT
    rows = []
    for breakdown, table in shown.items():
        for group, row in table.iterrows():
            num, den = row["numerator"], row["denominator"]
            rows.append(
                {
                    "breakdown": breakdown,
                    "group": str(group),
                    "numerator": num,
                    "denominator": den,
                    **_interval(num, den, ctx.min_cell),
                }
            )
    return _frame(rows, BY_DEPARTMENT_COLUMNS, ("numerator", "denominator"))


def _frame(rows: list[dict], columns: tuple[str, ...], counts: tuple[Hashable, ...]) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(columns))
    # Counts stay whole numbers next to "<11" and "suppressed" (pandas would make them float).
    for column in counts:
        out[column] = pd.Series([r[column] for r in rows], index=out.index, dtype=object)
    return out
