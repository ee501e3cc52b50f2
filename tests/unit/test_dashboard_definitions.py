"""Dashboard definition files: the shipped one loads, and every mistake names its file and field."""

import json
from pathlib import Path

import pandas as pd
import pytest

from sicdoc.dashboards.definitions import DefinitionError, load_definitions

ROOT = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, content) -> None:
    (folder / name).write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")


def board(**changes) -> dict:
    base = {
        "id": "mini",
        "title": "Mini",
        "panels": [
            {"id": "early", "kind": "monthly", "title": "Early", "series": "referral_gt30d_before_death"}
        ],
    }
    return base | changes


def test_the_shipped_dashboards_load():
    boards = load_definitions(ROOT / "dashboards")
    overview = boards["qi-overview"]
    kinds = {p["kind"] for p in overview.panels}
    assert kinds == {
        "headline",
        "incidence",
        "bands",
        "bands_by_year",
        "monthly",
        "interval",
        "unit_funnel",
        "clinician_funnel",
        "strata",
        "quality",
        "period_comparison",
        "reach",
    }
    assert overview.panel("early-referral")["target"] == 0.5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        (board(panels=[]), "panels: must be a non-empty list"),
        (board(panels=[{"id": "x", "kind": "pie", "title": "X"}]), "panels[0].kind: unknown kind 'pie'"),
        (board(panels=[{"id": "x", "kind": "monthly", "title": "X"}]), "panels[0].series: must be one of"),
        (board(panels=[{"id": "X!", "kind": "quality", "title": "X"}]), "panels[0].id"),
        (
            board(panels=[{"id": "x", "kind": "quality", "title": "X", "colour": "red"}]),
            "panels[0].colour: unknown field",
        ),
        (board(colour="red"), "colour: unknown field"),
        (["not", "an", "object"], "top level: must be an object"),
        (board(panels=[3]), "panels[0]: must be an object"),
        (board(panels=[{"id": "x", "kind": "quality", "title": " "}]), "panels[0].title: is required text"),
        (
            board(panels=[{"id": "x", "kind": "quality", "title": "X", "series": "referred_within_90d"}]),
            "panels[0].series: is not an option of quality panels",
        ),
        (board(panels=[{"id": "x", "kind": "quality", "title": "X", "target": "0.5"}]), "panels[0].target"),
        (board(panels=[{"id": "x", "kind": "quality", "title": "X", "hours": 36}]), "panels[0].hours"),
        (
            board(panels=[{"id": "x", "kind": "unit_funnel", "title": "X", "overdispersion": "random"}]),
            "panels[0].overdispersion: must be one of multiplicative, additive, none",
        ),
        (
            board(panels=[{"id": "x", "kind": "quality", "title": "X", "overdispersion": "additive"}]),
            "panels[0].overdispersion: is not an option of quality panels",
        ),
        (
            board(panels=[{"id": "x", "kind": "clinician_funnel", "title": "X", "target": 30}]),
            "panels[0].target: must be a proportion from 0 to 1",
        ),
        (board(min_cell=True), "min_cell: must be a whole number from 11"),
        (board(default_period_months=12.0), "default_period_months: must be a whole number"),
        (board(panels=[{"id": "x", "kind": "quality", "title": "X", "target": "high"}]), "panels[0].target"),
        (board(min_cell=5), "min_cell: must be a whole number from 11"),
        (
            board(phases=[{"start": "2025-02-30", "label": "QI"}]),
            "phases[0].start: must be a date written YYYY-MM-DD",
        ),
        (board(phases=[{"start": "2025-01-01"}]), "phases[0].label: is required text"),
        (board(phases=[{"label": "QI"}]), "phases[0].start: is a required date"),
        (
            board(phases=[{"start": "2025-06-01", "label": "A"}, {"start": "2025-01-01", "label": "B"}]),
            "phases[1].start: must be after the start of phase 0 (2025-06-01)",
        ),
        (
            board(phases=[{"start": "2025-01-01", "label": "A"}, {"start": "2026-01-01", "label": "A"}]),
            "phases[1].label: is the label of another phase",
        ),
        (
            board(phases=[{"start": "2025-01-01", "label": "baseline"}]),
            "phases[0].label: is kept for the baseline",
        ),
        (
            board(phases=[{"start": "2025-01-01", "label": "QI", "end": "2026"}]),
            "phases[0].end: unknown field",
        ),
        (board(phases="2025-01-01"), "phases: must be a list"),
        (
            board(panels=[{"id": "x", "kind": "period_comparison", "title": "X"}]),
            "panels[0].series: must be one of",
        ),
        (
            board(
                panels=[
                    {"id": "x", "kind": "quality", "title": "X"},
                    {"id": "x", "kind": "bands", "title": "Y"},
                ]
            ),
            "panel ids repeat",
        ),
    ],
)
def test_bad_definitions_are_refused_with_file_and_field(tmp_path, content, message):
    write(tmp_path, "broken.json", content)
    with pytest.raises(DefinitionError) as caught:
        load_definitions(tmp_path)
    assert "broken.json" in str(caught.value) or "no dashboard" in str(caught.value)
    assert message in str(caught.value)


