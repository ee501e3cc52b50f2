"""QI outputs over a generated population: whole months only, and clinicians named without resource ids.

Thirty-six stroke patients are added who die on four consecutive days of March 2026 (nine a day),
each after a conversation sixty days before death held by one of three clinicians: a stored
Practitioner with a name, a stored Practitioner without one, and a free-text performer.
"""

import csv
import io
import json
import re
import uuid

import pytest

from sicdoc.app import create_app
from tests.conftest import BACKENDS, PG_ADMIN_URL, login
from tests.web.analytics_population import logged_in, population_app, post_resources, run_cli

TEST_SYSTEM = "urn:example:qi-test"
NPI = "http://hl7.org/fhir/sid/us-npi"
DEATH_DAYS = ("2026-03-10", "2026-03-11", "2026-03-12", "2026-03-13")
NAMED = "Imogen Thackeray"
FREE_TEXT = "Dr. Free Text Performer"
PERFORMERS = (
    {"reference": f"Practitioner?identifier={NPI}|1111111111"},
    {"reference": f"Practitioner?identifier={NPI}|2222222222"},
    {"display": FREE_TEXT},
)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
PERIOD = "from=2023-01-01"


def add_march_decedents(app) -> None:
    post_resources(
        app,
        {
            "resourceType": "Practitioner",
            "identifier": [{"system": NPI, "value": "1111111111"}],
            "name": [{"family": "Thackeray", "given": ["Imogen"]}],
        },
        {"resourceType": "Practitioner", "identifier": [{"system": NPI, "value": "2222222222"}]},
        *(
            {
                "resourceType": "Patient",
                "identifier": [{"system": TEST_SYSTEM, "value": f"qi-{i}"}],
                "gender": "female" if i % 2 else "male",
                "birthDate": "1940-01-01",
                "deceasedDateTime": DEATH_DAYS[i % 4],
            }
            for i in range(36)
        ),
    )
    records = []
    for i in range(36):
        subject = {"reference": f"Patient?identifier={TEST_SYSTEM}|qi-{i}"}
        death = DEATH_DAYS[i % 4]
        records.append(
            {
                "resourceType": "Condition",
                "subject": subject,
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I63.9"}]},
                "onsetDateTime": "2025-10-01",
            }
        )
        records.append(
            {
                "resourceType": "Procedure",
                "status": "completed",
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "713603004"}]},
                "subject": subject,
                "performedDateTime": f"2026-01-{int(death[-2:]) - 5:02d}T10:00:00Z",
                "performer": [{"actor": PERFORMERS[i % 3]}],
            }
        )
    post_resources(app, *records)


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, tmp_path_factory):
    if request.param == "postgresql":
        request.getfixturevalue("postgresql_url")
    with population_app(request.param, tmp_path_factory.mktemp(request.param), PG_ADMIN_URL) as app:
        add_march_decedents(app)
        yield app


@pytest.fixture
def client(app):
    """A QI analyst's browser."""
    return logged_in(app, "analyst", "qi_analyst")


def metrics(client, as_of: str, extra: str = "") -> dict:
    answer = client.get(f"/api/metrics?as_of={as_of}&{PERIOD}&cohort=stroke{extra}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def figures_of(report: dict) -> dict:
    """What a report says about the data (the dates asked for and the note left out)."""
    return {k: v for k, v in report.items() if k not in ("requested", "note")}


# --- whole months ---------------------------------------------------------------------------


def test_four_consecutive_days_in_a_month_give_one_answer(client):
    answers = [metrics(client, day) for day in DEATH_DAYS]
    assert all(a["as_of"] == "2026-02-28" for a in answers)
    assert all(figures_of(a) == figures_of(answers[0]) for a in answers)
    assert [a["requested"]["as_of"] for a in answers] == list(DEATH_DAYS)
    assert answers[0]["time_granularity"] == "month"
    assert "2026-03-10 was taken as 2026-02-28" in answers[0]["note"]


def test_across_a_month_boundary_the_answers_are_the_month_ends(client):
    february = metrics(client, "2026-02-28")
    assert february["note"] is None and february["requested"]["as_of"] == "2026-02-28"
    assert figures_of(metrics(client, "2026-03-30")) == figures_of(february)
    march = metrics(client, "2026-03-31")
    for day in ("2026-04-01", "2026-04-02", "2026-04-29"):
        assert figures_of(metrics(client, day)) == figures_of(march)
    assert march["as_of"] == "2026-03-31"
    # The March deaths are in March's answer and not in February's.
    before, after = february["cohorts"]["stroke"]["decedents"], march["cohorts"]["stroke"]["decedents"]
    assert isinstance(before, int) and isinstance(after, int) and after >= before + 36


def test_from_and_to_are_taken_at_month_boundaries(client):
    report = client.get("/api/metrics?as_of=2026-06-30&from=2024-02-17&to=2026-03-12").get_json()
    assert report["period"] == {"from": "2024-02-01", "to": "2026-03-31"}
    assert report["requested"] == {"as_of": "2026-06-30", "from": "2024-02-17", "to": "2026-03-12"}
    same = client.get("/api/metrics?as_of=2026-06-30&from=2024-02-01&to=2026-03-31").get_json()
    assert figures_of(report) == figures_of(same)


def test_the_page_and_the_csv_show_the_month_end_and_say_why(client):
    page = client.get(f"/dashboards/?as_of=2026-03-12&{PERIOD}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "data as of 2026-02-28" in body and "data-whole-months" in body
    assert "2026-03-12 was taken as 2026-02-28" in body
    assert 'name="as_of" value="2026-02-28"' in body
    table = client.get(f"/dashboards/headline.csv?as_of=2026-03-12&{PERIOD}")
    assert "2026-02-28" in table.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(table.get_data(as_text=True))))
    assert rows and {(r["data_as_of"], r["period_from"]) for r in rows} == {("2026-02-28", "2023-01-01")}
    same = client.get(f"/dashboards/headline.csv?as_of=2026-03-10&{PERIOD}").get_data(as_text=True)
    assert same == table.get_data(as_text=True)


