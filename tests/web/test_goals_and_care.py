"""The "Goals and care" dashboard over a generated population plus end-of-life records: the page,
its CSVs, the CLI export, and the department a PractitionerRole gives a clinician."""

import csv
import io
import json
import re

import pytest

from tests.conftest import BACKENDS, PG_ADMIN_URL
from tests.web.analytics_population import logged_in, population_app, run_cli
from tests.web.goals_and_care_data import DEPARTMENT, add_end_of_life_records

BOARD = "goals-and-care"
SCOPE = "as_of=2026-06-30&from=2023-01-01"
COUNT_COLUMNS = {"numerator", "denominator", "count"}


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory):
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_url")
    with population_app(request.param, tmp_path_factory.mktemp(request.param), PG_ADMIN_URL) as app:
        add_end_of_life_records(app)
        yield app


@pytest.fixture
def client(app):
    """A QI analyst's browser."""
    return logged_in(app, "analyst", "qi_analyst")


def panels(app) -> list[dict]:
    return list(app.extensions["sicdoc.analytics"].definitions[BOARD].panels)


def csv_rows(client, panel_id: str, query: str = SCOPE) -> list[dict]:
    answer = client.get(f"/dashboards/{panel_id}.csv?{query}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv", answer.get_data(as_text=True)
    assert f"sicdoc-{panel_id}-" in answer.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def test_the_page_draws_every_panel_and_is_in_the_dashboards_navigation(client, app):
    page = client.get(f"/dashboards/{BOARD}?{SCOPE}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "<h1>Goals and care</h1>" in body
    assert f'href="/dashboards/{BOARD}" aria-current="page"' in body
    for panel in panels(app):
        assert f'id="panel-{panel["id"]}"' in body
        assert f"/dashboards/{panel['id']}.csv?" in body
        figures = re.findall(
            rf'<script type="application/json" id="fig-{panel["id"]}-\d+">(.*?)</script>', body, re.S
        )
        assert figures, panel["id"]
        for data in figures:
            figure = json.loads(data)
            assert figure["layout"]["title"]["text"], panel["id"]
    # The overview links here, and this page back to the overview.
    overview = client.get(f"/dashboards/?{SCOPE}").get_data(as_text=True)
    assert f'href="/dashboards/{BOARD}"' in overview and 'href="/dashboards/qi-overview"' in body


def test_clinicians_are_refused(app):
    clinician = logged_in(app, "clinician", "clinician")
    assert clinician.get(f"/dashboards/{BOARD}").status_code == 403
    assert clinician.get("/dashboards/eol-indicators.csv").status_code == 403


def test_every_csv_downloads_suppressed(client, app):
    for panel in panels(app):
        rows = csv_rows(client, panel["id"])
        assert rows, panel["id"]
        for row in rows:
            assert row["scope_suppression"] == "suppressed"
            for column in COUNT_COLUMNS & set(row):
                if row[column].isdigit():
                    assert not 1 <= int(row[column]) <= 10, (panel["id"], row)


def test_the_indicators_count_the_icu_and_hospice_records(client):
    rows = csv_rows(client, "eol-indicators", f"{SCOPE}&cohort=cancer")
    by = {(r["year"], r["measure"]): r for r in rows}
    # The 24 decedents of March 2026 are among 2026's cancer decedents; 12 were in the ICU.
    icu = by[("2026", "eol_icu_last_30d")]
    assert icu["numerator"] in ("<11", "suppressed") or int(icu["numerator"]) >= 12
    assert by[("2026", "eol_icu_last_30d")]["part_year"] == "True"
    assert {m for _, m in by} >= {"eol_chemo_last_14d", "eol_no_hospice", "eol_hospice_lt3d", "sic_last_180d"}
    report = client.get(f"/api/metrics?{SCOPE}&cohort=cancer").get_json()["cohorts"]["cancer"]["end_of_life"]
    for (year, measure), row in by.items():
        if year == "All":
            assert row["numerator"] == str(report[measure]), measure


def test_the_department_comes_from_the_practitioner_role(client, app):
    service = app.extensions["sicdoc.analytics"]
    departments = service.clinician_departments()
    assert DEPARTMENT in departments.values()
    (ref,) = [r for r, d in departments.items() if d == DEPARTMENT]
    assert ref.startswith("Practitioner/")
    funnel = {r["group"]: r for r in csv_rows(client, "documentation-by-department")}
    assert {DEPARTMENT, "Unknown department"} <= set(funnel)
    assert funnel[DEPARTMENT]["denominator"] == "12"  # its twelve conversations
    six = csv_rows(client, "sic-last-180d-by-department", f"{SCOPE}&cohort=cancer")
    groups = [r["group"] for r in six if r["breakdown"] == "department"]
    # Twelve decedents' last conversation was with that department (a smaller group may join it).
    assert any(g == DEPARTMENT or g.startswith(f"{DEPARTMENT}, ") for g in groups), groups
    assert "All" in groups and not any(g.startswith("Practitioner") for g in groups)


def test_the_cli_export_writes_the_dashboard_and_its_tables(app, tmp_path):
    result = run_cli(app, "dashboards", "export", "--out", str(tmp_path), "--as-of", "2026-06-30")
    assert result.exit_code == 0, result.output
    (page,) = tmp_path.glob(f"sicdoc-dashboard-{BOARD}-*.html")
    html = page.read_text(encoding="utf-8")
    assert "Goals and care" in html and "Plotly.newPlot" in html
    tables = {p.name.split("-20")[0] for p in tmp_path.glob(f"sicdoc-dashboard-{BOARD}-*/*.csv")}
    assert tables == {f"sicdoc-{p['id']}" for p in panels(app)}
