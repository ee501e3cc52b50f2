"""What a report covers: cut-off, period, cohorts, site and unit, parsed from query strings or options.

One parser for the dashboards, the metrics API and the CLI, so bad input reads the same everywhere:
``parse_scope`` raises ``ScopeError`` with a one-line message (an HTTP 400 or a CLI error).

QI answers use whole months only (``parse_qi_scope``, the one parser every QI face uses): a cut-off
inside a month is taken as the end of the last complete month, ``from`` as the first day of its
month and ``to`` as the last day of its month, so asking day after day cannot reveal the day an
event happened. The scope keeps what was asked, and ``Scope.note`` says what was changed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from sicdoc.analytics.frames import Where
from sicdoc.analytics.phases import GROUPINGS
from sicdoc.codes import COHORTS
from sicdoc.errors import InvalidInput

MAX_TEXT = 128  # longest site or unit name the projections hold
EARLIEST = date(1900, 1, 1)  # the earliest date a report may be asked about


class ScopeError(InvalidInput):
    """Input a report cannot be made from; the message is meant for the user (a 400)."""


@dataclass(frozen=True)
class Scope:
    as_of: date
    period_from: date | None
    period_to: date | None
    cohorts: tuple[str, ...]
    site: str | None = None
    unit: str | None = None
    # "month" for QI answers (dates at month boundaries), "day" for clinicians and operators.
    granularity: str = "day"
    # The dates as asked (as_of, from, to) of a whole-months scope; None for a day-level one.
    requested: tuple[date | None, date | None, date | None] | None = None
    # How control charts group their points: "month" or "quarter" (calendar quarters, for small units).
    grouping: str = "month"

    @property
    def where(self) -> Where:
        """The period and place the tables are cut to."""
        return Where(self.period_from, self.period_to, self.site, self.unit)

    def key(self) -> tuple:
        return (
            self.as_of,
            self.period_from,
            self.period_to,
            self.cohorts,
            self.site,
            self.unit,
            self.grouping,
        )

    def query(self) -> dict[str, str]:
        """The query-string form (for shareable links and CSV links)."""
        out = {"as_of": self.as_of.isoformat()}
        if self.period_from:
            out["from"] = self.period_from.isoformat()
        if self.period_to:
            out["to"] = self.period_to.isoformat()
        if len(self.cohorts) == 1:
            out["cohort"] = self.cohorts[0]
        for name in ("site", "unit"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.grouping != "month":
            out["grouping"] = self.grouping
        return out

    @property
    def note(self) -> str | None:
        """What whole months changed in the dates asked for, in a sentence; None if nothing."""
        if self.requested is None:
            return None
        asked_as_of, asked_from, asked_to = self.requested
        changes = []
        if asked_as_of is not None and asked_as_of != self.as_of:
            changes.append(
                f"data as of {asked_as_of.isoformat()} was taken as {self.as_of.isoformat()}, "
                "the end of the last complete month"
            )
        if asked_from is not None and asked_from != self.period_from and self.period_from:
            changes.append(f"'from' {asked_from.isoformat()} as {self.period_from.isoformat()}")
        if asked_to is not None and asked_to != self.period_to and self.period_to:
            changes.append(f"'to' {asked_to.isoformat()} as {self.period_to.isoformat()}")
        if not changes:
            return None
        return "QI figures use whole months only: " + "; ".join(changes) + "."

    def describe(self) -> dict[str, object]:
        """The time basis of an answer, for the JSON report: granularity, the dates asked, a note."""
        asked = self.requested or (self.as_of, self.period_from, self.period_to)
        return {
            "time_granularity": self.granularity,
            "requested": {
                "as_of": asked[0].isoformat() if asked[0] else None,
                "from": asked[1].isoformat() if asked[1] else None,
                "to": asked[2].isoformat() if asked[2] else None,
            },
            "note": self.note,
        }

    def filters_text(self, *, suppressed: bool | None = None) -> str:
        """The filters in words, for the top of an export: cohorts, site, unit, period, cut-off and,
        when given, whether small counts are suppressed."""
        if set(self.cohorts) == set(COHORTS):
            cohorts = "all cohorts (" + ", ".join(_cohort_words(c) for c in self.cohorts) + ")"
        else:
            cohorts = ("cohort " if len(self.cohorts) == 1 else "cohorts ") + ", ".join(
                _cohort_words(c) for c in self.cohorts
            )
        parts = [
            cohorts,
            f"site {self.site}" if self.site else "all sites",
            f"unit {self.unit}" if self.unit else "all units",
            f"period {_day(self.period_from, 'start')} to {_day(self.period_to, 'end')}",
            f"data as of {self.as_of.isoformat()}",
        ]
        if self.grouping != "month":
            parts.append(f"charts by {self.grouping}")
        if suppressed is not None:
            parts.append("suppressed" if suppressed else "unsuppressed")
        return "Filters: " + "; ".join(parts) + "."

    def slug(self, *, suppressed: bool | None = None) -> str:
        """The filters as a file-name part: lowercase ASCII letters, digits and hyphens.

        The same scope always gives the same slug; all cohorts, all sites and all units add nothing.
        Whole-month periods are written YYYY-MM, day-level ones YYYY-MM-DD.
        """
        parts: list[str] = []
        if set(self.cohorts) != set(COHORTS):
            parts.extend(slugify(c) for c in self.cohorts)
        parts.extend(slugify(name) for name in (self.site, self.unit) if name)
        if self.period_from or self.period_to:
            width = 7 if self.granularity == "month" else 10
            start = self.period_from.isoformat()[:width] if self.period_from else "start"
            end = self.period_to.isoformat()[:width] if self.period_to else "end"
            parts.append(f"{start}-to-{end}")
        parts.append(f"as-of-{self.as_of.isoformat()}")
        if self.grouping != "month":
            parts.append(f"by-{self.grouping}")
        if suppressed is False:
            parts.append("unsuppressed")
        return "-".join(p for p in parts if p)

    def annotate(self, report: dict) -> dict:
        """A copy of ``report`` with ``describe()`` after its period (the cached report is untouched)."""
        out: dict = {}
        for key, value in report.items():
            out[key] = value
            if key == "period":
                out.update(self.describe())
        if "time_granularity" not in out:
            out.update(self.describe())
        return out


def _cohort_words(cohort: str) -> str:
    return cohort.replace("_", " ")


def _day(value: date | None, missing: str) -> str:
    return value.isoformat() if value else missing


SLUG_PART_MAX = 60  # characters of one name in a file name, before its hash


def slugify(text: str) -> str:
    """``text`` as lowercase ASCII letters, digits and single hyphens ("Neuro ICU" -> "neuro-icu").

    Accents are dropped ("Cardiología" -> "cardiologia"); a name that loses characters on the way
    (other scripts, a long name) gets a short hash of the original, so different names stay apart.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    lost = not ascii_text.isascii() or len(slug) > SLUG_PART_MAX
    slug = slug[:SLUG_PART_MAX].strip("-")
    if lost or not slug:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        slug = f"{slug}-{digest}" if slug else digest
    return slug