def test_the_default_cut_off_is_the_end_of_the_last_complete_month(client):
    from sicdoc.analytics.scope import last_complete_month_end
    from sicdoc.dashboards.service import today_utc

    report = client.get("/api/metrics").get_json()
    assert report["as_of"] == last_complete_month_end(today_utc()).isoformat()
    assert report["requested"]["as_of"] == today_utc().isoformat()


def test_the_page_the_csv_and_the_api_say_data_complete_through(client):
    from datetime import date

    from sicdoc.analytics.scope import last_complete_month_end, month_end
    from sicdoc.dashboards.service import today_utc

    for as_of in ("2026-02-28", last_complete_month_end(today_utc()).isoformat()):
        report = metrics(client, as_of)
        through = report["data_complete_through"]
        # A month end (whole months), never after the cut-off.
        assert through is not None and through <= report["as_of"]
        assert month_end(date.fromisoformat(through)).isoformat() == through
        body = client.get(f"/dashboards/?as_of={as_of}&{PERIOD}").get_data(as_text=True)
        assert f"Data complete through {through}." in body and "window not complete" in body
        table = client.get(f"/dashboards/headline.csv?as_of={as_of}&{PERIOD}").get_data(as_text=True)
        assert {r["data_complete_through"] for r in csv.DictReader(io.StringIO(table))} == {through}
        # When the cut-off runs past the data, the page and the report say so.
        past = through < report["as_of"]
        assert (report["data_note"] is not None) == past
        assert ("data-past-data" in body) == past
        if past:
            assert f"before the as-of date {report['as_of']}" in report["data_note"]


def test_cli_suppressed_metrics_and_export_use_whole_months_and_operators_keep_days(app, tmp_path):
    days = []
    for day in DEATH_DAYS:
        result = run_cli(app, "metrics", "--as-of", day, "--from", "2023-01-01", "--cohort", "stroke")
        assert result.exit_code == 0, result.output
        days.append(json.loads(result.output))
    assert {d["as_of"] for d in days} == {"2026-02-28"}
    assert all(figures_of(d) == figures_of(days[0]) for d in days)
    rows = list(
        csv.DictReader(
            io.StringIO(run_cli(app, "metrics", "--format", "csv", "--as-of", "2026-03-12").output)
        )
    )
    assert {(r["as_of"], r["time_granularity"]) for r in rows} == {("2026-02-28", "month")}
    raw = [
        json.loads(run_cli(app, "metrics", "--as-of", day, "--from", "2023-01-01", "--unsuppressed").output)
        for day in DEATH_DAYS[:2]
    ]
    assert [r["as_of"] for r in raw] == list(DEATH_DAYS[:2]) and raw[0]["time_granularity"] == "day"
    assert raw[1]["cohorts"]["stroke"]["decedents"] == raw[0]["cohorts"]["stroke"]["decedents"] + 9

    result = run_cli(app, "dashboards", "export", "--out", str(tmp_path), "--as-of", "2026-03-12")
    assert result.exit_code == 0, result.output
    name = "sicdoc-dashboard-qi-overview-2023-03-to-2026-02-as-of-2026-02-28"
    page = (tmp_path / f"{name}.html").read_text(encoding="utf-8")
    assert "data as of 2026-02-28" in page and "2026-03-12 was taken as 2026-02-28" in page
    csv_path = tmp_path / name / "sicdoc-headline-2023-03-to-2026-02-as-of-2026-02-28.csv"
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert rows and {r["data_as_of"] for r in rows} == {"2026-02-28"}


