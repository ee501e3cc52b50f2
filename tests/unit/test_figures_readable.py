"""Readable on screen and on paper: whole titles, legends under the plot, a colour key on control
charts, tables tall enough for every row, and part years labelled and drawn as shares."""

from datetime import date

import pandas as pd
import pytest

from sicdoc.analytics.panels.overview import year_coverage
from sicdoc.figures.bands import bands_by_year_figure, bands_figure
from sicdoc.figures.control import control_figure
from sicdoc.figures.headline import headline_figure
from sicdoc.figures.incidence import incidence_figure
from sicdoc.figures.quality import quality_figure
from sicdoc.figures.theme import (
    MDC,
    TITLE_CHARS,
    table_rows_px,
    template,
    themed,
    title_lines,
    wrap_title,
)
from tests.unit.figure_checks import monthly_rows

LONG = (
    "Stroke and heart-failure admissions with a palliative consult or conversation within 72 hours, "
    "by unit — Heart failure: p-chart — non-random variation (Anhøj rules)"
)


def test_a_long_title_wraps_into_lines_that_keep_every_word():
    lines = wrap_title(LONG).split("<br>")
    assert len(lines) >= 3
    assert all(len(line) <= TITLE_CHARS for line in lines)
    assert " ".join(lines) == LONG


def test_a_short_title_stays_on_one_line_and_a_long_word_is_not_broken():
    assert wrap_title("Headline figures") == "Headline figures"
    word = "x" * (TITLE_CHARS + 5)
    assert wrap_title(f"a {word} b").split("<br>") == ["a", word, "b"]


def test_the_top_margin_and_height_grow_with_the_title_lines():
    import plotly.graph_objects as go

    one = themed(go.Figure(), "Short")
    three = themed(go.Figure(), LONG)
    extra_lines = len(title_lines(three)) - 1
    assert extra_lines >= 2
    assert three.layout.margin.t - one.layout.margin.t >= 20 * extra_lines
    assert three.layout.height - one.layout.height == three.layout.margin.t - one.layout.margin.t


def test_the_legend_sits_under_the_plot_at_the_foot_of_the_figure():
    legend = template().layout.legend
    assert legend.orientation == "h"
    assert legend.yref == "container" and legend.y == 0 and legend.yanchor == "bottom"
    # the bottom margin leaves room for the axis and the legend, the title keeps the top
    assert template().layout.margin.b >= 100


def test_a_control_chart_title_keeps_its_cohort_and_chart_name():
    rows = monthly_rows(24, "p")
    rows["cohort"] = "heart_failure"
    fig = control_figure(rows, "Referred decedents first referred over 30 days before death")
    text = " ".join(title_lines(fig))
    assert text.endswith("— Heart failure: p-chart")
    assert all(len(line) <= TITLE_CHARS for line in title_lines(fig))


@pytest.mark.parametrize("improvement", ["increase", "decrease"])
def test_control_charts_carry_a_colour_key_for_special_causes(improvement):
    fig = control_figure(monthly_rows(24, "p", special=5), "Early referral", improvement=improvement)
    key = {t.name: t.marker.color for t in fig.data if t.meta == "colour-key"}
    assert key == {
        "common cause": MDC["common"],
        "special cause: better": MDC["improvement"],
        "special cause: worse": MDC["concern"],
    }
    assert all(t.showlegend is not False for t in fig.data if t.meta == "colour-key")
    points = next(t for t in fig.data if t.name == "month")
    assert points.showlegend is False  # its colours are named by the key instead


def test_a_neutral_measure_has_one_special_cause_colour_and_a_run_chart_no_key():
    fig = control_figure(monthly_rows(24, "xmr", special=2), "Days", improvement="neutral")
    assert [t.name for t in fig.data if t.meta == "colour-key"] == ["common cause", "special cause"]
    run = control_figure(monthly_rows(12, "run"), "Early referral")
    assert not [t for t in run.data if t.meta == "colour-key"]


def _headline(rows: int) -> pd.DataFrame:
    labels = [
        "Patients with an index diagnosis",
        "Referred within 90 days (cumulative incidence)",
        "Decedents whose first conversation was over 30 days before death",
        "Admissions with a consult or conversation within 72 h",
    ]
    out = []
    for i in range(rows):
        for cohort in ("stroke", "heart_failure", "cancer"):
            out.append([cohort, f"m{i}", labels[i % 4], 0.456, 0.401, 0.512, 120, 1234])
    return pd.DataFrame(
        out, columns=["cohort", "measure", "label", "value", "lower", "upper", "numerator", "denominator"]
    )


