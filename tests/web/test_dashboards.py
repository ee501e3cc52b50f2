"""Dashboards, the metrics API, the worklist and the analytics CLI over a generated population."""

import csv
import io
import json
import re

import pandas as pd
import pytest

from sicdoc.analytics.tables import COLUMNS
from sicdoc.security import audit
from tests.conftest import BACKENDS, PG_ADMIN_URL
from tests.web.analytics_population import (
    AS_OF,
    logged_in,
    population_app,
    post_resources,
    run_cli,
    write_a_patient,
)

COHORT_KEYS = {
    "index_patients",
    "prior_referral",
    "referral_cif",
    "median_days_index_to_referral",
    "decedents",
    "decedents_referred",
    "referral_to_death_bands",
    "median_days_referral_to_death",
    "decedents_with_sic",
    "decedents_first_sic_gt30d",
    "median_days_first_sic_to_death",
    "sic_cif",
    "data_quality",
}
SCOPE = f"as_of={AS_OF}&from=2023-01-01&to={AS_OF}"
BAD_INPUT = [
    ("cohort=lungs", "unknown cohort 'lungs'"),
    ("from=2025-13-01", "'from' must be a date"),
    ("from=2025-06-01&to=2025-01-01", "is after 'to'"),
    ("as_of=2999-01-01", "is in the future"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory):
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_url")  # fails the run clearly when PostgreSQL is down
    with population_app(request.param, tmp_path_factory.mktemp(request.param), PG_ADMIN_URL) as app:
        yield app


@pytest.fixture
def client(app):
    """A QI analyst's browser."""
    return logged_in(app, "analyst", "qi_analyst")


@pytest.fixture
def clinician(app):
    return logged_in(app, "clinician", "clinician")


def test_patient_level_pages_are_refused_to_analysts_and_dashboards_to_clinicians(client, clinician):
    assert client.get(f"/worklist?as_of={AS_OF}").status_code == 403
    assert client.get("/patients").status_code == 403
    assert clinician.get("/dashboards/").status_code == 403
    assert clinician.get(f"/api/metrics?as_of={AS_OF}").status_code == 403


def small_ints(value, key=""):
    """Every int of 1..10 in a JSON value, except medians (days, not counts)."""
    if isinstance(value, dict):
        return [v for k, inner in value.items() for v in small_ints(inner, k)]
    if isinstance(value, list):
        return [v for inner in value for v in small_ints(inner, key)]
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 1 <= value <= 10
        and not key.startswith("median")
    ):
        return [(key, value)]
    return []


