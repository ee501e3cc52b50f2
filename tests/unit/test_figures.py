"""Figure builders on hand-made suppressed tables: the expected traces, and no count of 1-10 in any hover."""

import re

import pandas as pd
import pytest

from sicdoc.figures.bands import bands_by_year_figure, bands_figure
from sicdoc.figures.control import control_figure
from sicdoc.figures.funnel import funnel_figure
from sicdoc.figures.headline import headline_figure
from sicdoc.figures.incidence import incidence_figure
from sicdoc.figures.panels import panel_figures
from sicdoc.figures.quality import quality_figure
from sicdoc.figures.strata import strata_figure
from sicdoc.figures.theme import EMPTY_MESSAGE, MDC, count_text
from tests.unit.figure_checks import monthly_rows, small_counts


def test_count_text_never_prints_a_small_count_it_was_not_given():
    assert count_text("<11") == "<11"
    assert count_text(0) == "0"
    assert count_text(1234) == "1,234"
    assert count_text(None) == "–"


def test_headline_table_has_a_column_per_cohort_and_intervals():
    table = pd.DataFrame(
        [
            ["stroke", "index_patients", "Patients", 120, None, None, 120, None],
            ["stroke", "decedents_referred", "Referred", 0.5, 0.4, 0.6, 30, 60],
            ["stroke", "decedents_with_sic", "With SIC", None, None, None, "<11", 60],
            ["cancer", "index_patients", "Patients", "<11", None, None, "<11", None],
        ],
        columns=["cohort", "measure", "label", "value", "lower", "upper", "numerator", "denominator"],
    )
    fig = headline_figure(table)
    assert [t.type for t in fig.data] == ["table"]
    header = fig.data[0].header.values
    assert list(header) == ["Measure", "Stroke", "Cancer"]
    cells = fig.data[0].cells.values
    assert cells[1][1] == "50.0% (40.0%–60.0%) of 60"
    assert cells[1][2].startswith("hidden")
    assert cells[2][0] == "<11"
    assert not small_counts(fig)


def test_incidence_curves_are_step_lines_with_bands_and_gaps_where_hidden():
    table = pd.DataFrame(
        {
            "cohort": ["stroke"] * 4 + ["cancer"] * 4,
            "day": [0, 30, 60, 90] * 2,
            "estimate": [0.0, 0.2, None, 0.35, 0.0, 0.1, 0.15, 0.2],
            "lower": [None, 0.15, None, 0.3, None, 0.05, 0.1, 0.15],
            "upper": [None, 0.25, None, 0.4, None, 0.15, 0.2, 0.25],
        }
    )
    fig = incidence_figure(table, "Referral")
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["Stroke", "Cancer"]
    assert all(t.line.shape == "hv" for t in lines)
    assert sum(1 for t in fig.data if t.fill == "tonexty") == 2
    assert pd.isna(lines[0].y[2])  # the hidden point breaks the line


def test_empty_tables_give_an_explained_empty_chart():
    empty = pd.DataFrame(columns=["cohort", "day", "estimate", "lower", "upper"])
    fig = incidence_figure(empty, "Referral")
    assert fig.data == ()
    assert "Too few patients" in fig.layout.annotations[0].text
    quality = quality_figure(pd.DataFrame(columns=["cohort", "flag", "records"]))
    assert quality.layout.annotations[0].text == EMPTY_MESSAGE


def test_bands_are_grouped_and_hidden_cells_have_no_bar_and_no_count():
    table = pd.DataFrame(
        {
            "cohort": ["stroke"] * 6,
            "band": ["never", "0-7", "8-30", "31-90", "gt90", "All"],
            "decedents": [40, "<11", "suppressed", 25, 0, 90],
        }
    )
    fig = bands_figure(table)
    assert fig.layout.barmode == "group"
    assert len(fig.data) == 5
    assert fig.data[1].y == (0,) and fig.data[1].text == ("<11",)
    assert fig.data[2].text == ("hidden",)
    assert "<11" in fig.data[1].hovertext[0]
    assert not small_counts(fig)