@pytest.mark.parametrize("rows", [1, 11, 16])
def test_the_headline_table_is_tall_enough_for_every_row(rows):
    fig = headline_figure(_headline(rows))
    table = fig.data[0]
    widths = list(table.columnwidth)
    needed = sum(table_rows_px([list(c) for c in table.cells.values], widths))
    area = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    header = table_rows_px([[h] for h in table.header.values], widths)[0]
    assert area >= needed + header
    # every row needs at least a line of text, and a wrapped label more than one
    assert needed >= 28 * rows
    assert max(table_rows_px([list(c) for c in table.cells.values], widths)) > 28


def test_the_quality_table_is_tall_enough_for_every_row():
    table = pd.DataFrame(
        {"cohort": ["stroke"] * 4, "flag": ["a", "b", "c", "d"], "records": [0, "<11", 12, 0]}
    )
    fig = quality_figure(table)
    assert fig.layout.height - fig.layout.margin.t - fig.layout.margin.b >= 28 * 5


def test_every_chart_kind_keeps_its_whole_title():
    table = pd.DataFrame(
        {
            "cohort": ["stroke"] * 2,
            "day": [0, 30],
            "estimate": [0.0, 0.2],
            "lower": [None, 0.1],
            "upper": [None, 0.3],
        }
    )
    fig = incidence_figure(table, LONG)
    assert " ".join(title_lines(fig)) == LONG


def test_bands_are_grouped_shares_with_every_band_labelled():
    table = pd.DataFrame(
        {
            "cohort": ["stroke"] * 6,
            "band": ["never", "0-7", "8-30", "31-90", "gt90", "All"],
            "decedents": [40, "<11", "suppressed", 25, 0, 90],
        }
    )
    fig = bands_figure(table)
    assert fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == [
        "never referred",
        "0-7 days",
        "8-30 days",
        "31-90 days",
        "over 90 days",
    ]
    assert fig.data[0].y[0] == pytest.approx(40 / 90) and fig.data[0].text[0] == "44%"
    assert fig.data[1].y[0] == 0 and fig.data[1].text[0] == "<11"  # hidden: no bar, its label only
    assert fig.data[4].text[0] == "0%"
    assert "40 of 90 decedents" in fig.data[0].hovertext[0]
    assert fig.layout.yaxis.tickformat == ".0%"


def test_year_coverage_names_the_months_of_a_part_year():
    assert year_coverage(2024, date(2023, 7, 1), date(2026, 6, 30)) == ("Jan–Dec", False)
    assert year_coverage(2023, date(2023, 7, 1), date(2026, 6, 30)) == ("Jul–Dec", True)
    assert year_coverage(2026, date(2023, 7, 1), date(2026, 6, 30)) == ("Jan–Jun", True)
    assert year_coverage(2020, None, date(2026, 6, 30)) == ("Jan–Dec", False)


def test_part_years_are_labelled_and_drawn_as_shares_like_whole_years():
    table = pd.DataFrame(
        {
            "cohort": ["stroke"] * 3 + ["cancer"] * 2,
            "year": ["2025", "2026", "All", "2026", "All"],
            "never": [20, 20, 40, 30, 30],
            "0-7": [40, 12, 52, 0, 0],
            "8-30": [0, 0, 0, 0, 0],
            "31-90": [15, 0, 15, 0, 0],
            "gt90": [0, 0, 0, 0, 0],
            "decedents": [75, 32, 107, 30, 30],
            "months": ["Jan–Dec", "Jan–Jun", None, "Jan–Jun", None],
            "part_year": [False, True, None, True, None],
        }
    )
    fig = bands_by_year_figure(table)
    assert list(fig.data[0].x) == ["2025", "2026<br>part year (Jan–Jun)"]
    assert fig.data[1].y[1] == pytest.approx(12 / 32)  # a share, comparable with the whole year's
    assert "part year (Jan–Jun)" in fig.data[1].hovertext[1]
    assert {a.text for a in fig.layout.annotations} >= {"Stroke", "Cancer"}  # a row per cohort
    assert sum(1 for t in fig.data if t.showlegend is not False) == 5  # one legend entry per band


def test_the_bands_by_year_table_says_which_years_are_part_years():
    from sicdoc.analytics.panels import PanelContext
    from sicdoc.analytics.panels.overview import bands_by_year_table
    from sicdoc.analytics.scope import parse_scope
    from tests.unit.panel_population import population

    scope = parse_scope({"as_of": "2025-06-30", "from": "2024-03-01"}, today=date(2025, 6, 30))
    table = bands_by_year_table(PanelContext(population(400), scope, "test"))
    years = table[table["cohort"] == "stroke"].set_index("year")
    assert years.loc["2024", ["months", "part_year"]].tolist() == ["Mar–Dec", True]
    assert bool(years.loc["2025", "part_year"]) and years.loc["2025", "months"].startswith("Jan–")
    assert pd.isna(years.loc["All", "months"])