# --- clinician labels -------------------------------------------------------------------------


def clinician_funnel(client) -> tuple[list[str], str, str]:
    """(labels of the dots, the figure JSON, the CSV) of the funnel by clinician."""
    page = client.get(f"/dashboards/?as_of=2026-06-30&{PERIOD}").get_data(as_text=True)
    figures = re.findall(
        r'<script type="application/json" id="fig-clinician-funnel-\d+">(.*?)</script>', page, re.S
    )
    assert figures, "the default dashboard has a funnel by clinician"
    data = json.loads(figures[0])
    hover = [t for trace in data["data"] for t in trace.get("hovertext") or ()]
    table = client.get(f"/dashboards/clinician-funnel.csv?as_of=2026-06-30&{PERIOD}").get_data(as_text=True)
    # Re-encoded without escapes (plotly writes "/" as "\\/").
    return [h.split("<br>")[0] for h in hover], json.dumps(data, ensure_ascii=False), table


def assert_no_ids(*texts: str) -> None:
    for text in texts:
        assert "Practitioner/" not in text and "Practitioner?" not in text
        assert not UUID.search(text), UUID.search(text)
        assert FREE_TEXT not in text


@pytest.fixture
def labels_mode(app):
    """Switch the app's clinician labels for one test and back."""
    service = app.extensions["sicdoc.analytics"]

    def switch(mode: str) -> None:
        service.set_clinician_labels(mode, app.config["SECRET_KEY"])

    yield switch
    switch(app.config["QI_CLINICIAN_LABELS"])


def test_clinicians_are_named_by_their_stored_name_and_the_rest_by_pseudonym(client, app):
    assert app.config.get("QI_CLINICIAN_LABELS", "name") == "name"  # the default
    dots, figure, table = clinician_funnel(client)
    assert_no_ids(figure, table)
    groups = {row["group"] for row in csv.DictReader(io.StringIO(table))}
    assert NAMED in dots and NAMED in groups
    pseudonyms = sorted(d for d in dots if d.startswith("Clinician "))
    assert len(pseudonyms) == 2  # the nameless Practitioner and the free-text performer
    app.extensions["sicdoc.analytics"]._results.clear()
    again = clinician_funnel(client)
    assert again[0] == dots and again[2] == table  # the same labels in a new build


def test_pseudonyms_hide_names_and_are_stable_across_builds_and_apps(client, app, labels_mode):
    labels_mode("pseudonym")
    dots, figure, table = clinician_funnel(client)
    assert_no_ids(figure, table)
    assert NAMED not in figure and NAMED not in table
    assert len(dots) >= 3 and all(re.fullmatch(r"Clinician [A-Z2-7]{8}", d) for d in dots)
    app.extensions["sicdoc.analytics"]._results.clear()
    assert clinician_funnel(client)[0] == dots
    # Another process with the same configuration gives the same pseudonyms.
    other = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": app.config["DATABASE_URL"],
            "WTF_CSRF_ENABLED": False,
            "LOGIN_RATE_LIMIT": "1000/minute",
            "QI_CLINICIAN_LABELS": "pseudonym",
        }
    )
    try:
        http = other.test_client()
        assert login(http, "analyst").status_code == 302
        assert clinician_funnel(http)[0] == dots
    finally:
        other.extensions["sicdoc.engine"].dispose()


def test_an_unknown_label_setting_stops_the_app(app):
    with pytest.raises(RuntimeError, match="QI_CLINICIAN_LABELS"):
        create_app(
            {"TESTING": True, "DATABASE_URL": app.config["DATABASE_URL"], "QI_CLINICIAN_LABELS": "ids"}
        )


def test_a_practitioner_write_moves_the_data_version_so_names_are_read_again(app):
    service = app.extensions["sicdoc.analytics"]
    before = service.version()
    post_resources(
        app,
        {
            "resourceType": "Practitioner",
            "identifier": [{"system": NPI, "value": str(uuid.uuid4().int)[:10]}],
            "name": [{"text": "Someone Else"}],
        },
    )
    assert service.version() != before  # a Practitioner write moves the data version


