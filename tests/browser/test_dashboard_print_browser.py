"""The QI dashboard at scale, read on screen and printed on A4 and US Letter (Debian's Chromium through
Playwright, strict script CSP): every panel drawn, every title whole, every headline row visible, a
colour key on control charts, part years named, and on paper no panel wider than the page.

The population is PATIENTS (20,000) generated patients written straight into the projection tables the
dashboards read (FHIR ingest of that many takes many minutes and is measured by bench/load.py); set
SICDOC_PRINT_TEST_PATIENTS to another number to try another size.
PDFs and screenshots are kept under test-artifacts/.
"""

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.browser.conftest import log_in, ready_for_an_analyst
from tests.live_server import served_in_thread
from tests.web.analytics_population import AS_OF, projection_app

PATIENTS = 20_000
HOW_MANY = int(os.environ.get("SICDOC_PRINT_TEST_PATIENTS", PATIENTS))
BOARD = json.loads((Path(__file__).resolve().parents[2] / "dashboards" / "qi-overview.json").read_text())
TITLES = {panel["id"]: panel["title"] for panel in BOARD["panels"]}
EVERYONE = f"/dashboards/?as_of={AS_OF}&from=2023-01-01"
WAIT_MS = 600_000
CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
MM_PX = 96 / 25.4
MARGIN_MM = 12  # the print stylesheet's @page margin
# Paper: (name for page.pdf, width mm, PDF width and height in points).
PAPERS = {"A4": (210.0, (595.28, 841.89)), "Letter": (215.9, (612.0, 792.0))}
MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]")

# Each drawn chart: its panel, title lines, and the boxes a reader sees.
GEOMETRY = """() => [...document.querySelectorAll('[data-rendered=true]')].map(el => {
  const box = e => { if (!e) return null; const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width}; };
  const title = el.querySelector('.gtitle');
  const lines = title ? [...title.querySelectorAll('tspan.line')].map(t => t.textContent) : [];
  return {
    panel: el.closest('section.panel').id.replace(/^panel-/, ''),
    figure: el.getAttribute('data-figure'),
    chart: box(el), svg: box(el.querySelector('.main-svg')), title: box(title),
    lines: lines.length ? lines : [title ? title.textContent : ''],
    lineWidths: title ? [...title.querySelectorAll('tspan.line')].map(t => t.getComputedTextLength()) : [],
    legend: box(el.querySelector('.legend')),
    legendTexts: [...el.querySelectorAll('.legend .legendtext')].map(t => t.textContent),
    plots: [...el.querySelectorAll('.draglayer .nsewdrag')].map(box),
  };
})"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = time.monotonic()
    with projection_app(tmp_path_factory.mktemp("print"), HOW_MANY) as app:
        loaded = time.monotonic() - started
        print(f"\n{HOW_MANY} patients generated and written in {loaded:.0f} s ({HOW_MANY / loaded:.0f}/s)")

        built = time.monotonic()
        ready_for_an_analyst(app, CSP, EVERYONE)
        print(f"dashboard built in {time.monotonic() - built:.0f} s")
        with served_in_thread(app) as url:
            yield url


@pytest.fixture(scope="module")
def page(browser, server):
    """One logged-in page on the whole dashboard, shared by the tests (it is slow to build)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    log_in(page, server, "analyst")
    page.goto(server + EVERYONE, wait_until="load", timeout=WAIT_MS)
    blocks = page.locator("script[type='application/json'][id^='fig-']").count()
    page.wait_for_function(
        "n => document.querySelectorAll('[data-rendered=true]').length >= n",
        arg=blocks,
        timeout=WAIT_MS,
    )
    yield page
    page.close()


