"""The monthly QI report: what a QI meeting reads about one month, from one built dashboard.

    report = monthly_report(built, "2026-05")

Pure: the built dashboard's suppressed tables in, a ``MonthlyReport`` out (no database, no files).
The headline figures are the headline panel's, over the scope's period. The signals are read from
the monthly panels' chart statistics, which only ever flag points whose measure window is over
(``series.window_complete``); a point whose window is still open is shown, never read as a signal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pandas as pd

from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import Scope, month_end
from sicdoc.analytics.series import WINDOW_DAYS
from sicdoc.analytics.spc import anhoej
from sicdoc.dashboards.build import BuiltDashboard, BuiltPanel, build_tables
from sicdoc.dashboards.definitions import Dashboard
from sicdoc.figures.headline import headline_cell
from sicdoc.figures.theme import flag

# The monthly panels' series and the key of their completeness rule (``series.WINDOW_DAYS``).
INTERVAL_MEASURE = "days_referral_to_death"
RULES = ("outside", "shift", "trend", "two_of_three")
# The dashboard panels the report reads; the others (and every figure) are not built for it.
REPORT_KINDS = ("headline", "monthly", "interval")


@dataclass(frozen=True)
class Point:
    """One month of a series as the dashboard shows it (suppressed counts, ``value`` None if hidden)."""

    month: str
    value: float | None  # the proportion (0-1) or the median in days
    numerator: object  # a count, "<11", or None (a median has none)
    denominator: object
    complete: bool
    cl: float | None = None
    lcl: float | None = None
    ucl: float | None = None
    lwl: float | None = None
    uwl: float | None = None

    @property
    def read(self) -> bool:
        """Part of the chart's statistics: shown and with its window over."""
        return self.complete and self.value is not None


@dataclass(frozen=True)
class Signal:
    """Special cause in one series: ``rule`` is outside, shift, trend, two_of_three or run (the Anhøj
    rules of a run chart); ``direction`` above/below (up/down for a trend, "" for a run)."""

    rule: str
    direction: str
    months: tuple[str, ...]
    current: bool  # it reaches the latest month read for signals
    detail: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SeriesSummary:
    cohort: str
    series: str  # the series key ("referred_within_90d", ..., "days_referral_to_death")
    title: str  # the panel title
    unit: str  # "proportion" or "days"
    chart: str | None  # "p", "xmr", "run", or None with no point to read
    window_days: int
    points: tuple[Point, ...]
    signals: tuple[Signal, ...]
    # The latest month whose window is over, whether or not it has a point.
    latest_complete: str | None
    improvement: str | None = None  # "increase" or "decrease" when the definition says

    @property
    def read_points(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.read)

    def point(self, month: str) -> Point | None:
        return next((p for p in self.points if p.month == month), None)


@dataclass(frozen=True)
class HeadlineFigure:
    cohort: str
    measure: str
    label: str
    value: object
    lower: float | None
    upper: float | None
    numerator: object
    denominator: object
    text: str  # as the dashboard writes it: "40.0% (30.1%-50.2%) of 30", "<11", "hidden"


@dataclass(frozen=True)
class MonthlyReport:
    month: str  # "YYYY-MM"
    title: str
    scope: Scope
    filters: str
    data_complete_through: str | None
    data_note: str | None
    min_cell: int
    cohorts: tuple[str, ...]
    headline: tuple[HeadlineFigure, ...]
    series: tuple[SeriesSummary, ...]
    summary: tuple[str, ...] = ()  # the text, one sentence per finding (narrative.py)
    notes: tuple[str, ...] = ()  # which months are not complete yet, per measure

    @property
    def signals(self) -> list[tuple[SeriesSummary, Signal]]:
        return [(s, signal) for s in self.series for signal in s.signals]


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _count(value: object) -> object:
    number = _number(value)
    return int(number) if number is not None else (value if isinstance(value, str) else None)


def latest_complete_month(month: str, window_days: int, through: date | None) -> str | None:
    """The latest month up to ``month`` whose ``window_days`` window ended by ``through``."""
    if through is None:
        return None
    day = date.fromisoformat(f"{month}-01")
    for _ in range(240):
        if month_end(day) + timedelta(days=window_days) <= through:
            return day.isoformat()[:7]
        day = (day - timedelta(days=1)).replace(day=1)
    return None