def test_the_cli_answers_a_bad_scope_with_one_error_line(app):
    result = run_cli(app, "metrics", "--from", "2025-13-01")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: 'from' must be a date written YYYY-MM-DD, not '2025-13-01'"


def test_the_export_names_clinicians_as_the_page_does(app, tmp_path):
    result = run_cli(
        app, "dashboards", "export", "--out", str(tmp_path), "--as-of", "2026-06-30", "--from", "2023-01-01"
    )
    assert result.exit_code == 0, result.output
    (page,) = tmp_path.glob("sicdoc-dashboard-qi-overview-*.html")
    (table,) = tmp_path.glob("sicdoc-dashboard-qi-overview-*/sicdoc-clinician-funnel-*.csv")
    html, text = page.read_text(encoding="utf-8"), table.read_text(encoding="utf-8")
    # plotly names each chart's element with a random UUID of its own: not a resource id.
    for div in re.findall(r'<div id="([0-9a-f-]{36})" class="plotly-graph-div"', html):
        html = html.replace(div, "")
    assert_no_ids(html, text)
    groups = {row["group"] for row in csv.DictReader(io.StringIO(text))}
    assert NAMED in groups and NAMED in html
    assert "exact binomial limits" in html


# --- reach and timeliness (M5) ------------------------------------------------------------------

REACH_KEYS = ("penetration", "penetration_monthly", "admission_to_consult_hours", "referral_to_consult_hours")
HOURS_KEYS = {"median", "q1", "q3", "n"}


def shown_count(value) -> bool:
    return value in ("<11", "suppressed") or (isinstance(value, int) and not 1 <= value <= 10)


def test_the_api_reports_reach_for_all_admissions_and_each_cohort(client):
    report = client.get(f"/api/metrics?as_of=2026-06-30&{PERIOD}").get_json()
    blocks = {"all": report["reach"], **report["cohorts"]}
    for name, block in blocks.items():
        assert set(REACH_KEYS) <= set(block), name
        pen = block["penetration"]
        assert set(pen) == {"consulted_patients", "admissions", "rate"}
        assert shown_count(pen["consulted_patients"]) and shown_count(pen["admissions"])
        for month, cell in block["penetration_monthly"].items():
            assert re.fullmatch(r"\d{4}-\d{2}", month) and "2023-01" <= month <= "2026-06"
            assert isinstance(cell["complete"], bool)
            assert shown_count(cell["consulted_patients"]) and shown_count(cell["admissions"])
        for key in ("admission_to_consult_hours", "referral_to_consult_hours"):
            hours = block[key]
            assert set(hours) == HOURS_KEYS and shown_count(hours["n"])
            assert (hours["median"] is None) == (hours["n"] in ("<11", 0))
    assert isinstance(report["reach"]["penetration"]["admissions"], int)
    # The generator leaves some patients in hospital at its cut-off: their month is not complete.
    months = report["reach"]["penetration_monthly"]
    assert months and not months[max(months)]["complete"]


def test_the_cli_reports_reach_in_json_and_csv(app):
    result = run_cli(app, "metrics", "--as-of", "2026-06-30", "--from", "2023-01-01", "--unsuppressed")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for block in (report["reach"], *report["cohorts"].values()):
        pen = block["penetration"]
        assert isinstance(pen["admissions"], int) and isinstance(pen["consulted_patients"], int)
        assert pen["rate"] == (
            round(pen["consulted_patients"] / pen["admissions"], 4) if pen["admissions"] else None
        )
        months = block["penetration_monthly"].values()
        assert sum(m["admissions"] for m in months) == pen["admissions"]
        hours = block["admission_to_consult_hours"]
        assert hours["n"] == 0 or hours["q1"] <= hours["median"] <= hours["q3"]
    # Everyone consulted is in at least one cohort's count or in none (other diagnoses only).
    assert report["reach"]["penetration"]["admissions"] >= max(
        c["penetration"]["admissions"] for c in report["cohorts"].values()
    )
    text = run_cli(app, "metrics", "--format", "csv", "--as-of", "2026-06-30", "--from", "2023-01-01").output
    rows = list(csv.DictReader(io.StringIO(text)))
    metrics_of = {(r["cohort"], r["metric"]) for r in rows}
    for cohort in ("all", "stroke", "heart_failure", "cancer"):
        for metric in (
            "penetration.consulted_patients",
            "penetration.admissions",
            "penetration.rate",
            "admission_to_consult_hours.median",
            "admission_to_consult_hours.q1",
            "admission_to_consult_hours.q3",
            "admission_to_consult_hours.n",
            "referral_to_consult_hours.median",
            "referral_to_consult_hours.n",
        ):
            assert (cohort, metric) in metrics_of, (cohort, metric)
    assert ("stroke", "median_days_index_to_referral") in metrics_of
    assert any(m.startswith("penetration_monthly.") and m.endswith(".complete") for _, m in metrics_of)


