"""The dashboard in a real browser (Debian's Chromium through Playwright), under a strict script CSP:
every chart renders with no console error, a filter change redraws them, and screenshots are kept
under test-artifacts/."""

import pytest

from tests.browser.conftest import log_in, ready_for_an_analyst
from tests.browser.dashboard_pages import CSP, EVERYONE, WAIT_MS, charts_drawn
from tests.conftest import PG_ADMIN_URL
from tests.live_server import served_in_thread
from tests.web.analytics_population import AS_OF, population_app

STROKE = f"/dashboards/?from=2023-01-01&to=&as_of={AS_OF}&cohort=stroke&site=&unit="


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with population_app("sqlite", tmp_path_factory.mktemp("browser"), PG_ADMIN_URL) as app:
        ready_for_an_analyst(app, CSP, EVERYONE, STROKE)
        with served_in_thread(app) as url:
            yield url


@pytest.fixture(scope="module")
def page(browser):
    """One page for the module (the dashboards are slow to build), collecting console errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    yield page
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
def test_dashboard_renders_every_chart_and_a_filter_redraws_them(server, page, backend, artifacts):
    log_in(page, server, "analyst")
    page.goto(server + EVERYONE, wait_until="load", timeout=WAIT_MS)
    everyone = charts_drawn(page)
    assert everyone >= 13
    # The shared look, sent once per page, reaches every chart (plotly's own default is blue-grey).
    backgrounds = page.eval_on_selector_all(
        "[data-rendered=true]", "els => els.map(e => e._fullLayout.plot_bgcolor)"
    )
    tables = page.eval_on_selector_all(
        "[data-rendered=true]", "els => els.filter(e => e.data.some(t => t.type === 'table')).length"
    )
    plotted = [colour for colour in backgrounds if colour is not None]  # tables have no plot area
    assert len(plotted) == everyone - tables and set(plotted) == {"white"}, backgrounds
    fonts = page.eval_on_selector_all(
        "[data-rendered=true]", "els => els.map(e => e._fullLayout.font.family)"
    )
    assert all(font.startswith("system-ui") for font in fonts), fonts[:3]
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    with page.expect_navigation(timeout=WAIT_MS):
        page.select_option("select[name=cohort]", "stroke")  # a choice applies itself
    assert "cohort=stroke" in page.url and f"as_of={AS_OF}" in page.url
    stroke = charts_drawn(page)
    assert stroke < everyone  # the per-cohort monthly charts are now one each
    titles = page.eval_on_selector_all(".gtitle", "els => els.map(e => e.textContent)")
    assert any("Stroke" in t for t in titles)
    assert not any("Cancer" in t for t in titles)
    page.screenshot(path=str(artifacts / "dashboard-stroke.png"), full_page=True)
    assert page.problems == []