def test_phases_are_read_in_order_with_their_labels(tmp_path):
    from datetime import date

    from sicdoc.analytics.phases import Phase

    write(tmp_path, "a.json", board(phases=[{"start": "2025-01-01", "label": "QI programme"}]))
    assert load_definitions(tmp_path)["mini"].phases == (Phase(date(2025, 1, 1), "QI programme"),)
    write(tmp_path, "a.json", board())
    assert load_definitions(tmp_path)["mini"].phases == ()
    assert load_definitions(ROOT / "dashboards")["qi-overview"].phases[0].label == "QI programme"


def test_panel_ids_are_unique_across_dashboards(tmp_path):
    write(tmp_path, "a.json", board(id="a"))
    write(tmp_path, "b.json", board(id="b"))
    with pytest.raises(DefinitionError, match=r"panel id 'early' is also used in a\.json"):
        load_definitions(tmp_path)


def test_definitions_figures_and_tables_read_one_registry_of_kinds():
    from sicdoc.analytics.panels import KINDS, PANEL_OPTIONS, SERIES
    from sicdoc.analytics.panels.curves import LAST_DAY
    from sicdoc.figures.panels import FIGURES

    assert set(FIGURES) == set(KINDS)
    assert {
        "incidence": {"measure": tuple(LAST_DAY)},
        "monthly": {"series": tuple(SERIES)},
        "period_comparison": {"series": tuple(SERIES)},
    } == PANEL_OPTIONS


def test_a_kind_added_to_the_registry_is_accepted_by_definitions(tmp_path, monkeypatch):
    from sicdoc.analytics import panels

    monkeypatch.setitem(panels.KINDS, "sparkline", panels.PanelKind(lambda ctx, spec: None))
    write(tmp_path, "a.json", board(panels=[{"id": "p", "kind": "sparkline", "title": "S"}]))
    assert load_definitions(tmp_path)["mini"].panels[0]["kind"] == "sparkline"


def test_an_empty_or_missing_folder_is_an_error(tmp_path):
    with pytest.raises(DefinitionError, match="no dashboard definitions"):
        load_definitions(tmp_path)
    with pytest.raises(DefinitionError, match="does not exist"):
        load_definitions(tmp_path / "nope")


def test_the_app_refuses_to_start_with_a_broken_definition(tmp_path):
    from sicdoc.app import create_app

    write(tmp_path, "broken.json", board(panels=[{"id": "x", "kind": "pie", "title": "X"}]))
    with pytest.raises(RuntimeError, match=r"broken\.json: panels\[0\]\.kind"):
        create_app(
            {
                "TESTING": True,
                "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
                "DASHBOARDS_DIR": str(tmp_path),
            }
        )


def test_csv_text_that_looks_like_a_formula_stays_text():
    import pandas as pd

    from sicdoc.dashboards.download import table_csv

    table = pd.DataFrame({"group": ["=HYPERLINK(1)", "Ward 5", "-x"], "numerator": [12, -1, "<11"]})
    assert table_csv(table).splitlines() == ["group,numerator", "'=HYPERLINK(1),12", "Ward 5,-1", "'-x,<11"]


def test_tables_and_figures_refuse_a_kind_outside_the_registry():
    from sicdoc.analytics.panels import panel_table
    from sicdoc.figures.panels import panel_figures

    with pytest.raises(ValueError, match="unknown panel kind 'pie'"):
        panel_table(None, {"kind": "pie"})
    with pytest.raises(ValueError, match="unknown panel kind 'pie'"):
        panel_figures({"kind": "pie", "title": "P"}, pd.DataFrame(), [])


def test_funnel_panels_take_an_overdispersion_method_and_a_target(tmp_path):
    panels = [
        {"id": "u", "kind": "unit_funnel", "title": "U", "overdispersion": "additive", "target": 0.3},
        {"id": "c", "kind": "clinician_funnel", "title": "C"},
    ]
    write(tmp_path, "funnels.json", board(panels=panels))
    loaded = load_definitions(tmp_path)["mini"]
    assert loaded.panel("u")["overdispersion"] == "additive" and loaded.panel("u")["target"] == 0.3
    assert "overdispersion" not in loaded.panel("c")  # the tables default to multiplicative