def test_the_reach_panel_csv_agrees_with_the_report_and_the_headline_shows_the_medians(client):
    query = f"as_of=2026-06-30&{PERIOD}"
    report = client.get(f"/api/metrics?{query}").get_json()
    answer = client.get(f"/dashboards/reach.csv?{query}")
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert rows and {r["breakdown"] for r in rows} == {"cohort", "site", "unit"}
    for row in rows:
        for column in ("consulted_patients", "admissions"):
            value = row[column]
            assert value in ("<11", "suppressed") or not 1 <= int(value) <= 10
    everyone = {r["month"]: r for r in rows if r["breakdown"] == "cohort" and r["group"] == "all"}
    period = everyone.pop("period")
    assert period["admissions"] == str(report["reach"]["penetration"]["admissions"])
    for month, cell in report["reach"]["penetration_monthly"].items():
        assert everyone[month]["admissions"] == str(cell["admissions"])
        assert everyone[month]["consulted_patients"] == str(cell["consulted_patients"])
        assert everyone[month]["complete"] == str(cell["complete"])
    headline = client.get(f"/dashboards/headline.csv?{query}").get_data(as_text=True)
    measures = {r["measure"] for r in csv.DictReader(io.StringIO(headline))}
    assert {
        "median_days_index_to_referral",
        "penetration",
        "admission_to_consult_hours",
        "referral_to_consult_hours",
    } <= measures


# --- no identities on the "Goals and care" dashboard ----------------------------------------------

MRN = re.compile(r"\b7-\d{7}\b")  # the generated population's MRNs (seed 7)


def patient_names(app) -> set[str]:
    """Every stored patient's name as the chart shows it ("Given Family")."""
    from sqlalchemy import select

    from sicdoc.models import Resource

    names = set()
    with app.extensions["sicdoc.engine"].connect() as conn:
        for (content,) in conn.execute(select(Resource.content).where(Resource.resource_type == "Patient")):
            for name in content.get("name") or ():
                full = " ".join([*(name.get("given") or ()), name.get("family") or ""]).strip()
                if full:
                    names.add(full)
    return names


def assert_no_identities(app, *texts: str) -> None:
    assert_no_ids(*texts)
    names = patient_names(app)
    assert names, "the generated patients have names"
    for text in texts:
        assert not MRN.search(text), MRN.search(text)
        assert "Patient/" not in text
        found = [n for n in names if n in text]
        assert not found, found


@pytest.mark.parametrize("mode", ["name", "pseudonym"])
def test_the_goals_and_care_dashboard_shows_no_patient_or_clinician_identity(
    client, app, labels_mode, tmp_path, mode
):
    labels_mode(mode)
    page = client.get(f"/dashboards/goals-and-care?as_of=2026-06-30&{PERIOD}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    figures = re.findall(r'<script type="application/json" id="fig-[^"]+">(.*?)</script>', body, re.S)
    assert len(figures) >= 5
    board = app.extensions["sicdoc.analytics"].definitions["goals-and-care"]
    tables = []
    for panel in board.panels:
        answer = client.get(f"/dashboards/{panel['id']}.csv?as_of=2026-06-30&{PERIOD}")
        assert answer.status_code == 200
        tables.append(answer.get_data(as_text=True))
    main = body.split("<main", 1)[-1]  # the page's own content, past the shared header
    shown = [json.dumps(json.loads(f), ensure_ascii=False) for f in figures]
    assert_no_identities(app, *shown, *tables, re.sub(r"<[^>]+>", " ", main))
    result = run_cli(
        app, "dashboards", "export", "--out", str(tmp_path), "--as-of", "2026-06-30", "--from", "2023-01-01"
    )
    assert result.exit_code == 0, result.output
    (html_page,) = tmp_path.glob("sicdoc-dashboard-goals-and-care-*.html")
    html = html_page.read_text(encoding="utf-8")
    for div in re.findall(r'<div id="([0-9a-f-]{36})" class="plotly-graph-div"', html):
        html = html.replace(div, "")
    exported = [
        p.read_text(encoding="utf-8") for p in tmp_path.glob("sicdoc-dashboard-goals-and-care-*/*.csv")
    ]
    assert_no_identities(app, html, *exported)
