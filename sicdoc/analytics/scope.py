"""What a report covers: cut-off, period, cohorts, site and unit, parsed from query strings or options.

One parser for the dashboards, the metrics API and the CLI, so bad input reads the same everywhere:
``parse_scope`` raises ``ScopeError`` with a one-line message (an HTTP 400 or a CLI error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import pandas as pd

from sicdoc.valuesets import COHORTS

MAX_TEXT = 128  # longest site or unit name the projections hold


class ScopeError(ValueError):
    """Input a report cannot be made from; the message is meant for the user."""


@dataclass(frozen=True)
class Scope:
    as_of: date
    period_from: date | None
    period_to: date | None
    cohorts: tuple[str, ...]
    site: str | None = None
    unit: str | None = None

    def key(self) -> tuple:
        return (self.as_of, self.period_from, self.period_to, self.cohorts, self.site, self.unit)

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
        return out


def _date(name: str, raw: str | None) -> date | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ScopeError(f"'{name}' must be a date written YYYY-MM-DD, not {raw[:40]!r}") from None


def _text(name: str, raw: str | None) -> str | None:
    if raw is None or raw.strip() == "":
        return None
    if len(raw) > MAX_TEXT:
        raise ScopeError(f"'{name}' is longer than {MAX_TEXT} characters")
    return raw.strip()


def parse_scope(params: Mapping[str, str | None], *, today: date, default_months: int | None = None) -> Scope:
    """A Scope from ``cohort``, ``from``, ``to``, ``as_of``, ``site`` and ``unit`` (all optional).

    The cut-off defaults to ``today`` and may not be after it. Without ``from``/``to`` and with
    ``default_months``, the period is the ``default_months`` months up to the cut-off.
    """
    as_of = _date("as_of", params.get("as_of")) or today
    if as_of > today:
        raise ScopeError(f"'as_of' {as_of.isoformat()} is in the future (today is {today.isoformat()})")
    period_from = _date("from", params.get("from"))
    period_to = _date("to", params.get("to"))
    if period_from and period_to and period_from > period_to:
        raise ScopeError(f"'from' {period_from.isoformat()} is after 'to' {period_to.isoformat()}; swap them")
    if period_from is None and period_to is None and default_months:
        period_to = as_of
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
    )