def test_bands_by_year_use_a_cohort_and_year_axis():
    table = pd.DataFrame(
        {
            "cohort": ["stroke", "stroke", "stroke"],
            "year": ["2024", "2025", "All"],
            "never": [20, 20, 40],
            "0-7": ["<11", "suppressed", 25],
            "8-30": [0, 0, 0],
            "31-90": [15, 0, 15],
            "gt90": [0, 0, 0],
            "decedents": [45, 35, 80],
        }
    )
    fig = bands_by_year_figure(table)
    assert len(fig.data) == 5
    assert list(fig.data[0].x) == ["2024", "2025"]
    assert not small_counts(fig)


def test_p_chart_draws_limits_target_and_special_cause_in_mdc_colours():
    rows = monthly_rows(24, "p", special=5)
    rows.loc[7, ["numerator", "denominator", "rate"]] = ["<11", "suppressed", None]
    fig = control_figure(rows, "Early referral", target=0.6, improvement="increase")
    names = [t.name for t in fig.data]
    assert "centre line" in names and "control limits (3σ)" in names
    points = next(t for t in fig.data if t.name == "month")
    assert points.marker.color[5] == MDC["improvement"]
    assert points.marker.color[0] == MDC["common"]
    assert "special cause: outside" in points.hovertext[5]
    hidden = next(t for t in fig.data if t.name == "suppressed (<11)")
    assert len(hidden.x) == 1 and "suppressed (<11)" in hidden.hovertext[0]
    assert any(shape.line.color == MDC["target"] for shape in fig.layout.shapes)
    assert "p-chart" in fig.layout.title.text
    assert not small_counts(fig)


def test_a_worse_special_cause_is_a_concern():
    fig = control_figure(monthly_rows(24, "p", special=3), "x", improvement="decrease")
    points = next(t for t in fig.data if t.name == "month")
    assert points.marker.color[3] == MDC["concern"]


def test_run_chart_below_twenty_points_states_the_anhoej_verdict():
    rows = monthly_rows(12, "run")
    rows["run_signal"] = True
    fig = control_figure(rows, "Early referral")
    assert "run chart" in fig.layout.title.text and "non-random" in fig.layout.title.text
    assert "control limits (3σ)" not in [t.name for t in fig.data]
    assert "median" in [t.name for t in fig.data]


def test_xmr_of_monthly_median_days():
    rows = monthly_rows(22, "xmr").rename(columns={"rate": "median_days", "numerator": "referred_decedents"})
    rows["median_days"] = 12.0
    fig = control_figure(rows, "Days", value="median_days", counts=("referred_decedents",), percent=False)
    assert "XmR chart" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == "median days"


def _funnel_table(**columns) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": ["A", "B", "C", "D"],
            "numerator": [30, 5 * 0 + 12, "<11", 40],
            "denominator": [100, 60, "<11", 50],
            "rate": [0.3, 0.2, None, 0.8],
            "overall": 0.35,
            "outside_95": [False, True, None, True],
            "outside_99.8": [False, False, None, True],
            "overdispersion": "multiplicative",
            "phi": 2.4,
            "tau2": None,
            "limits_widened": False,
            **columns,
        }
    )


def test_funnel_has_both_limit_pairs_and_colours_outliers():
    fig = funnel_figure(_funnel_table(), "Units")
    names = {t.name for t in fig.data}
    assert {"95% limits", "99.8% limits", "units"} <= names
    assert sum(1 for t in fig.data if t.name in ("95% limits", "99.8% limits")) == 4
    dots = next(t for t in fig.data if t.name == "units")
    assert len(dots.x) == 3
    assert list(dots.marker.color) == [MDC["common"], MDC["neutral"], MDC["concern"]]
    assert "1 unit(s) not shown" in fig.layout.annotations[-1].text
    assert not small_counts(fig)


def _title_text(fig) -> str:
    """The title as read: tags and line breaks dropped."""
    return " ".join(re.sub(r"<[^>]+>", " ", fig.layout.title.text).split())


