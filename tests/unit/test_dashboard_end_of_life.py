"""The "Goals and care" panel tables on hand-made frames, with the answers worked out by hand.

The cancer cohort (diagnosed 2023-01-15, all on "Oncology ward"):

- 48 decedents in 2024 (A, dying 2024-03-01 + i days): i < 12 in the ICU 5 to 2 days before
  death; i < 15 chemotherapy 13 days before death (the 14th day: inside NQF 0210's window); i < 22
  enrolled in hospice, i < 11 of them the day before death, the others 10 days before; i < 36 a
  conversation 30 days before death held by Practitioner/onc (Oncology), all four domains for even
  i, comfort-focused for i < 12 and i >= 24 (selective treatments between), DNR for i < 24 (full
  code after); i < 12 also one 300 days before death by Practitioner/pal; CPR 3 days before death
  for 12 <= i < 24 (after the DNR).
- 15 decedents in 2025 (B, dying 2025-02-01 + i): i < 5 in the ICU; i < 12 a conversation 200 days
  before death by Practitioner/pal (Palliative care): outside the last 180 days.
- 24 living patients with a conversation on the 10th of every month from 2023-07 to 2025-06, held
  by Practitioner/onc, Practitioner/pal or a free-text performer (8 patients each), all four
  domains when patient + month is even.

12 stroke decedents in 2024 without any of it.
"""

from datetime import date, timedelta

import pandas as pd
import pytest

from sicdoc.analytics import Frames
from sicdoc.analytics.panels import KINDS, PanelContext, panel_table
from sicdoc.analytics.panels.end_of_life import (
    NO_CONVERSATION,
    UNKNOWN_DEPARTMENT,
    concordance_table,
    documentation_funnel_table,
    documentation_quality_table,
    eol_indicators_table,
    sic_by_department_table,
)
from sicdoc.analytics.panels.overview import wilson
from sicdoc.analytics.scope import parse_scope
from sicdoc.figures.panels import panel_figures
from tests.unit.figure_checks import small_counts

ALL_FOUR = "values,prognosis,planning,treatment"
TWO = "values,prognosis"
COMFORT = "LA33475-7"
SELECTIVE = "LA33474-0"
DEPARTMENTS = {"Practitioner/onc": "Oncology", "Practitioner/pal": "Palliative care"}
FREE_TEXT = "Dr Free Text"


class Builder:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {
            name: [] for name in ("patients", "diagnoses", "encounters", "conversations", "care_events")
        }
        self.locations = [{"location_id": "icu1", "name": "ICU", "typed": True, "icu": True}]

    def person(self, pid: str, cohort: str, death: date | None, unit: str) -> None:
        self.rows["patients"].append(
            {
                "patient_id": pid,
                "sex": "female",
                "race": "White",
                "birth_date": date(1950, 1, 1),
                "deceased_date": death,
                "site": "North",
            }
        )
        index = date(2023, 1, 15)
        self.rows["diagnoses"].append(
            {
                "condition_id": f"c-{pid}",
                "cohort": cohort,
                "patient_id": pid,
                "code_system": "icd",
                "code": "C34.9",
                "diagnosis_date": index,
                "encounter_id": f"e-{pid}",
            }
        )
        self.rows["encounters"].append(
            {
                "encounter_id": f"e-{pid}",
                "patient_id": pid,
                "class_code": "IMP",
                "status": "finished",
                "admit_at": pd.Timestamp(index, tz="UTC"),
                "admit_date": index,
                "discharge_at": pd.Timestamp(index + timedelta(days=2), tz="UTC"),
                "discharge_date": index + timedelta(days=2),
                "site": "North",
                "unit": unit,
            }
        )

    def talk(self, pid: str, when: date, clinician: str, domains: str, **extra: object) -> None:
        n = len(self.rows["conversations"])
        self.rows["conversations"].append(
            {
                "procedure_id": f"proc-{n:05d}",
                "patient_id": pid,
                "status": "completed",
                "performed_at": pd.Timestamp(when, tz="UTC"),
                "performed_date": when,
                "clinician_id": clinician,
                "site": "North",
                "unit": "Oncology ward",
                "quality_domains": domains,
                "quality_source": "questionnaire-response",
                **extra,
            }
        )

    def event(self, pid: str, kind: str, start: date, end: date | None = None, **extra: object) -> None:
        n = len(self.rows["care_events"])
        self.rows["care_events"].append(
            {"event_id": f"ev-{n:05d}", "patient_id": pid, "kind": kind, "start_date": start, "end_date": end}
            | extra
        )

    def frames(self) -> Frames:
        return Frames.from_records(**self.rows, locations=self.locations)