def test_dashboard_page_has_every_panel_with_figure_data_and_csv_links(client, app):
    page = client.get(f"/dashboards/?{SCOPE}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    board = app.extensions["sicdoc.analytics"].default_board
    for panel in board.panels:
        assert f'id="panel-{panel["id"]}"' in body
        assert f"/dashboards/{panel['id']}.csv?" in body
    blocks = re.findall(r'<script type="application/json" id="(fig-[^"]+)">(.*?)</script>', body, re.S)
    assert len(blocks) >= len(board.panels)
    for _fid, data in blocks:
        figure = json.loads(data)
        assert "data" in figure and "layout" in figure
    # No inline script or style: every script is external or a JSON data block.
    for tag in re.findall(r"<script[^>]*>", body):
        assert 'src="' in tag or 'type="application/json"' in tag
    assert " style=" not in body and "<style" not in body
    assert re.search(r'<script src="/static/plotly\.min\.[0-9a-f]{16}\.js">', body)


def test_filters_are_applied_and_kept_in_the_links(client):
    body = client.get(f"/dashboards/?{SCOPE}&cohort=stroke").get_data(as_text=True)
    assert "/dashboards/early-referral.csv?" in body and "cohort=stroke" in body
    assert len(re.findall(r'id="fig-early-referral-\d+"', body)) == 1  # one chart: one cohort
    everyone = client.get(f"/dashboards/?{SCOPE}").get_data(as_text=True)
    assert len(re.findall(r'id="fig-early-referral-\d+"', everyone)) == 3


def test_site_filter(client, app):
    site = app.extensions["sicdoc.analytics"].places()["sites"][0]
    answer = client.get("/dashboards/", query_string={"as_of": AS_OF, "from": "2023-01-01", "site": site})
    assert answer.status_code == 200
    assert f"site {site}" in answer.get_data(as_text=True)


def test_an_empty_period_explains_itself(client):
    answer = client.get("/dashboards/?from=2010-01-01&to=2010-12-31")
    assert answer.status_code == 200
    assert "No patients fall in this period" in answer.get_data(as_text=True)


@pytest.mark.parametrize(("query", "message"), BAD_INPUT)
def test_bad_input_is_a_400_everywhere(client, query, message):
    api = client.get(f"/api/metrics?{query}")
    assert api.status_code == 400 and api.is_json
    assert message in api.get_json()["message"]
    page = client.get(f"/dashboards/?{query}")
    assert page.status_code == 400 and message.replace("'", "&#39;") in page.get_data(as_text=True)
    table = client.get(f"/dashboards/headline.csv?{query}")
    assert table.status_code == 400 and message in table.get_data(as_text=True)


def test_unknown_dashboard_or_panel_is_404(client):
    assert client.get("/dashboards/nothing-here").status_code == 404
    assert client.get("/dashboards/nothing-here.csv").status_code == 404


def test_every_panel_csv_is_suppressed(client, app):
    board = app.extensions["sicdoc.analytics"].default_board
    count_columns = {
        "numerator",
        "denominator",
        "decedents",
        "records",
        "referred_decedents",
        "never",
        "0-7",
        "8-30",
        "31-90",
        "gt90",
    }
    for panel in board.panels:
        answer = client.get(f"/dashboards/{panel['id']}.csv?{SCOPE}")
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
        for row in rows:
            for column in count_columns & set(row):
                if row[column].isdigit():
                    assert not 1 <= int(row[column]) <= 10, (panel["id"], row)


def test_metrics_api_has_the_exact_fields_and_is_suppressed(client):
    report = client.get(f"/api/metrics?{SCOPE}").get_json()
    assert {"as_of", "period", "value_set_version", "cohorts"} <= set(report)
    assert report["as_of"] == AS_OF and report["period"] == {"from": "2023-01-01", "to": AS_OF}
    assert list(report["cohorts"]) == ["stroke", "heart_failure", "cancer"]
    for metrics in report["cohorts"].values():
        assert set(metrics) >= COHORT_KEYS
        assert list(metrics["referral_cif"]) == ["30", "90", "180", "365"]
        assert list(metrics["sic_cif"]) == ["30", "90", "180"]
        assert list(metrics["referral_to_death_bands"]) == ["never", "0-7", "8-30", "31-90", "gt90"]
    assert small_ints(report) == []
    assert "<11" in json.dumps(report)
    one = client.get(f"/api/metrics?{SCOPE}&cohort=cancer").get_json()
    assert list(one["cohorts"]) == ["cancer"]


def default_scope(board):
    from sicdoc.analytics.scope import parse_scope
    from sicdoc.dashboards.service import today_utc

    return parse_scope({"as_of": AS_OF}, today=today_utc(), default_months=board.default_period_months)


def test_repeated_views_come_from_the_cache_until_the_data_changes(client, app):
    service = app.extensions["sicdoc.analytics"]
    board = service.default_board
    scope = default_scope(board)
    first = service.dashboard(board, scope)
    assert service.dashboard(board, scope) is first
    before = service.version()
    write_a_patient(app)
    assert service.version() != before
    assert service.dashboard(board, scope) is not first


def test_after_a_write_the_page_shows_the_last_figures_while_they_are_rebuilt(client, app, monkeypatch):
    import sicdoc.dashboards.build as build

    service = app.extensions["sicdoc.analytics"]
    query = f"/dashboards/?as_of={AS_OF}"
    assert b"data-stale" not in client.get(query).data
    board = service.default_board
    scope = default_scope(board)
    shown = service.dashboard_view(board, scope)
    assert shown.stale_since is None

    builds = []
    real = build.build_dashboard
    monkeypatch.setattr(build, "build_dashboard", lambda *a, **k: builds.append(a[1]) or real(*a, **k))
    write_a_patient(app)
    page = client.get(query)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "data-stale" in text and "being recomputed" in text
    assert 'type="application/json"' in text  # the last figures are drawn meanwhile
    service.wait_for_refreshes()
    assert len(builds) == 1  # one background rebuild however many views came in
    fresh = service.dashboard_view(board, scope)
    assert fresh.stale_since is None and fresh.built is not shown.built
    assert b"data-stale" not in client.get(query).data


def stored_rows(frames, name):
    """A normalised table with ids instead of keys and plain values, in the order of its own id."""
    table = getattr(frames, name).copy()
    if "patient_id" in table.columns:
        table["patient_id"] = frames.patient_ids(table["patient_id"])
    if "encounter_id" in table.columns:
        table["encounter_id"] = frames.encounter_ids(table["encounter_id"])
    table = table.astype(
        {c: object for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)}
    )
    return table.sort_values(COLUMNS[name][0]).reset_index(drop=True)


