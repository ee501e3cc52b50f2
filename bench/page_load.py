"""Full load of the QI dashboard in Chromium: a first visit (empty browser cache) and a second one.

    .venv/bin/python bench/page_load.py --patients 5000
    .venv/bin/python bench/page_load.py --patients 2000 --runs 3

A fresh SQLite file gets the projection rows of a generated population by bulk insert (as in
bench/analytics.py; see bench/population.py), then the app is served by gunicorn (two workers)
as ``sicdoc serve`` does, which builds the default dashboard before the workers start. An analyst
logs in once; each run opens a new browser context (its cache empty) with that session, visits the dashboard, goes to the
home page and visits the dashboard again. For each visit: the load event (every script and the
stylesheet loaded and run) and "drawn" (every chart drawn), both from the start of navigation;
the server's time to the end of the HTML; and bytes over the network. Medians of ``--runs``.
Needs Debian's Chromium at /usr/bin/chromium (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.population import insert_population

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "bench-password"  # a throwaway account in a throwaway database
DRAWN = "n => document.querySelectorAll('[data-rendered=true]').length >= n"
FIGURES = "script[type='application/json'][id^='fig-']"
TIMINGS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const files = performance.getEntriesByType('resource');
  return {
    load: nav.loadEventEnd,
    scripts_run: nav.domContentLoadedEventStart,
    drawing_sync: nav.domContentLoadedEventEnd - nav.domContentLoadedEventStart,
    html_ms: nav.responseEnd - nav.requestStart,
    html_bytes: nav.transferSize,
    files_bytes: files.reduce((sum, e) => sum + e.transferSize, 0),
    plotly_bytes: files.filter(e => e.name.includes('/plotly.min.')).reduce((s, e) => s + e.transferSize, 0),
  };
}"""


def load_database(url: str, patients: int) -> None:
    """Projection rows of ``patients`` generated people and an analyst account, in a new database."""
    from sicdoc.app import create_app
    from sicdoc.migrate import upgrade
    from sicdoc.services import accounts

    start = time.perf_counter()
    upgrade(url)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    rows = insert_population(app.extensions["sicdoc.engine"], patients)
    with app.extensions["sicdoc.sessionmaker"]() as session:
        accounts.create_user(session, "analyst", PASSWORD, "qi_analyst")
    app.extensions["sicdoc.engine"].dispose()
    print(f"{patients:,} patients, {rows:,} projection rows loaded in {time.perf_counter() - start:.0f} s")


def thread_time(cdp) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds of the page's main thread so far (Chromium's own count, blind to the neighbours)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))


def visit(page, url: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = thread_time(cdp)
    page.goto(url, wait_until="load", timeout=300_000)
    figures = page.locator(FIGURES).count()
    page.wait_for_function(DRAWN, arg=figures, timeout=300_000)
    timings: dict[str, float] = page.evaluate(TIMINGS)
    timings["drawn"] = page.evaluate("() => performance.now()")
    # The renderer may be the one the previous page used, so its count goes on: take the difference.
    after = thread_time(cdp)
    timings["cpu"] = (after - before if after >= before else after) * 1000
    timings["figures"] = figures
    cdp.detach()
    return timings


def measure(base: str, runs: int) -> tuple[list[dict], list[dict]]:
    from playwright.sync_api import sync_playwright

    first, second = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        login = browser.new_context()
        page = login.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "analyst")
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")
        assert "/login" not in page.url, "the analyst could not log in"
        session = login.storage_state()
        login.close()
        for _ in range(runs):
            context = browser.new_context(storage_state=session, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            first.append(visit(page, f"{base}/dashboards/"))
            page.goto(f"{base}/")
            second.append(visit(page, f"{base}/dashboards/"))
            context.close()
        browser.close()
    return first, second


def report(label: str, visits: list[dict]) -> None:
    def median(key: str) -> float:
        return statistics.median(v[key] for v in visits)

    runs = ", ".join(f"{v['drawn']:.0f}" for v in visits)
    print(
        f"  {label}: load event {median('load'):.0f} ms, all {visits[0]['figures']:.0f} charts drawn"
        f" {median('drawn'):.0f} ms (runs: {runs}); of which HTML parsed and scripts run by"
        f" {median('scripts_run'):.0f} ms, charts started {median('drawing_sync'):.0f} ms;"
        f" page main-thread CPU {median('cpu'):.0f} ms;"
        f" HTML from the server {median('html_ms'):.0f} ms, {median('html_bytes') / 1024:.0f} KiB;"
        f" scripts and styles over the network {median('files_bytes') / 1024:.0f} KiB"
        f" (plotly.js {median('plotly_bytes') / 1024:.0f} KiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    if args.patients < 1 or args.runs < 1:
        sys.exit("--patients and --runs must be at least 1")
    from tests.live_server import live_server

    folder = Path(tempfile.mkdtemp(prefix="sicdoc-page-load-"))
    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    try:
        load_database(url, args.patients)
        start = time.perf_counter()
        env = {"SICDOC_LOGIN_RATE_LIMIT": "1000/minute"}
        with live_server(url, env, start_timeout=1800) as base:
            print(f"server up with the dashboard built in {time.perf_counter() - start:.0f} s")
            first, second = measure(base, args.runs)
        print(f"GET /dashboards/ in Chromium, median of {args.runs} runs:")
        report("first visit (empty cache)", first)
        report("second visit", second)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
