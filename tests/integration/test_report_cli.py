"""``sicdoc report`` on a generated population, on both databases: the HTML names its scope and
carries the headline figures and the text, the PDF is A4, and bad input is one error line with no
file written and nothing audited."""

import json
import re
from datetime import date

import pytest
from click.testing import CliRunner

from sicdoc.cli import main
from sicdoc.db import session_scope
from sicdoc.security import audit
from tests.web.analytics_population import population_per_backend  # noqa: F401 - the module's ``app``

TODAY = date(2026, 12, 2)
MEDIABOX = re.compile(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]")
A4_POINTS = (595.28, 841.89)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr("sicdoc.dashboards.service.today_utc", lambda: TODAY)


def run_cli(app, *args, **config):
    overrides = {"DATABASE_URL": app.config["DATABASE_URL"], "TESTING": True, **config}
    return CliRunner().invoke(main, list(args), obj={"overrides": overrides})


def reports_audited(app) -> int:
    with session_scope(app) as session:
        return len(audit.search(session, action="qi-report"))


def test_the_html_report_names_its_scope_and_has_the_headline_figures_and_the_text(app, tmp_path):
    before = reports_audited(app)
    out = tmp_path / "report.html"
    result = run_cli(app, "report", "--month", "2026-05", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out} (html, ")
    page = out.read_text(encoding="utf-8")
    assert "<h1>Monthly QI report: May 2026</h1>" in page
    assert (
        "Filters: all cohorts (stroke, heart failure, cancer); all sites; all units; "
        "period 2023-06-01 to 2026-05-31; data as of 2026-05-31; suppressed." in page
    )
    figures = json.loads(run_cli(app, "metrics", "--from", "2023-06-01", "--as-of", "2026-05-31").output)
    assert f"Data complete through {figures['data_complete_through']}." in page
    for label in ("Stroke", "Heart failure", "Cancer"):
        assert f"<li>{label}: " in page  # one finding (or why there is none) per cohort
    stroke = figures["cohorts"]["stroke"]["index_patients"]
    assert re.search(rf"<td>Patients with an index diagnosis</td><td>{stroke}</td>", page)
    assert "<li>Referral within 90 days of diagnosis: the 90-day windows of " in page
    assert "the latest complete month is" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page  # opens offline
    assert reports_audited(app) == before + 1

    one = tmp_path / "stroke.html"
    result = run_cli(app, "report", "--month", "2026-05", "--out", str(one), "--cohort", "stroke")
    assert result.exit_code == 0, result.output
    page = one.read_text(encoding="utf-8")
    assert "Filters: cohort stroke; all sites; all units;" in page
    assert "<li>Stroke: " in page and "<li>Cancer: " not in page


def test_the_pdf_report_is_an_a4_pdf(app, tmp_path):
    out = tmp_path / "report.pdf"
    result = run_cli(app, "report", "--month", "2026-04", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    boxes = {(round(float(w)), round(float(h))) for w, h in MEDIABOX.findall(data)}
    assert boxes == {tuple(round(v) for v in A4_POINTS)}
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]  # no temporary file left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--month", "2026-5"), "--month must be a month written YYYY-MM, not '2026-5'"),
        (("--month", "2026-13"), "--month must be a month written YYYY-MM, not '2026-13'"),
        (("--month", "May 2026"), "--month must be a month written YYYY-MM, not 'May 2026'"),
        (
            ("--month", "2027-01"),
            "--month 2027-01 is not over yet (today is 2026-12-02); the latest whole month is 2026-11",
        ),
        (
            ("--month", "2026-10"),
            "no data for 2026-10: the latest records are from 2026-06; ask for 2026-06 or earlier",
        ),
        (("--month", "1990-01"), "no data for 1990-01: there are no records up to 1990-01-31"),
        (
            ("--month", "2026-05", "--out", "{tmp}/report.docx"),
            "--out must end in .pdf or .html, not '.docx'",
        ),
        (
            ("--month", "2026-05", "--out", "{tmp}/missing/report.html"),
            "--out: the folder {tmp}/missing does not exist",
        ),
        (
            ("--month", "2026-05", "--as-of", "2026-05-20"),
            "--as-of 2026-05-20 is before the end of the report month 2026-05",
        ),
        (
            ("--month", "2026-05", "--from", "2026-06-01"),
            "--from 2026-06-01 is after the end of the report month 2026-05",
        ),
        (
            ("--month", "2026-05", "--cohort", "flu"),
            "unknown cohort 'flu'; expected one of stroke, heart_failure, cancer",
        ),
        (
            ("--month", "2026-05", "--site", "Nowhere Hospital"),
            "no patients to report on: Filters: all cohorts",
        ),
    ],
)
def test_bad_input_is_one_error_line_and_no_file(app, tmp_path, args, message):
    before = reports_audited(app)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "report.html")]
    result = run_cli(app, "report", *argv)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: " + message.replace("{tmp}", str(tmp_path)))
    assert list(tmp_path.iterdir()) == []
    assert reports_audited(app) == before


def test_a_pdf_without_chromium_says_to_write_html(app, tmp_path):
    result = run_cli(
        app, "report", "--month", "2026-05", "--out", str(tmp_path / "r.pdf"), CHROMIUM=str(tmp_path / "none")
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: PDF needs Chromium (SICDOC_CHROMIUM={tmp_path / 'none'} is not an executable file); "
        "write --out report.html instead"
    )
    assert list(tmp_path.iterdir()) == []
