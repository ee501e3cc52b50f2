"""The monthly report's text: one plain sentence per finding, with its numbers and denominators.

    Cancer: referral within 90 days of diagnosis has been above the centre line (25.0%) for 8 months,
    October 2025 to May 2026 (a shift); May 2026: 12 of 30 patients (40.0%).

Only signals that reach the latest month read for signals are told (the table lists the earlier
ones); months whose window is not over are named in notes, never read as signals.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from sicdoc.figures.theme import cohort_label, count_text, percent_text

if TYPE_CHECKING:
    from sicdoc.reporting.monthly import MonthlyReport, Point, SeriesSummary, Signal

# Each series as a noun phrase, and what its denominator counts.
SERIES_WORDS: dict[str, tuple[str, str]] = {
    "referred_within_90d": ("referral within 90 days of diagnosis", "patients"),
    "referral_gt30d_before_death": ("first referral over 30 days before death", "referred decedents"),
    "sic_gt30d_before_death": ("first conversation over 30 days before death", "decedents"),
    "days_referral_to_death": ("median days from first referral to death", "referred decedents"),
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def month_name(month: str) -> str:
    """ "2026-05" -> "May 2026"."""
    year, number = month.split("-")
    return f"{MONTHS[int(number) - 1]} {year}"


def month_span(first: str, last: str) -> str:
    """ "October 2025 to May 2026", "March to May 2026", or one month."""
    if first == last:
        return month_name(first)
    if first[:4] == last[:4]:
        return f"{MONTHS[int(first[5:]) - 1]} to {month_name(last)}"
    return f"{month_name(first)} to {month_name(last)}"


def words(summary: SeriesSummary) -> tuple[str, str]:
    """The series' noun phrase and its denominator's noun (the panel title when it has none)."""
    if summary.series in SERIES_WORDS:
        return SERIES_WORDS[summary.series]
    title = summary.title
    return title[:1].lower() + title[1:], "patients"


def label(summary: SeriesSummary) -> str:
    phrase = words(summary)[0]
    return phrase[:1].upper() + phrase[1:]


def level_text(value: float | None, unit: str) -> str:
    """A rate, limit or centre line: "25.0%" or "42 days"."""
    if value is None:
        return "hidden"
    return percent_text(value) if unit == "proportion" else f"{value:g} days"


def value_text(summary: SeriesSummary, point: Point) -> str:
    """A month's figure with its denominator: "12 of 30 patients (40.0%)", "median 45 days (14 ...)"."""
    noun = words(summary)[1]
    if summary.unit == "days":
        if point.value is None:
            return f"{count_text(point.denominator)} {noun}, median hidden"
        return f"median {point.value:g} days ({count_text(point.denominator)} {noun})"
    text = f"{count_text(point.numerator)} of {count_text(point.denominator)} {noun}"
    return f"{text} ({percent_text(point.value)})" if point.value is not None else f"{text} (rate hidden)"


def _consecutive(months: tuple[str, ...]) -> bool:
    index = [int(m[:4]) * 12 + int(m[5:]) for m in months]
    return all(b - a == 1 for a, b in itertools.pairwise(index))


def _months_list(months: tuple[str, ...]) -> str:
    if len(months) == 1:
        return month_name(months[0])
    if _consecutive(months) and len(months) > 2:
        return month_span(months[0], months[-1])
    names = [month_name(m) for m in months]
    return ", ".join(names[:-1]) + " and " + names[-1]


def signal_sentence(summary: SeriesSummary, signal: Signal) -> str:
    """One signal of one cohort's series, in a sentence."""
    cohort = cohort_label(summary.cohort)
    phrase = words(summary)[0]
    unit = summary.unit
    last = summary.point(signal.months[-1])
    latest = f"; {month_name(signal.months[-1])}: {value_text(summary, last)}" if last else ""
    n = len(signal.months)
    if signal.rule == "outside":
        limit = "upper" if signal.direction == "above" else "lower"
        line = last.ucl if last is not None and limit == "upper" else (last.lcl if last else None)
        verb = "is" if n == 1 else "are"
        if n == 1 and last is not None:
            latest = f": {value_text(summary, last)}"
        return (
            f"{cohort}: {_months_list(signal.months)} {verb} outside the {limit} limit "
            f"({level_text(line, unit)}) for {phrase}{latest}."
        )
    if signal.rule == "shift":
        centre = last.cl if last is not None else None
        run = f"{n} months" if _consecutive(signal.months) else f"{n} charted months in a row"
        return (
            f"{cohort}: {phrase} has been {signal.direction} the centre line ({level_text(centre, unit)}) "
            f"for {run}, {month_span(signal.months[0], signal.months[-1])} (a shift){latest}."
        )
    if signal.rule == "trend":
        verb = "risen" if signal.direction == "up" else "fallen"
        run = f"{n} months" if _consecutive(signal.months) else f"{n} charted months"
        return (
            f"{cohort}: {phrase} has {verb} month on month for {run}, "
            f"{month_span(signal.months[0], signal.months[-1])} (a trend){latest}."
        )
    if signal.rule == "two_of_three":
        read = [p.month for p in summary.read_points]
        span = read.index(signal.months[-1]) - read.index(signal.months[0]) + 1
        line = last.uwl if signal.direction == "above" and last else (last.lwl if last else None)
        side = "upper" if signal.direction == "above" else "lower"
        return (
            f"{cohort}: {phrase} was beyond the {side} warning line ({level_text(line, unit)}, 2 sigma) "
            f"in {n} of {span} months, {month_span(signal.months[0], signal.months[-1])} "
            f"(2 of 3 rule){latest}."
        )
    return _run_sentence(cohort, phrase, summary, signal)


