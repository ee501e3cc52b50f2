"""The monthly report as one standalone HTML file: inline CSS, inline SVG sparklines, no script.

It opens offline and prints on A4 (``pdf.py`` prints it with Chromium). Every figure in it comes
from the suppressed tables, so a count of 1-10 can only appear as "<11".
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from sicdoc import __version__
from sicdoc.figures.theme import MDC, cohort_label
from sicdoc.reporting.monthly import MonthlyReport, Point, SeriesSummary, Signal
from sicdoc.reporting.narrative import label, level_text, month_name, month_span, value_text, words

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
RULE_NAMES = {
    "outside": "Outside the limits",
    "shift": "Shift: 7 or more on one side of the centre line",
    "trend": "Trend: 7 or more rising or falling",
    "two_of_three": "2 of 3 beyond the 2-sigma warning line",
    "run": "Run chart: non-random pattern (Anhøj rules)",
}
CHART_NAMES = {"p": "p-chart", "xmr": "XmR chart", "run": "run chart"}
SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 150, 34, 3


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(month_name=month_name, cohort_label=cohort_label)
    return env


def meaning(summary: SeriesSummary, signal: Signal) -> str:
    """Improvement or concern by the measure's direction of improvement, else "neither"."""
    if signal.rule == "run" or summary.improvement not in ("increase", "decrease"):
        return "neither"
    higher = signal.direction in ("above", "up")
    return "improvement" if higher == (summary.improvement == "increase") else "concern"


def sparkline(summary: SeriesSummary) -> Markup:
    """A small line of the series' shown points: complete ones joined, open windows as hollow grey
    circles, signal points coloured, the latest centre line dashed. Empty when no point is shown."""
    shown = [p for p in summary.points if p.value is not None]
    if not shown:
        return Markup("")
    months = [p.month for p in summary.points]
    values = [p.value for p in shown if p.value is not None]
    centre = next((p.cl for p in reversed(summary.read_points) if p.cl is not None), None)
    low, high = (
        min([*values, *([centre] if centre is not None else [])]),
        max([*values, *([centre] if centre is not None else [])]),
    )
    span = (high - low) or 1.0
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / max(len(months) - 1, 1)

    def xy(point: Point) -> tuple[float, float]:
        x = SPARK_PAD + months.index(point.month) * step
        y = SPARK_HEIGHT - SPARK_PAD - ((point.value or 0.0) - low) / span * (SPARK_HEIGHT - 2 * SPARK_PAD)
        return round(x, 1), round(y, 1)

    flagged = {m: meaning(summary, s) for s in summary.signals for m in s.months}
    parts = [
        f'<svg class="spark" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" '
        f'viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" role="img" aria-label="{escape(label(summary))} by month">'
    ]
    if centre is not None:
        y = SPARK_HEIGHT - SPARK_PAD - (centre - low) / span * (SPARK_HEIGHT - 2 * SPARK_PAD)
        parts.append(
            f'<line x1="0" x2="{SPARK_WIDTH}" y1="{y:.1f}" y2="{y:.1f}" stroke="{MDC["limit"]}" '
            'stroke-dasharray="3 2" stroke-width="0.8"/>'
        )
    line = " ".join(f"{x},{y}" for x, y in (xy(p) for p in summary.read_points))
    if line:
        parts.append(f'<polyline points="{line}" fill="none" stroke="#444" stroke-width="1"/>')
    for point in shown:
        x, y = xy(point)
        if not point.read:
            parts.append(f'<circle cx="{x}" cy="{y}" r="1.8" fill="white" stroke="#999" stroke-width="0.8"/>')
            continue
        colour = MDC[flagged[point.month]] if point.month in flagged else "#444"
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="{2.2 if point.month in flagged else 1.3}" fill="{colour}"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers, fixed text and the escaped label


def _series_rows(report: MonthlyReport) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for summary in report.series:
        this = summary.point(report.month)
        latest = summary.point(summary.latest_complete) if summary.latest_complete else None
        centre = next((p.cl for p in reversed(summary.read_points) if p.cl is not None), None)
        nobody = f"no {words(summary)[1]}"
        rows.append(
            {
                "cohort": cohort_label(summary.cohort),
                "measure": label(summary),
                "chart": CHART_NAMES.get(summary.chart or ""),
                "this_month": value_text(summary, this) if this else nobody,
                "this_open": bool(this and not this.complete),
                "latest_month": month_name(summary.latest_complete) if summary.latest_complete else "none",
                "latest": value_text(summary, latest) if latest else nobody,
                "centre": level_text(centre, summary.unit) if centre is not None else "–",
                "spark": sparkline(summary),
            }
        )
    return rows


def _signal_rows(report: MonthlyReport) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for summary, signal in report.signals:
        last = summary.point(signal.months[-1])
        rows.append(
            {
                "cohort": cohort_label(summary.cohort),
                "measure": label(summary),
                "rule": RULE_NAMES.get(signal.rule, signal.rule),
                "direction": signal.direction,
                "months": month_span(signal.months[0], signal.months[-1]),
                "points": len(signal.months),
                "last": value_text(summary, last) if last else "–",
                "meaning": meaning(summary, signal),
                "current": signal.current,
            }
        )
    rows.sort(key=lambda r: (not r["current"], str(r["cohort"])))
    return rows


def _headline_grid(report: MonthlyReport) -> tuple[list[str], list[tuple[str, list[str]]]]:
    cohorts = list(dict.fromkeys(f.cohort for f in report.headline))
    measures: dict[str, str] = {}
    cells: dict[tuple[str, str], str] = {}
    for figure in report.headline:
        measures.setdefault(figure.measure, figure.label)
        cells[(figure.measure, figure.cohort)] = figure.text
    grid = [(text, [cells.get((m, c), "–") for c in cohorts]) for m, text in measures.items()]
    return [cohort_label(c) for c in cohorts], grid


def render_html(report: MonthlyReport, made_at: datetime) -> str:
    """The report as a standalone HTML page."""
    scope = report.scope
    columns, grid = _headline_grid(report)
    return (
        _environment()
        .get_template("reports/monthly.html")
        .render(
            report=report,
            month=month_name(report.month),
            period=(
                scope.period_from.isoformat() if scope.period_from else "the first record",
                scope.period_to.isoformat() if scope.period_to else scope.as_of.isoformat(),
            ),
            headline_columns=columns,
            headline_rows=grid,
            series_rows=_series_rows(report),
            signal_rows=_signal_rows(report),
            made_at=made_at.strftime("%Y-%m-%d %H:%M UTC"),
            version=__version__,
            colours=MDC,
        )
    )