def test_after_a_write_of_many_patients_only_the_tables_it_feeds_are_read_again(client, app, monkeypatch):
    """When the patients a write touched cannot be told cheaply (a bulk load), the tables it feeds are
    read whole. (A write of a few is put in place by patient: tests/integration/test_frames_after_writes.)"""
    import sicdoc.dashboards.service as service_module
    from sicdoc.store.frames import load_frames

    service = app.extensions["sicdoc.analytics"]
    service._frames.clear()
    service.frames()
    monkeypatch.setattr(service_module, "changed_patients", lambda *args, **kwargs: None)
    read = []
    real = service_module.load_normalised_tables
    monkeypatch.setattr(
        service_module,
        "load_normalised_tables",
        lambda conn, names: read.append(list(names)) or real(conn, names),
    )
    write_a_patient(app)
    partial = service.frames()
    assert read == [["patients"]]
    with app.extensions["sicdoc.engine"].connect() as conn:
        full = load_frames(conn).normalised()
    for name in COLUMNS:
        pd.testing.assert_frame_equal(stored_rows(partial, name), stored_rows(full, name))
        # The same frames as a whole read, keys included, though only the patients were converted.
        pd.testing.assert_frame_equal(getattr(partial, name), getattr(full, name))
    pd.testing.assert_index_equal(partial.patient_keys, full.patient_keys)
    pd.testing.assert_index_equal(partial.encounter_keys, full.encounter_keys)


def test_a_version_that_moves_no_projection_table_keeps_the_frames(client, app):
    """A practitioner's write, or a writer still open when the version was taken, moves the version
    but no projection table: the frames in hand are kept, not normalised again (seconds at a
    hospital's size)."""
    service = app.extensions["sicdoc.analytics"]
    service._frames.clear()
    version = service.version()
    before = service.frames(version)
    projected, _, labels = version.partition("#")
    assert service.frames(f"{projected}#{labels}@2026-12-03T09:00:00+00:00") is before
    assert service.frames(f"{projected}#moved") is before


def test_the_default_view_is_built_before_the_workers_start(client, app, monkeypatch):
    import sicdoc.dashboards.build as build
    from sicdoc.serve import warm_dashboards

    app.extensions["sicdoc.analytics"]._results.clear()
    warm_dashboards(app)
    builds = []
    real = build.build_dashboard
    monkeypatch.setattr(build, "build_dashboard", lambda *a, **k: builds.append(a[1]) or real(*a, **k))

    page = client.get("/dashboards/")  # the default scope: today, the board's default period
    assert page.status_code == 200 and b'type="application/json"' in page.data
    assert builds == []
    # Another scope is built on demand.
    assert client.get("/dashboards/?cohort=stroke").status_code == 200
    assert [scope.cohorts for scope in builds] == [("stroke",)]


def test_worklist_links_each_patient_with_name_and_mrn(clinician):
    client = clinician
    answer = client.get(f"/worklist?as_of={AS_OF}")
    assert answer.status_code == 200
    body = answer.get_data(as_text=True)
    links = re.findall(r'<a href="/patients/([^"]+)">([^<]+)</a>', body)
    assert links, "somebody in the generated population is due a conversation"
    assert all(name.strip() and name != "(not stored)" for _, name in links)
    assert re.search(r"MRN 7-\d{7}", body)  # MRNs of seed 7
    stroke = client.get(f"/worklist?as_of={AS_OF}&cohort=stroke").get_data(as_text=True)
    cohort_cells = re.findall(r'<span class="cohorts">(.*?)</span>', stroke.split("<tbody>")[-1], re.S)
    assert cohort_cells and all("stroke" in cell for cell in cohort_cells)
    # Filters by cohort and place; a worklist is about today, so it offers no period.
    assert '<option value="stroke" selected>' in stroke and 'name="site"' in stroke
    assert 'name="from"' not in stroke
    assert client.get("/worklist?cohort=nope").status_code == 400


def test_a_conversation_takes_the_patient_off_the_next_worklist(clinician, app):
    def listed() -> list[str]:
        body = clinician.get(f"/worklist?as_of={AS_OF}").get_data(as_text=True)
        return re.findall(r'<a href="/patients/([^"]+)">', body)

    first = listed()[0]
    assert listed()[0] == first  # the second view comes from the cache
    procedure = {
        "resourceType": "Procedure",
        "status": "completed",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]},
        "subject": {"reference": f"Patient/{first}"},
        "performedDateTime": f"{AS_OF}T09:00:00Z",
    }
    post_resources(app, procedure)
    assert first not in listed()


def audited(app, action: str) -> list[str]:
    with app.extensions["sicdoc.sessionmaker"]() as session:
        return [r.detail for r in audit.search(session, action=action)]