def printable_px(width_mm: float) -> float:
    return (width_mm - 2 * MARGIN_MM) * MM_PX


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_panel_is_drawn_with_its_whole_title_a_legend_clear_of_it_and_a_colour_key(
    page, backend, artifacts
):
    charts = page.evaluate(GEOMETRY)
    drawn = {chart["panel"] for chart in charts}
    assert drawn == set(TITLES), f"panels not drawn: {set(TITLES) - drawn}"
    for chart in charts:
        text = " ".join(line.strip() for line in chart["lines"])
        title = TITLES[chart["panel"]]
        # The definition's whole title; per-cohort and comparison charts add " — cohort: chart".
        assert text == title or text.startswith(title + " "), (chart["figure"], text)
        svg, box = chart["svg"], chart["title"]
        assert box["left"] >= svg["left"] - 1 and box["right"] <= svg["right"] + 1, (
            chart["figure"],
            box,
            svg,
        )
        assert all(width <= svg["width"] for width in chart["lineWidths"]), chart["figure"]
        assert box["top"] >= svg["top"] - 1, (chart["figure"], "title cut at the top")
        assert all(box["bottom"] <= p["top"] + 1 for p in chart["plots"]), (
            chart["figure"],
            "title over the plot",
        )
        if chart["legend"] and chart["legendTexts"]:
            legend = chart["legend"]
            assert legend["top"] >= box["bottom"], (chart["figure"], "legend over the title")
            lowest_plot = max((p["bottom"] for p in chart["plots"]), default=legend["top"])
            assert legend["top"] >= lowest_plot - 1, (chart["figure"], "legend over the plot")
            assert legend["bottom"] <= svg["bottom"] + 1, (chart["figure"], "legend cut")
        if "p-chart" in text or "XmR chart" in text:
            assert {"common cause", "special cause: better", "special cause: worse"} <= set(
                chart["legendTexts"]
            ) or {"common cause", "special cause"} <= set(chart["legendTexts"]), chart["figure"]
    page.screenshot(path=str(artifacts / "dashboard-print-screen.png"), full_page=True)
    assert page.problems == []


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_headline_row_is_inside_the_table_and_no_table_scrolls(page, backend):
    for figure in page.eval_on_selector_all(
        "[data-rendered=true]", "els => els.filter(e => e.querySelector('.table')).map(e => e.dataset.figure)"
    ):
        labels = json.loads(page.locator(f"script#{figure}").text_content())["data"][0]["cells"]["values"][0]
        seen = page.evaluate(
            """figure => {
              const el = document.querySelector(`[data-figure='${figure}']`);
              const area = el.querySelector('.table .scroll-background').getBoundingClientRect();
              const svg = el.querySelector('.main-svg').getBoundingClientRect();
              const cells = [...el.querySelectorAll('.table .cell-text')].map(t => {
                const r = t.getBoundingClientRect();
                return {text: t.textContent, inside: r.bottom <= Math.min(area.bottom, svg.bottom) + 1 && r.top >= svg.top};
              });
              const bar = el.querySelector('.scrollbar-glyph');
              return {cells, scrollbar: bar ? Number(bar.getAttribute('stroke-opacity')) : 0};
            }""",
            figure,
        )
        # A wrapped cell is drawn as lines whose text runs together: compare without spaces.
        inside = {squeezed(cell["text"]) for cell in seen["cells"] if cell["inside"]}
        missing = [label for label in labels if squeezed(label) not in inside]
        assert not missing, (figure, missing)
        assert seen["scrollbar"] == 0, f"{figure} scrolls"
    assert len(labels_of(page, "fig-headline-1")) >= 11


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def labels_of(page, figure: str) -> list[str]:
    return json.loads(page.locator(f"script#{figure}").text_content())["data"][0]["cells"]["values"][0]


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
def test_part_years_are_named_and_languages_are_names_not_codes(page, backend):
    ticks = page.eval_on_selector_all(
        "[data-figure^='fig-referral-bands-by-year'] .xtick text",
        "els => els.map(e => [...e.querySelectorAll('tspan.line')].map(t => t.textContent).join(' ') || e.textContent)",
    )
    assert any(re.fullmatch(r"2026 part year \(Jan–\w{3}\)", t) for t in ticks), ticks
    assert "2024" in ticks  # a whole year is just its number
    groups = page.eval_on_selector_all(
        "[data-figure^='fig-equity'] .ytick text", "els => els.map(e => e.textContent)"
    )
    assert groups and not [g for g in groups if re.fullmatch(r"[a-z]{2,3}", g)], groups


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("paper", list(PAPERS))
def test_the_dashboard_prints_with_no_panel_wider_than_the_page(page, backend, paper, artifacts):
    width_mm, (pdf_width, pdf_height) = PAPERS[paper]
    page.emulate_media(media="print")
    page.wait_for_function("() => document.documentElement.dataset.printLayout === 'print'")
    usable = printable_px(width_mm)
    page.set_viewport_size({"width": int(usable), "height": 1000})
    page.wait_for_timeout(300)  # any resize handler has run
    assert page.locator("form.filters").is_hidden()
    assert page.locator("h1").is_visible() and page.locator("[data-complete-through]").is_visible()
    assert page.locator("p.scope").first.is_visible()  # the period and filters, in words
    layout = page.evaluate(
        """() => ({
          scroll: document.documentElement.scrollWidth,
          boxes: [...document.querySelectorAll('section.panel, [data-figure], .main-svg')].map(e => {
            const r = e.getBoundingClientRect();
            return {what: e.id || e.dataset.figure || e.className.baseVal || e.className, left: r.left, right: r.right};
          }),
        })"""
    )
    assert layout["scroll"] <= usable + 1
    wide = [b for b in layout["boxes"] if b["left"] < -1 or b["right"] > usable + 1]
    assert not wide, wide[:5]
    page.screenshot(path=str(artifacts / f"dashboard-print-{paper}.png"), full_page=True)

    pdf = page.pdf(path=str(artifacts / f"dashboard-{paper}.pdf"), format=paper)
    boxes = [tuple(float(v) for v in m.groups()) for m in MEDIA_BOX.finditer(pdf)]
    assert len(boxes) >= 2, "a dashboard runs to several pages"
    for x0, y0, x1, y1 in boxes:
        assert x1 - x0 == pytest.approx(pdf_width, abs=1) and y1 - y0 == pytest.approx(pdf_height, abs=1)
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.wait_for_function("() => document.documentElement.dataset.printLayout === 'screen'")
    assert page.problems == []