def test_funnel_subtitle_names_the_limits_and_a_target_line_only_when_configured():
    plain = funnel_figure(_funnel_table(), "Units")
    # Three shown units: too few to act on φ.
    assert (
        "Units 99.8% and 95% exact binomial limits; too few units to estimate overdispersion (3, fewer than 10)"
        in _title_text(plain)
    )
    assert not any("target" in (a.text or "") for a in plain.layout.annotations)
    assert any(a.text == "overall 35.0%" for a in plain.layout.annotations)
    aimed = funnel_figure(_funnel_table(target=0.3), "Units")
    assert any(a.text == "target 30%" for a in aimed.layout.annotations)
    assert any(s.line.color == MDC["target"] for s in aimed.layout.shapes)
    assert {"outside 95% limits", "outside 99.8% limits"} <= {t.name for t in plain.data}


def test_funnel_limits_widen_with_phi_from_ten_or_more_units():
    rows = 12
    table = pd.DataFrame(
        {
            "group": [f"U{i}" for i in range(rows)],
            "numerator": [20 + (i - 6) * 3 for i in range(rows)],
            "denominator": [100] * rows,
            "overall": 0.2,
            "overdispersion": "multiplicative",
            "phi": 2.4,
            "tau2": None,
            "limits_widened": True,
        }
    )
    table["rate"] = table["numerator"] / table["denominator"]
    widened = funnel_figure(table, "Units")
    assert (
        "99.8% and 95% exact binomial limits, widened for overdispersion (φ = 2.40, multiplicative, "
        "Spiegelhalter 2005)"
    ) in _title_text(widened)
    plain = funnel_figure(table.assign(overdispersion="none", limits_widened=False), "Units")
    assert "no allowance for overdispersion (φ = 2.40)" in _title_text(plain)
    top = [max(y for t in f.data if t.name == "99.8% limits" for y in t.y) for f in (widened, plain)]
    assert top[0] > top[1]  # the widened curve sits further out


def test_strata_bars_per_stratum_and_hidden_groups_without_a_bar():
    table = pd.DataFrame(
        {
            "cohort": ["stroke"] * 4,
            "stratum": ["sex", "sex", "sex", "language"],
            "group": ["female", "male", "All", "en"],
            "numerator": [20, "<11", 28, 15],
            "denominator": [50, "suppressed", 80, 60],
            "rate": [0.4, None, 0.35, 0.25],
        }
    )
    fig = strata_figure(table, "Equity")
    assert len(fig.data) == 2
    assert fig.data[0].orientation == "h"
    assert fig.data[0].x[1] is None
    assert not small_counts(fig)


def test_quality_panel_lists_flags_per_cohort():
    table = pd.DataFrame(
        {
            "cohort": ["stroke", "stroke"],
            "flag": ["referral_after_death", "consult_before_referral"],
            "records": ["<11", 0],
        }
    )
    fig = quality_figure(table)
    cells = fig.data[0].cells.values
    assert cells[0][0] == "Referral dated after death"
    assert list(cells[1]) == ["<11", "0"]


@pytest.mark.parametrize("kind", ["monthly", "interval"])
def test_monthly_panels_give_one_figure_per_cohort(kind):
    rows = monthly_rows(12, "run")
    if kind == "interval":
        rows = rows.rename(columns={"rate": "median_days", "numerator": "referred_decedents"})
    spec = {"id": "x", "kind": kind, "title": "T", "series": "referral_gt30d_before_death"}
    figs = panel_figures(spec, rows, ["stroke", "cancer"])
    assert len(figs) == 2
    assert "No months" in figs[0].layout.annotations[0].text


def test_proportion_texts_show_suppressed_cells_as_text():
    from sicdoc.figures.theme import proportion_texts

    rows = pd.DataFrame(
        {"group": ["A", "B"], "rate": [0.5, None], "numerator": [12, "<11"], "denominator": [24, 30]}
    )
    assert proportion_texts(rows) == [("A", "50.0%", "12", "24"), ("B", "hidden", "<11", "30")]
