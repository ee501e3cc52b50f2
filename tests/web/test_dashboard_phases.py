"""Programme phases, the quarterly switch and period against period on the dashboard page, its CSVs
and the metrics API, on both databases."""

import csv
import io
import re

import pytest
from click.testing import CliRunner

from sicdoc.cli import main
from tests.conftest import BACKENDS, PG_ADMIN_URL
from tests.web.analytics_population import AS_OF, logged_in, population_app

SCOPE = f"as_of={AS_OF}&from=2023-01-01&to={AS_OF}"
GROUPING_MESSAGE = "'grouping' must be one of month, quarter, not 'weekly'"


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory):
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_url")  # fails the run clearly when PostgreSQL is down
    with population_app(request.param, tmp_path_factory.mktemp(request.param), PG_ADMIN_URL) as app:
        yield app


@pytest.fixture
def client(app):
    return logged_in(app, "analyst", "qi_analyst")


def rows(answer):
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def test_quarterly_grouping_draws_quarters_and_keeps_the_switch_in_the_links(client):
    page = client.get(f"/dashboards/?{SCOPE}&grouping=quarter")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "control charts by calendar quarter" in body
    assert re.search(r'<option value="quarter" selected>', body)
    assert "/dashboards/early-referral.csv?" in body and "grouping=quarter" in body
    table = client.get(f"/dashboards/early-referral.csv?{SCOPE}&grouping=quarter")
    assert table.status_code == 200 and "by-quarter" in table.headers["Content-Disposition"]
    found = rows(table)
    assert found and "quarter" in found[0] and "month" not in found[0]
    assert all(re.fullmatch(r"\d{4}-Q[1-4]", r["quarter"]) for r in found)
    assert {r["phase"] for r in found} <= {"baseline", "QI programme"}
    # The monthly view of the same scope is still by month.
    monthly = rows(client.get(f"/dashboards/early-referral.csv?{SCOPE}"))
    assert "month" in monthly[0] and "quarter" not in monthly[0]


@pytest.mark.parametrize("path", ["/dashboards/", "/dashboards/early-referral.csv", "/api/metrics"])
def test_a_bad_grouping_is_a_400_with_its_message(client, path):
    answer = client.get(f"{path}?{SCOPE}&grouping=weekly")
    assert answer.status_code == 400
    text = answer.get_json()["message"] if answer.is_json else answer.get_data(as_text=True)
    assert GROUPING_MESSAGE.replace("'", "&#39;") in text or GROUPING_MESSAGE in text


def test_the_api_accepts_a_dashboard_link_with_its_grouping(client):
    assert client.get(f"/api/metrics?{SCOPE}&grouping=quarter").status_code == 200


def test_the_period_comparison_panel_and_its_csv(client):
    body = client.get(f"/dashboards/?{SCOPE}").get_data(as_text=True)
    assert 'id="panel-early-referral-year-on-year"' in body
    found = rows(client.get(f"/dashboards/early-referral-year-on-year.csv?{SCOPE}"))
    assert [r["cohort"] for r in found] == ["stroke", "heart_failure", "cancer"]
    for row in found:
        assert re.fullmatch(r"\d{4}-Q[1-4]", row["period"])
        year, quarter = row["period"].split("-Q")
        assert row["comparison_period"] == f"{int(year) - 1}-Q{quarter}"
        if row["difference"]:
            assert (
                float(row["difference_lower"]) <= float(row["difference"]) <= float(row["difference_upper"])
            )
            assert 0 <= float(row["p_value"]) <= 1 and row["interval_method"].startswith("Newcombe")
        else:
            assert row["note"]  # says why: no data or suppressed
        for column in ("numerator", "denominator", "comparison_numerator", "comparison_denominator"):
            value = row[column]
            assert value in ("", "<11", "suppressed") or int(value) == 0 or int(value) >= 11


def test_a_phase_after_the_period_shown_is_noted_and_no_500(client):
    answer = client.get(f"/dashboards/?as_of={AS_OF}&from=2023-01-01&to=2024-06-30")
    assert answer.status_code == 200
    assert "phase &#39;QI programme&#39; starts 2025-01-01, after the last month shown" in answer.get_data(
        as_text=True
    )


def test_a_month_without_data_says_so(client):
    answer = client.get(f"/dashboards/?as_of={AS_OF}&from=2010-03-01&to=2010-03-31")
    assert answer.status_code == 200
    body = answer.get_data(as_text=True)
    assert "stroke: no data for 2010-03 in this scope" in body
    quarter = client.get(f"/dashboards/?as_of={AS_OF}&from=2010-01-01&to=2010-03-31&grouping=quarter")
    assert quarter.status_code == 200 and "no data for 2010-Q1 in this scope" in quarter.get_data(
        as_text=True
    )


def run_cli(app, *args):
    overrides = {"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True}
    return CliRunner().invoke(main, list(args), obj={"overrides": overrides})


def test_the_export_takes_the_grouping(app, tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        app, "dashboards", "export", "--out", str(out), "--as-of", AS_OF, "--grouping", "quarter"
    )
    assert result.exit_code == 0, result.output
    name = "sicdoc-dashboard-qi-overview-2023-07-to-2026-06-as-of-2026-06-30-by-quarter"
    table = out / name / "sicdoc-early-referral-2023-07-to-2026-06-as-of-2026-06-30-by-quarter.csv"
    assert next(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))["quarter"].count("-Q") == 1
    bad = run_cli(app, "dashboards", "export", "--out", str(out), "--as-of", AS_OF, "--grouping", "weekly")
    assert bad.exit_code != 0
    assert len(bad.output.strip().splitlines()) == 1 and GROUPING_MESSAGE in bad.output