def build_population() -> Frames:
    b = Builder()
    for i in range(48):
        pid, death = f"a{i}", date(2024, 3, 1) + timedelta(days=i)
        b.person(pid, "cancer", death, "Oncology ward")
        if i < 12:
            b.event(pid, "stay", death - timedelta(days=5), death - timedelta(days=2), location_id="icu1")
        if i < 15:
            b.event(pid, "chemotherapy", death - timedelta(days=13))
        if i < 22:
            b.event(pid, "hospice", death - timedelta(days=1 if i < 11 else 10))
        if i < 36:
            b.talk(
                pid,
                death - timedelta(days=30),
                "Practitioner/onc",
                ALL_FOUR if i % 2 == 0 else TWO,
                care_focus=COMFORT if i < 12 or i >= 24 else SELECTIVE,
                code_status="dnr" if i < 24 else "full",
            )
        if i < 12:
            b.talk(pid, death - timedelta(days=300), "Practitioner/pal", ALL_FOUR if i % 2 == 0 else TWO)
        if 12 <= i < 24:
            b.event(pid, "cpr", death - timedelta(days=3))
    for i in range(15):
        pid, death = f"b{i}", date(2025, 2, 1) + timedelta(days=i)
        b.person(pid, "cancer", death, "Oncology ward")
        if i < 5:
            b.event(pid, "stay", death - timedelta(days=20), death - timedelta(days=10), location_id="icu1")
        if i < 12:
            b.talk(pid, death - timedelta(days=200), "Practitioner/pal", ALL_FOUR if i % 2 == 0 else TWO)
    clinicians = ("Practitioner/onc", "Practitioner/pal", FREE_TEXT)
    for p in range(24):
        pid = f"l{p}"
        b.person(pid, "cancer", None, "Oncology ward")
        for m in range(24):
            month = pd.Timestamp("2023-07-10") + pd.DateOffset(months=m)
            b.talk(pid, month.date(), clinicians[p % 3], ALL_FOUR if (p + m) % 2 == 0 else TWO)
    for i in range(12):
        b.person(f"s{i}", "stroke", date(2024, 5, 1) + timedelta(days=i), "Stroke unit")
    return b.frames()


POPULATION = build_population()


def context(**params) -> PanelContext:
    scope = parse_scope(
        {"as_of": "2025-06-30", "from": "2023-01-01", "cohort": "cancer", **params}, today=date(2025, 6, 30)
    )
    return PanelContext(POPULATION, scope, "test", departments=DEPARTMENTS)


def cell(table: pd.DataFrame, **where) -> pd.Series:
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, (where, rows)
    return rows.iloc[0]


def test_indicators_by_year_of_death_with_wilson_intervals_and_part_years():
    table = eol_indicators_table(context())
    assert set(table["year"]) == {"2024", "2025", "All"}
    chemo = cell(table, year="2024", measure="eol_chemo_last_14d")
    assert (chemo["numerator"], chemo["denominator"]) == (15, 48)
    assert chemo["rate"] == 15 / 48
    assert (chemo["lower"], chemo["upper"]) == pytest.approx(wilson(15, 48))
    hospice = cell(table, year="2024", measure="eol_hospice_lt3d")  # of the 22 enrolled
    assert (hospice["numerator"], hospice["denominator"], hospice["rate"]) == (11, 22, 0.5)
    assert cell(table, year="2024", measure="eol_no_hospice")["numerator"] == 26
    assert cell(table, year="2025", measure="eol_no_hospice")["numerator"] == 15
    # No one enrolled in 2025: no share of nobody.
    none = cell(table, year="2025", measure="eol_hospice_lt3d")
    assert (none["numerator"], none["denominator"]) == (0, 0) and pd.isna(none["rate"])
    six = cell(table, year="All", measure="sic_last_180d")
    assert (six["numerator"], six["denominator"]) == (36, 63)
    assert cell(table, year="2025", measure="sic_last_180d")["numerator"] == 0  # 200 days before
    # 2024 is a whole year of the period; 2025 runs to the data's last whole month (May).
    assert (cell(table, year="2024", measure="sic_last_180d")["part_year"]) is False
    part = cell(table, year="2025", measure="sic_last_180d")
    assert part["part_year"] is True and part["months"] == "Jan–May"
    assert not {"patient_id", "death_date"} & set(table.columns)


