"""The "Goals and care" dashboard in a real browser (Debian's Chromium through Playwright, strict
script CSP), as the QI analyst opens it: every panel drawn with its title, no console error, and no
patient's name, MRN or id anywhere on the page. The population is small: the end-of-life records
of tests/web/goals_and_care_data.py, posted through the FHIR transaction service."""

import json
import re
from pathlib import Path

import pytest

from sicdoc.migrate import upgrade
from tests.browser.conftest import log_in, ready_for_an_analyst
from tests.live_server import served_in_thread
from tests.web.goals_and_care_data import DECEDENTS, DEPARTMENT, FAMILY, MRN_PREFIX, add_end_of_life_records

BOARD = json.loads((Path(__file__).resolve().parents[2] / "dashboards" / "goals-and-care.json").read_text())
TITLES = {panel["id"]: panel["title"] for panel in BOARD["panels"]}
VIEW = "/dashboards/goals-and-care?as_of=2026-06-30&from=2023-01-01&cohort=cancer"
WAIT_MS = 120_000
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)

# Each drawn chart: its panel and the title as drawn.
CHARTS = """() => [...document.querySelectorAll('[data-rendered=true]')].map(el => {
  const title = el.querySelector('.gtitle');
  const lines = title ? [...title.querySelectorAll('tspan.line')].map(t => t.textContent) : [];
  return {
    panel: el.closest('section.panel').id.replace(/^panel-/, ''),
    title: (lines.length ? lines : [title ? title.textContent : '']).map(l => l.trim()).join(' '),
    svgText: el.querySelector('.main-svg') ? el.textContent : '',
  };
})"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from sicdoc.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('goals') / 'sicdoc.sqlite3'}"
    upgrade(url)
    app = create_app(
        {"TESTING": True, "DATABASE_URL": url, "WTF_CSRF_ENABLED": False, "LOGIN_RATE_LIMIT": "1000/minute"}
    )
    try:
        add_end_of_life_records(app)
        ready_for_an_analyst(app, CSP, VIEW)
        with served_in_thread(app) as base:
            yield base
    finally:
        app.extensions["sicdoc.engine"].dispose()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_analyst_sees_every_panel_drawn_with_its_title_and_no_identity(
    server, browser, backend, artifacts
):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        log_in(page, server, "analyst")
        page.goto(server + VIEW, wait_until="load", timeout=WAIT_MS)
        blocks = page.locator("script[type='application/json'][id^='fig-']").count()
        assert blocks >= len(TITLES)
        page.wait_for_function(
            "n => document.querySelectorAll('[data-rendered=true]').length >= n", arg=blocks, timeout=WAIT_MS
        )
        assert page.locator("h1").inner_text() == "Goals and care"
        charts = page.evaluate(CHARTS)
        assert {c["panel"] for c in charts} == set(TITLES), (
            f"not drawn: {set(TITLES) - {c['panel'] for c in charts}}"
        )
        for chart in charts:
            title = TITLES[chart["panel"]]
            # The definition's whole title; per-cohort and per-breakdown charts add " — ...".
            assert chart["title"] == title or chart["title"].startswith(title + " "), chart
        for panel_id, title in TITLES.items():
            heading = page.locator(f"#title-{panel_id}")
            assert heading.inner_text() == title
        # The department named by the clinician's PractitionerRole is on the funnel.
        funnel = next(c for c in charts if c["panel"] == "documentation-by-department")
        assert funnel["svgText"]  # drawn, with text
        text = page.locator("main").inner_text() + " " + " ".join(c["svgText"] for c in charts)
        assert FAMILY not in text and MRN_PREFIX not in text
        assert not any(f"Given{i} " in text for i in range(DECEDENTS))
        assert "Patient/" not in text and "Practitioner/" not in text and not UUID.search(text)
        # Hover text is part of the figure data the page holds: no identity there either.
        data = " ".join(page.locator("script[type='application/json'][id^='fig-']").all_text_contents())
        assert FAMILY not in data and MRN_PREFIX not in data and "Patient/" not in data
        assert DEPARTMENT in data
        page.screenshot(path=str(artifacts / "goals-and-care-screen.png"), full_page=True)
        assert problems == []
    finally:
        page.close()