def points_of(rows: pd.DataFrame, value: str, numerator: str | None, denominator: str) -> tuple[Point, ...]:
    """The points of one cohort's rows of a monthly or interval panel table."""
    out = []
    for row in rows.sort_values("month").to_dict("records"):
        out.append(
            Point(
                month=str(row["month"]),
                value=_number(row.get(value)),
                numerator=_count(row.get(numerator)) if numerator else None,
                denominator=_count(row.get(denominator)),
                complete=bool(row.get("complete")),
                **{k: _number(row.get(k)) for k in ("cl", "lcl", "ucl", "lwl", "uwl")},
            )
        )
    return tuple(out)


def _runs(read: list[tuple[Point, dict]], rule: str) -> list[list[tuple[Point, dict]]]:
    """Consecutive read points flagged by ``rule`` (a gap or an unflagged point ends a run)."""
    runs: list[list[tuple[Point, dict]]] = []
    current: list[tuple[Point, dict]] = []
    for item in read:
        if flag(item[1].get(rule)):
            current.append(item)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _phase(flags: dict) -> str | None:
    phase = flags.get("phase")
    return phase if isinstance(phase, str) else None  # a missing phase (None or NaN) is one phase


def find_signals(
    points: tuple[Point, ...], flags: list[dict], chart: str | None = None
) -> tuple[Signal, ...]:
    """The signals of one series from its per-point rule flags (``flags[i]`` for ``points[i]``, with
    the point's ``chart`` and ``phase`` when the table has them; ``chart`` otherwise).

    Only read points count: a point whose window is open is never part of a signal, whatever its
    flags say. Each phase is its own chart, so no run crosses a phase start. Runs of the same rule
    on the same side are one signal; a run chart's signal (Anhøj rules) covers its whole phase.
    """
    read = [(p, f) for p, f in zip(points, flags, strict=True) if p.read]
    if not read:
        return ()
    last = read[-1][0].month
    phases: list[list[tuple[Point, dict]]] = []
    for item in read:
        if phases and _phase(phases[-1][-1][1]) == _phase(item[1]):
            phases[-1].append(item)
        else:
            phases.append([item])
    signals: list[Signal] = []
    for members in phases:
        kind = members[-1][1].get("chart") or chart
        if kind == "run":
            signals.extend(_run_signal(members, last))
            continue
        for rule in RULES:
            for run in _runs(members, rule):
                groups: list[list[Point]] = []
                for point, _ in run:
                    side = _side_of(rule, point, run)
                    if groups and _side_of(rule, groups[-1][-1], run) == side:
                        groups[-1].append(point)
                    else:
                        groups.append([point])
                for group in groups:
                    months = tuple(p.month for p in group)
                    signals.append(Signal(rule, _side_of(rule, group[0], run), months, months[-1] == last))
    signals.sort(key=lambda s: (s.months[-1], RULES.index(s.rule) if s.rule in RULES else -1))
    return tuple(signals)


def _run_signal(members: list[tuple[Point, dict]], last: str) -> list[Signal]:
    values = [p.value for p, _ in members if p.value is not None]
    runs = anhoej(values)
    if not runs["signal"]:
        return []
    detail = {
        k: float(runs[k]) for k in ("centre", "longest_run", "longest_run_max", "crossings", "crossings_min")
    }
    detail |= {k: float(bool(runs[k])) for k in ("long_run", "few_crossings")}
    months = tuple(p.month for p, _ in members)
    return [Signal("run", "", months, months[-1] == last, detail)]


def _side_of(rule: str, point: Point, run: list[tuple[Point, dict]]) -> str:
    """Which side of its line a flagged point is on (a trend: up when it ends higher than it began)."""
    value = point.value if point.value is not None else math.nan
    if rule == "trend":
        first, last = run[0][0].value or 0.0, run[-1][0].value or 0.0
        return "up" if last > first else "down"
    line = {"outside": point.ucl, "shift": point.cl, "two_of_three": point.uwl}[rule]
    return "above" if line is not None and value > line else "below"