def test_a_small_year_is_hidden_with_its_partner_and_the_period_row_is_the_reports():
    ctx = context()
    table = eol_indicators_table(ctx)
    # ICU in the last 30 days: 12 in 2024, 5 in 2025, 17 in all. The 5 is hidden, and so is the 12
    # (else 17 - 12 gives it away); the period's 17 is shown, as in the report.
    assert cell(table, year="2025", measure="eol_icu_last_30d")["numerator"] == "<11"
    hidden = cell(table, year="2024", measure="eol_icu_last_30d")
    assert hidden["numerator"] == "suppressed" and pd.isna(hidden["rate"]) and pd.isna(hidden["lower"])
    whole = cell(table, year="All", measure="eol_icu_last_30d")
    assert (whole["numerator"], whole["denominator"]) == (17, 63)
    assert (whole["lower"], whole["upper"]) == pytest.approx(wilson(17, 63))
    report = ctx.report["cohorts"]["cancer"]["end_of_life"]
    for _, row in table[table["year"] == "All"].iterrows():
        assert row["numerator"] == report[row["measure"]], row["measure"]


def test_chemotherapy_is_a_cancer_indicator_only():
    table = eol_indicators_table(context(cohort="stroke"))
    assert "eol_chemo_last_14d" not in set(table["measure"])
    assert cell(table, year="All", measure="eol_no_hospice")["numerator"] == 12
    both = eol_indicators_table(context(cohort=None))
    assert set(both.loc[both["measure"] == "eol_chemo_last_14d", "cohort"]) == {"cancer"}


def test_concordance_counts_and_shares():
    table = concordance_table(context())
    comfort = cell(table, measure="concordance_comfort_focus_decedents")
    assert (comfort["count"], comfort["denominator"]) == (24, 63)
    icu = cell(table, measure="concordance_comfort_icu_cpr_mv_last_30d")
    assert (icu["count"], icu["denominator"], icu["share"]) == (12, 24, 0.5)
    assert (icu["lower"], icu["upper"]) == pytest.approx(wilson(12, 24))
    assert cell(table, measure="concordance_comfort_died_in_hospital")["count"] == 0
    dnr = cell(table, measure="dnr_then_cpr")
    assert (dnr["count"], dnr["denominator"], dnr["denominator_measure"]) == (12, 24, "dnr_decedents")
    # Nobody was DNR/DNI: zero of zero, no share.
    dni = cell(table, measure="dnr_dni_then_intubation")
    assert (dni["count"], dni["denominator"]) == (0, 0) and pd.isna(dni["share"])
    assert cell(table, measure="decedents")["count"] == 63


def test_documentation_quality_by_month_is_a_p_chart_and_the_open_month_is_no_signal():
    table = documentation_quality_table(context())
    assert list(dict.fromkeys(table["cohort"])) == ["all", "cancer"]
    everyone = table[table["cohort"] == "all"].set_index("month")
    # September 2023: only the 24 living patients' conversations, every second one complete.
    assert (everyone.loc["2023-09", "numerator"], everyone.loc["2023-09", "denominator"]) == (12, 24)
    assert everyone.loc["2023-09", "rate"] == 0.5
    assert set(everyone["chart"].dropna()) == {"p"}
    # The data end on 2025-06-10: June is not over, so it is drawn but has no limits or signal.
    june = everyone.loc["2025-06"]
    assert june["complete"] is False or june["complete"] == False  # noqa: E712 - numpy bool
    assert pd.isna(june["cl"]) and pd.isna(june["special_cause"])
    # The centre line pools the complete months whose counts are shown: May 2023 has only some of
    # A's early conversations (1-10), so it is hidden and left out.
    used = everyone[everyone["complete"].astype(bool) & everyone["rate"].notna()]
    assert "2023-05" not in used.index and everyone.loc["2023-05", "numerator"] == "<11"
    assert everyone.loc["2025-05", "cl"] == pytest.approx(
        used["numerator"].astype(int).sum() / used["denominator"].astype(int).sum()
    )