def test_cli_metrics_and_exports_are_audited_before_they_leave(app, tmp_path):
    before = len(audited(app, "qi-metrics"))
    result = run_cli(app, "metrics", "--as-of", AS_OF, "--cohort", "stroke", "--unsuppressed")
    assert result.exit_code == 0, result.output
    details = audited(app, "qi-metrics")
    assert len(details) == before + 1
    assert "stroke" in details[-1] and "unsuppressed" in details[-1], details[-1]
    # Refused input gives no answer and leaves no record.
    assert run_cli(app, "metrics", "--cohort", "nonsense").exit_code != 0
    assert len(audited(app, "qi-metrics")) == before + 1
    exports = len(audited(app, "qi-export"))
    result = run_cli(app, "dashboards", "export", "--out", str(tmp_path / "out"), "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    every = audited(app, "qi-export")  # newest first
    details = every[: len(every) - exports]
    # One record per dashboard written, each naming it and its suppression.
    boards = app.extensions["sicdoc.analytics"].definitions
    assert len(details) == len(boards) >= 2
    for board_id in boards:
        assert any(board_id in d and "suppressed" in d for d in details), (board_id, details)


def test_cli_metrics_json_csv_and_unsuppressed(app):
    result = run_cli(app, "metrics", "--format", "json", "--as-of", AS_OF, "--from", "2023-01-01")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report["cohorts"]["stroke"]) >= COHORT_KEYS and small_ints(report) == []
    raw = json.loads(
        run_cli(app, "metrics", "--as-of", AS_OF, "--from", "2023-01-01", "--unsuppressed").output
    )
    assert raw["suppressed"] is False and "<11" not in json.dumps(raw)
    result = run_cli(app, "metrics", "--format", "csv", "--cohort", "stroke", "--as-of", AS_OF)
    rows = list(csv.DictReader(io.StringIO(result.output)))
    # "all": the report's reach over every admission (M5), whatever the cohort asked.
    assert {r["cohort"] for r in rows} == {"all", "stroke"}
    assert {r["metric"] for r in rows if r["cohort"] == "all"} >= {"penetration.rate"}
    assert "referral_cif.365" in {r["metric"] for r in rows}


@pytest.mark.parametrize("args", [["--cohort", "lungs"], ["--from", "2025-02-30"], ["--as-of", "2999-01-01"]])
def test_cli_bad_input_is_one_line_and_non_zero(app, args):
    result = run_cli(app, "metrics", *args)
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: ")


def test_cli_export_writes_offline_html_and_tables(app, tmp_path):
    result = run_cli(app, "dashboards", "export", "--out", str(tmp_path / "out"), "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    name = "sicdoc-dashboard-qi-overview-2023-07-to-2026-06-as-of-2026-06-30"
    page = (tmp_path / "out" / f"{name}.html").read_text(encoding="utf-8")
    assert "cdn.plot.ly" not in page and "<script src=" not in page
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js is inside
    assert (tmp_path / "out" / name / "sicdoc-headline-2023-07-to-2026-06-as-of-2026-06-30.csv").exists()


def test_a_panel_csv_names_its_unit_and_cohort_in_the_file_name_and_the_rows(client):
    answer = client.get(f"/dashboards/headline.csv?{SCOPE}&cohort=heart_failure&unit=Neuro+ICU")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="sicdoc-headline-heart-failure-neuro-icu-2023-01-to-2026-06-as-of-2026-06-30.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert rows
    assert {(r["scope_cohorts"], r["scope_site"], r["scope_unit"], r["scope_suppression"]) for r in rows} == {
        ("heart_failure", "", "Neuro ICU", "suppressed")
    }
    again = client.get(f"/dashboards/headline.csv?{SCOPE}&cohort=heart_failure&unit=Neuro+ICU")
    assert again.headers["Content-Disposition"] == answer.headers["Content-Disposition"]


def test_cli_export_names_the_unit_in_the_file_name_and_the_page(app, tmp_path):
    result = run_cli(
        app, "dashboards", "export", "--out", str(tmp_path), "--as-of", AS_OF, "--unit", "Neuro ICU"
    )
    assert result.exit_code == 0, result.output
    name = "sicdoc-dashboard-qi-overview-neuro-icu-2023-07-to-2026-06-as-of-2026-06-30"
    page = (tmp_path / f"{name}.html").read_text(encoding="utf-8")
    assert (
        '<p class="filters"><strong>Filters: all cohorts (stroke, heart failure, cancer); all sites; '
        "unit Neuro ICU; period 2023-07-01 to 2026-06-30; data as of 2026-06-30; suppressed.</strong></p>"
    ) in page
    table = tmp_path / name / "sicdoc-headline-neuro-icu-2023-07-to-2026-06-as-of-2026-06-30.csv"
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert rows and {r["scope_unit"] for r in rows} == {"Neuro ICU"}