def summarise(
    table: pd.DataFrame,
    cohort: str,
    series: str,
    title: str,
    month: str,
    through: date | None,
    improvement: str | None = None,
) -> SeriesSummary:
    """One cohort's series from a monthly (``rate``) or interval (``median_days``) panel table."""
    rows = table[table["cohort"] == cohort] if not table.empty else table
    rows = rows[rows["month"].astype(str) <= month] if not rows.empty else rows
    interval = "median_days" in table.columns
    if interval:
        points = points_of(rows, "median_days", None, "referred_decedents")
    else:
        points = points_of(rows, "rate", "numerator", "denominator")
    flags = rows.sort_values("month").to_dict("records") if not rows.empty else []
    charts = [r.get("chart") for r, p in zip(flags, points, strict=True) if p.read]
    chart = str(charts[-1]) if charts and charts[-1] in ("p", "xmr", "run") else None
    window = WINDOW_DAYS.get(series, 0)
    return SeriesSummary(
        cohort=cohort,
        series=series,
        title=title,
        unit="days" if interval else "proportion",
        chart=chart,
        window_days=window,
        points=points,
        signals=find_signals(points, flags, chart),
        latest_complete=latest_complete_month(month, window, through),
        improvement=improvement,
    )


def _headline(table: pd.DataFrame) -> tuple[HeadlineFigure, ...]:
    out = []
    for row in table.to_dict("records"):
        out.append(
            HeadlineFigure(
                cohort=row["cohort"],
                measure=row["measure"],
                label=row["label"],
                value=row["value"],
                lower=_number(row.get("lower")),
                upper=_number(row.get("upper")),
                numerator=_count(row.get("numerator")),
                denominator=_count(row.get("denominator")),
                text=headline_cell(pd.Series(row)),
            )
        )
    return tuple(out)


def series_panels(built: BuiltDashboard) -> Iterable[tuple[str, dict, pd.DataFrame]]:
    """(series key, panel definition, table) of every monthly and interval panel of the dashboard."""
    for panel in built.panels:
        kind = panel.spec["kind"]
        if kind == "monthly":
            yield panel.spec["series"], panel.spec, panel.table
        elif kind == "interval":
            yield INTERVAL_MEASURE, panel.spec, panel.table


def report_dashboard(
    frames: Frames, scope: Scope, board: Dashboard, value_set_version: str
) -> BuiltDashboard:
    """The report's panels of ``board`` for ``scope``: the same suppressed tables as the dashboard's,
    without its other panels and without figures."""
    needed = replace(board, panels=tuple(p for p in board.panels if p["kind"] in REPORT_KINDS))
    tables, report = build_tables(frames, scope, needed, value_set_version)
    panels = tuple(BuiltPanel(spec, tables[spec["id"]], ()) for spec in needed.panels)
    return BuiltDashboard(needed, scope, panels, report)


def monthly_report(built: BuiltDashboard, month: str, title: str = "Monthly QI report") -> MonthlyReport:
    """The report of ``month`` ("YYYY-MM", the last month of ``built``'s period) with its text."""
    from sicdoc.reporting.narrative import completeness_notes, summary_sentences

    report = built.report
    through_text = report.get("data_complete_through")
    through = date.fromisoformat(through_text) if through_text else None
    cohorts = tuple(built.scope.cohorts)
    headline = next((p.table for p in built.panels if p.spec["kind"] == "headline"), None)
    series = tuple(
        summarise(table, cohort, key, spec["title"], month, through, spec.get("improvement"))
        for key, spec, table in series_panels(built)
        for cohort in cohorts
    )
    partial = MonthlyReport(
        month=month,
        title=title,
        scope=built.scope,
        filters=built.scope.filters_text(suppressed=True),
        data_complete_through=through_text,
        data_note=report.get("data_note"),
        min_cell=built.board.min_cell,
        cohorts=cohorts,
        headline=_headline(headline) if headline is not None else (),
        series=series,
    )
    return replace(
        partial, summary=tuple(summary_sentences(partial)), notes=tuple(completeness_notes(partial))
    )
