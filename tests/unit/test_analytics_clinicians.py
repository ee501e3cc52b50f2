"""Clinician labels in QI outputs: names or keyed pseudonyms, never resource ids."""

import re
from datetime import date

import pytest

from sicdoc.analytics.clinicians import ClinicianLabels
from sicdoc.analytics.panels import PanelContext, panel_table
from sicdoc.analytics.scope import parse_qi_scope
from sicdoc.dashboards.download import table_csv
from sicdoc.figures.panels import panel_figures
from tests.unit.clinician_decedents import IDS, KEY, decedents

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_names_pseudonyms_and_unknown_clinicians():
    labels = ClinicianLabels("name", KEY, {IDS[0]: "Ada  Okafor", IDS[1]: ""})
    assert labels.label(IDS[0]) == "Ada Okafor"
    nameless, free_text = labels.label(IDS[1]), labels.label("Dr. Someone")
    assert re.fullmatch(r"Clinician [A-Z2-7]{8}", nameless) and re.fullmatch(
        r"Clinician [A-Z2-7]{8}", free_text
    )
    assert nameless != free_text and labels.label(None) is None and labels.label(float("nan")) is None


def test_pseudonyms_are_keyed_and_stable():
    one, two = ClinicianLabels("pseudonym", KEY), ClinicianLabels("pseudonym", KEY, {IDS[0]: "Ada Okafor"})
    assert [one.label(i) for i in IDS] == [two.label(i) for i in IDS]
    assert len({one.label(i) for i in IDS}) == 3
    assert ClinicianLabels("pseudonym", b"x" * 32).label(IDS[0]) != one.label(IDS[0])
    assert all(i.split("/")[1][:8] not in one.label(i) for i in IDS)


def test_two_clinicians_of_one_name_stay_apart_and_reserved_names_are_not_used():
    labels = ClinicianLabels("name", KEY, {IDS[0]: "Sam Lee", IDS[1]: "Sam Lee", IDS[2]: "All"})
    assert labels.label(IDS[0]) != labels.label(IDS[1])
    assert labels.label(IDS[0]).startswith("Sam Lee (Clinician ")
    assert labels.label(IDS[2]).startswith("Clinician ")


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="name, pseudonym"):
        ClinicianLabels("ids", KEY)


@pytest.mark.parametrize("mode", ["name", "pseudonym"])
def test_the_funnel_by_clinician_shows_no_id(mode):
    frames = decedents(45)
    scope = parse_qi_scope({"as_of": "2026-06-30", "from": "2024-01-01"}, today=date(2026, 7, 1))
    spec = {"id": "clinicians", "kind": "clinician_funnel", "title": "by clinician"}
    tables = []
    for _ in range(2):
        ctx = PanelContext(
            frames, scope, "test", clinicians=ClinicianLabels(mode, KEY, {IDS[0]: "Ada Okafor"})
        )
        tables.append(panel_table(ctx, spec))
    table = tables[0]
    assert list(table["group"]) == list(tables[1]["group"])  # stable across builds
    assert len(table) == 3 and table["rate"].notna().all()
    assert ("Ada Okafor" in set(table["group"])) is (mode == "name")
    figure = panel_figures(spec, table, ["stroke"])[0].to_plotly_json()
    for text in (str(figure), table_csv(table, scope)):
        assert "Practitioner" not in text and "Dr. Free Text" not in text and not UUID.search(text)
