"""What ``sicdoc report`` is asked for, checked before anything is built or written.

A bad month, a month not over yet, a month after the data, an unknown file type: each is one
``ReportInputError`` line (the CLI's ``Error: ...``), and no file is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sicdoc.analytics.scope import EARLIEST, Scope, month_end, months_before
from sicdoc.analytics.series import data_complete_through
from sicdoc.errors import InvalidInput

if TYPE_CHECKING:
    from sicdoc.analytics.frames import Frames

FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}
_MONTH = re.compile(r"\d{4}-\d{2}")


class ReportInputError(InvalidInput):
    """Input a report cannot be made from; the message is meant for the user."""


@dataclass(frozen=True)
class ReportMonth:
    text: str  # "YYYY-MM"
    first: date
    last: date


def parse_month(raw: str, *, today: date) -> ReportMonth:
    """The report month from "YYYY-MM"; it must be over by ``today``."""
    text = (raw or "").strip()
    if not _MONTH.fullmatch(text) or not 1 <= int(text[5:]) <= 12:
        raise ReportInputError(f"--month must be a month written YYYY-MM, not {text[:40]!r}")
    first = date(int(text[:4]), int(text[5:]), 1)
    if first < EARLIEST:
        raise ReportInputError(f"--month {text} is before {EARLIEST.isoformat()[:7]}")
    last = month_end(first)
    if last > today:
        previous = months_before(today.replace(day=1), 1).isoformat()[:7]
        raise ReportInputError(
            f"--month {text} is not over yet (today is {today.isoformat()}); the latest whole month is {previous}"
        )
    return ReportMonth(text, first, last)


def output_format(path: Path) -> str:
    """ "html" or "pdf" from the file name; the folder must exist and the path must not be a folder."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ReportInputError(
            f"--out must end in .pdf or .html, not {path.suffix[:20] or 'no extension'!r} ({path.name[:60]})"
        )
    if path.is_dir():
        raise ReportInputError(f"--out {path} is a folder; give a file name ending in .pdf or .html")
    if not path.parent.is_dir():
        raise ReportInputError(f"--out: the folder {path.parent} does not exist")
    return kind


def report_period(month: ReportMonth, period_from: str | None, default_months: int) -> tuple[str, str]:
    """The ``from`` and ``to`` of the report's scope: the month's end, and ``--from`` or the
    dashboard's default number of months up to the report month."""
    if period_from:
        try:
            asked = date.fromisoformat(period_from.strip())
        except ValueError:
            asked = None  # the scope parser words the error
        if asked is not None and asked > month.last:
            raise ReportInputError(
                f"--from {asked.isoformat()} is after the end of the report month {month.text}"
            )
        return period_from, month.last.isoformat()
    return months_before(month.first, default_months - 1).isoformat(), month.last.isoformat()


def check_scope(scope: Scope, month: ReportMonth) -> None:
    asked = scope.requested[0] if scope.requested and scope.requested[0] else scope.as_of
    if scope.as_of < month.last:
        raise ReportInputError(
            f"--as-of {asked.isoformat()} is before the end of the report month {month.text}; "
            "leave it out to use the month's last day"
        )


def check_data(frames: Frames, scope: Scope, month: ReportMonth) -> None:
    """A month after the data (or with no data at all) is refused, naming months only."""
    data = frames.normalised().observed(scope.as_of)
    last = data_complete_through(data)
    if last is None:
        raise ReportInputError(
            f"no data for {month.text}: there are no records up to {scope.as_of.isoformat()}"
        )
    if last < month.first:
        latest = last.isoformat()[:7]
        raise ReportInputError(
            f"no data for {month.text}: the latest records are from {latest}; ask for {latest} or earlier"
        )
