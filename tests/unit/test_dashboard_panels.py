"""Panel tables and their figures from hand-built frames: suppression holds end to end."""

from datetime import date

from sicdoc.analytics import Frames
from sicdoc.analytics.panels import KINDS, PanelContext, panel_table
from sicdoc.analytics.scope import parse_scope
from sicdoc.figures.panels import panel_figures
from tests.unit.figure_checks import small_counts
from tests.unit.panel_population import population


def build(frames: Frames, **params):
    scope = parse_scope({"as_of": "2025-06-30", "from": "2023-01-01", **params}, today=date(2025, 6, 30))
    ctx = PanelContext(frames, scope, "test")
    specs = [
        {"id": k, "kind": k, "title": k, "measure": "referral", "series": "referral_gt30d_before_death"}
        for k in KINDS
    ]
    return {
        s["kind"]: (panel_table(ctx, s), panel_figures(s, panel_table(ctx, s), list(scope.cohorts)))
        for s in specs
    }


def test_a_small_population_shows_no_count_of_one_to_ten_anywhere():
    for kind, (table, figures) in build(population(25)).items():
        for value in table.to_numpy().ravel():
            if isinstance(value, int) and not isinstance(value, bool):
                assert not 1 <= value <= 10, (kind, table)
        for fig in figures:
            assert not small_counts(fig), kind


def test_a_larger_population_draws_curves_and_bands():
    built = build(population(400))
    curve = built["incidence"][0]
    stroke = curve[curve["cohort"] == "stroke"].set_index("day")
    # Half are referred on day 20 and nobody dies before day 60: 50% by day 30.
    assert stroke.loc[30, "estimate"] == 0.5
    bands = built["bands"][0].set_index(["cohort", "band"])["decedents"]
    assert bands[("stroke", "All")] == 134
    assert bands[("stroke", "31-90")] == 67  # referred on day 20, died on day 60: 40 days
    headline = built["headline"][0].set_index(["cohort", "measure"])
    assert headline.loc[("stroke", "decedents_referred"), "value"] == 67 / 134


def test_the_panel_report_equals_compute_metrics():
    from sicdoc.analytics import compute_metrics

    frames = population(200)
    for params in ({}, {"cohort": "stroke", "from": "2024-03-01"}, {"site": "North", "unit": "Neuro"}):
        scope = parse_scope({"as_of": "2025-06-30", **params}, today=date(2025, 6, 30))
        expected = compute_metrics(
            frames,
            as_of=scope.as_of,
            period_from=scope.period_from,
            period_to=scope.period_to,
            cohorts=list(scope.cohorts),
            value_set_version="test",
            site=scope.site,
            unit=scope.unit,
        )
        assert PanelContext(frames, scope, "test").report == expected


def test_an_empty_period_gives_empty_tables_not_errors():
    built = build(population(30), **{"from": "2030-01-01", "to": "2030-12-31", "as_of": "2025-06-30"})
    for kind, (_table, figures) in built.items():
        assert figures, kind