def _run_sentence(cohort: str, phrase: str, summary: SeriesSummary, signal: Signal) -> str:
    d = signal.detail
    median = level_text(d.get("centre"), summary.unit)
    months = len(signal.months)
    found = []
    if d.get("long_run"):
        found.append(
            f"a run of {int(d['longest_run'])} months on one side of the median ({median}), "
            f"more than the {int(d['longest_run_max'])} expected by chance"
        )
    if d.get("few_crossings"):
        crossings = int(d["crossings"])
        found.append(
            f"{'only ' if crossings else ''}{crossings} crossing{'' if crossings == 1 else 's'} "
            f"of the median ({median}), "
            f"fewer than the {int(d['crossings_min'])} expected by chance"
        )
    return (
        f"{cohort}: {phrase} shows {' and '.join(found)} "
        f"(run chart of {months} months, {month_span(signal.months[0], signal.months[-1])})."
    )


def cohort_sentences(cohort: str, summaries: Iterable[SeriesSummary], min_cell: int) -> list[str]:
    """The current signals of one cohort's series, or why there is none."""
    mine = [s for s in summaries if s.cohort == cohort]
    current = [signal_sentence(s, sig) for s in mine for sig in s.signals if sig.current]
    if current:
        return current
    name = cohort_label(cohort)
    if not any(s.points for s in mine):
        return [f"{name}: no signal can be read: no patients in the monthly measures."]
    if not any(s.read_points for s in mine):
        return [
            f"{name}: no signal can be read: no measure has a complete month with a figure shown "
            f"(counts from 1 to {min_cell - 1} are hidden)."
        ]
    earlier = sum(len(s.signals) for s in mine)
    if earlier:
        plural = "signal is" if earlier == 1 else "signals are"
        return [f"{name}: no signal in the latest complete months ({earlier} earlier {plural} listed below)."]
    return [f"{name}: no signal."]


def summary_sentences(report: MonthlyReport) -> list[str]:
    """The text of the report: for each cohort, its current signals (or that there is none)."""
    out: list[str] = []
    for cohort in report.cohorts:
        out.extend(cohort_sentences(cohort, report.series, report.min_cell))
    return out


def _window(days: int) -> str:
    return f"{days}-day window" if days else "month"


def completeness_notes(report: MonthlyReport) -> list[str]:
    """Per measure whose report month is not complete: which months are open and the latest complete one."""
    out: list[str] = []
    seen: set[str] = set()
    month = report.month
    for summary in report.series:
        if summary.series in seen:
            continue
        seen.add(summary.series)
        latest = summary.latest_complete
        if latest == month:
            continue
        name = label(summary)
        if latest is None:
            out.append(f"{name}: no month up to {month_name(month)} is complete yet.")
            continue
        first_open = _next_month(latest)
        if summary.window_days:
            if first_open == month:
                opened = f"{month_name(month)}'s {_window(summary.window_days)} is not over"
            else:
                opened = (
                    f"the {_window(summary.window_days)}s of {month_span(first_open, month)} are not over"
                )
        else:
            through = report.data_complete_through or "no date"
            months = month_span(first_open, month)
            opened = f"data are complete through {through}, so {months} {'is' if first_open == month else 'are'} not complete"
        out.append(f"{name}: {opened}; the latest complete month is {month_name(latest)}.")
    return out


def _next_month(month: str) -> str:
    day = date.fromisoformat(f"{month}-01")
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following.isoformat()[:7]