def test_documentation_funnel_by_department():
    table = documentation_funnel_table(context()).set_index("group")
    # Oncology: 8 living patients x 24 months + the 36 decedents' last conversations.
    assert (table.loc["Oncology", "numerator"], table.loc["Oncology", "denominator"]) == (114, 228)
    # Palliative care: 192 + 12 early conversations of A + 12 of B.
    assert (table.loc["Palliative care", "numerator"], table.loc["Palliative care", "denominator"]) == (
        108,
        216,
    )
    # The free-text performer has no department.
    assert (table.loc[UNKNOWN_DEPARTMENT, "numerator"], table.loc[UNKNOWN_DEPARTMENT, "denominator"]) == (
        96,
        192,
    )
    assert table["overall"].iloc[0] == pytest.approx(318 / 636)
    assert {"lower_95", "upper_99.8", "outside_95"} <= set(table.columns)


def test_six_months_measure_by_the_department_of_the_last_conversation_and_by_unit():
    table = sic_by_department_table(context())
    department = table[table["breakdown"] == "department"].set_index("group")
    # A's first 12 also talked with palliative care earlier: the last conversation decides.
    assert (department.loc["Oncology", "numerator"], department.loc["Oncology", "denominator"]) == (36, 36)
    assert department.loc["Oncology", "rate"] == 1.0
    assert (
        department.loc["Palliative care", "numerator"],
        department.loc["Palliative care", "denominator"],
    ) == (
        0,
        12,
    )
    assert department.loc[NO_CONVERSATION, "denominator"] == 15
    assert (department.loc["All", "numerator"], department.loc["All", "denominator"]) == (36, 63)
    unit = table[table["breakdown"] == "unit"].set_index("group")
    assert (unit.loc["Oncology ward", "numerator"], unit.loc["Oncology ward", "denominator"]) == (36, 63)
    lower, upper = wilson(36, 63)
    assert (unit.loc["All", "lower"], unit.loc["All", "upper"]) == pytest.approx((lower, upper))


def test_without_known_departments_every_conversation_is_unknown():
    scope = parse_scope(
        {"as_of": "2025-06-30", "from": "2023-01-01", "cohort": "cancer"}, today=date(2025, 6, 30)
    )
    ctx = PanelContext(POPULATION, scope, "test")
    funnel = documentation_funnel_table(ctx)
    assert list(funnel["group"]) == [UNKNOWN_DEPARTMENT]
    groups = set(sic_by_department_table(ctx).query("breakdown == 'department'")["group"])
    assert groups == {UNKNOWN_DEPARTMENT, NO_CONVERSATION, "All"}


def test_small_groups_are_merged_before_they_are_shown():
    # 2025 only: 12 decedents whose last conversation was with palliative care and 3 with none.
    # The 3 cannot stand alone, nor as "Other or unknown": they join the smallest group.
    table = sic_by_department_table(context(**{"from": "2025-01-01"}))
    department = table[table["breakdown"] == "department"].set_index("group")
    assert list(department.index) == ["Palliative care, other or unknown", "All"]
    assert (department.iloc[0]["numerator"], department.iloc[0]["denominator"]) == (0, 15)
    for value in table[["numerator", "denominator"]].to_numpy().ravel():
        assert not (isinstance(value, int) and 1 <= value <= 10), table


def test_every_goals_and_care_kind_draws_a_titled_figure_without_small_counts():
    ctx = context(cohort=None)
    kinds = ("eol_indicators", "concordance", "documentation_quality", "documentation_funnel")
    for kind in (*kinds, "sic_last_180d_by_department"):
        assert kind in KINDS
        spec = {"id": kind, "kind": kind, "title": f"Title {kind}"}
        table = panel_table(ctx, spec)
        figures = panel_figures(spec, table, list(ctx.scope.cohorts))
        assert figures, kind
        for fig in figures:
            assert fig.layout.title.text.startswith("Title"), kind
            assert not small_counts(fig), kind


def test_an_empty_period_gives_empty_tables_and_explaining_figures():
    ctx = context(**{"from": "2010-01-01", "to": "2010-12-31"})
    for kind in ("eol_indicators", "concordance", "documentation_quality", "documentation_funnel"):
        spec = {"id": kind, "kind": kind, "title": kind}
        figures = panel_figures(spec, panel_table(ctx, spec), ["cancer"])
        assert figures and all(f.layout.title.text for f in figures)