def month_end(day: date) -> date:
    """The last day of ``day``'s month (December needs no next month, so 9999-12 works too)."""
    if day.month == 12:
        return day.replace(day=31)
    return day.replace(month=day.month + 1, day=1) - timedelta(days=1)


def last_complete_month_end(day: date) -> date:
    """``day`` itself if it ends its month, else the last day of the month before."""
    return day if month_end(day) == day else day.replace(day=1) - timedelta(days=1)


def months_before(first_of_month: date, months: int) -> date:
    """The first day of the month ``months`` months before ``first_of_month``'s month."""
    index = first_of_month.year * 12 + first_of_month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _date(name: str, raw: str | None) -> date | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise ScopeError(f"'{name}' must be a date written YYYY-MM-DD, not {raw[:40]!r}") from None
    if value < EARLIEST:
        # Month arithmetic and pandas timestamps run out near year 1; no QI data is that old.
        raise ScopeError(f"'{name}' {value.isoformat()} is before {EARLIEST.isoformat()}")
    return value


def _text(name: str, raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    if len(raw) > MAX_TEXT:
        raise ScopeError(f"'{name}' is longer than {MAX_TEXT} characters")
    return raw.strip()


def _grouping(raw: str | None) -> str:
    if raw is None or raw.strip() == "":
        return GROUPINGS[0]
    if raw.strip() not in GROUPINGS:
        raise ScopeError(f"'grouping' must be one of {', '.join(GROUPINGS)}, not {raw[:40]!r}")
    return raw.strip()


def parse_scope(
    params: Mapping[str, str | None],
    *,
    today: date,
    default_months: int | None = None,
    whole_months: bool = False,
) -> Scope:
    """A Scope from ``cohort``, ``from``, ``to``, ``as_of``, ``site``, ``unit`` and ``grouping``
    (month or quarter), all optional.

    The cut-off defaults to ``today`` and may not be after it. Without ``from``/``to`` and with
    ``default_months``, the period is the ``default_months`` months up to the cut-off. With
    ``whole_months`` (QI answers; use ``parse_qi_scope``) the dates are moved to month boundaries.
    """
    as_of = _date("as_of", params.get("as_of")) or today
    if as_of > today:
        raise ScopeError(f"'as_of' {as_of.isoformat()} is in the future (today is {today.isoformat()})")
    period_from = _date("from", params.get("from"))
    period_to = _date("to", params.get("to"))
    if period_from and period_to and period_from > period_to:
        raise ScopeError(f"'from' {period_from.isoformat()} is after 'to' {period_to.isoformat()}; swap them")
    requested = None
    if whole_months:
        requested = (as_of, period_from, period_to)
        as_of = last_complete_month_end(as_of)
        period_from = period_from.replace(day=1) if period_from else None
        period_to = month_end(period_to) if period_to else None
    if period_from is None and period_to is None and default_months:
        period_to = as_of
        if whole_months:
            period_from = months_before(as_of.replace(day=1), default_months - 1)
        else:
            period_from = (
                pd.Timestamp(as_of) - pd.DateOffset(months=default_months) + pd.Timedelta(days=1)
            ).date()
    cohort = _text("cohort", params.get("cohort"))
    if cohort is not None and cohort not in COHORTS:
        raise ScopeError(f"unknown cohort {cohort[:40]!r}; expected one of {', '.join(COHORTS)}")
    return Scope(
        as_of=as_of,
        period_from=period_from,
        period_to=period_to,
        cohorts=(cohort,) if cohort else tuple(COHORTS),
        site=_text("site", params.get("site")),
        unit=_text("unit", params.get("unit")),
        granularity="month" if whole_months else "day",
        requested=requested,
        grouping=_grouping(params.get("grouping")),
    )


def parse_qi_scope(
    params: Mapping[str, str | None], *, today: date, default_months: int | None = None
) -> Scope:
    """The scope of a QI answer (dashboard page, panel CSV, metrics API, export): whole months only.

    Every QI face parses its period here, so none can be asked for a day-level cut-off.
    """
    return parse_scope(params, today=today, default_months=default_months, whole_months=True)
