"""A second visit to the dashboard takes plotly.js (4.8 MB) from the browser's cache: the server is not
asked for it again and the Resource Timing entry shows no bytes transferred. The first visit gets it
gzipped. Load times of both visits are printed (run with -s to see them)."""

import time

import pytest
from flask import request

from sicdoc.figures import plotly_js_path
from sicdoc.services import accounts
from tests.browser.conftest import log_in
from tests.browser.dashboard_pages import CSP, EVERYONE, WAIT_MS, charts_drawn
from tests.conftest import PASSWORD, PG_ADMIN_URL, login
from tests.live_server import served_in_thread
from tests.web.analytics_population import population_app

RESOURCES = """() => performance.getEntriesByType('resource')
    .filter(e => e.initiatorType === 'script' || e.initiatorType === 'link')
    .map(e => ({name: e.name, transfer: e.transferSize, encoded: e.encodedBodySize,
                decoded: e.decodedBodySize}))"""
NAVIGATION = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The dashboard over a small population; the static paths the server was asked for are kept."""
    with population_app("sqlite", tmp_path_factory.mktemp("cache"), PG_ADMIN_URL) as app:
        asked: list[str] = []

        @app.after_request
        def _seen(response):
            response.headers["Content-Security-Policy"] = CSP  # the policy the security layer sends
            if response.status_code in (200, 304) and request.path.startswith("/static/"):
                asked.append(request.path)
            return response

        with app.extensions["sicdoc.sessionmaker"]() as session:
            accounts.create_user(session, "analyst", PASSWORD, "qi_analyst")
        client = app.test_client()  # the view is built once, so the timings measure the browser
        assert login(client, "analyst").status_code == 302
        assert client.get(EVERYONE).status_code == 200
        asked.clear()
        with served_in_thread(app) as url:
            yield url, asked


def visit(page, url: str) -> tuple[float, float, dict[str, dict]]:
    """Open the dashboard; (seconds until every chart is drawn, the load event in ms, script/style entries)."""
    start = time.perf_counter()
    page.goto(url, wait_until="load", timeout=WAIT_MS)
    charts_drawn(page)
    drawn = time.perf_counter() - start
    entries = {e["name"].rsplit("/", 1)[1]: e for e in page.evaluate(RESOURCES)}
    return drawn, page.evaluate(NAVIGATION), entries


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
def test_second_visit_takes_plotly_from_the_browser_cache(server, browser, backend):
    base, asked = server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    try:
        log_in(page, base, "analyst")
        first_s, first_load, first = visit(page, base + EVERYONE)
        plotly = next(name for name in first if name.startswith("plotly.min."))
        assert first[plotly]["decoded"] == plotly_js_path().stat().st_size
        assert first[plotly]["encoded"] < first[plotly]["decoded"] / 2  # it came gzipped
        assert first[plotly]["transfer"] > 0
        asked_first = [p for p in asked if "/plotly.min." in p]
        assert len(asked_first) == 1, asked

        page.goto(base + "/")  # away, then back as a person would, not a reload
        second_s, second_load, second = visit(page, base + EVERYONE)
        assert second[plotly]["transfer"] == 0, second[plotly]  # no bytes over the network
        assert second[plotly]["decoded"] == first[plotly]["decoded"]
        for name, entry in second.items():
            assert entry["transfer"] == 0, (name, entry)  # the stylesheet and scripts too
        assert [p for p in asked if "/plotly.min." in p] == asked_first  # not even a revalidation
        assert problems == []
    finally:
        context.close()
    print(
        f"\ndashboard, first visit: load event {first_load:.0f} ms, charts drawn {first_s * 1000:.0f} ms;"
        f" second visit: load event {second_load:.0f} ms, charts drawn {second_s * 1000:.0f} ms"
    )
