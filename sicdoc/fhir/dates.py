"""FHIR date, dateTime and instant values as UTC ranges [low, high) and as calendar dates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2}):(?P<M>\d{2})(:(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$",
    re.ASCII,
)
# FHIR allows years 0001 to 9999; the ends of that range are clamped to what a datetime can hold.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def parse_range(value: str) -> tuple[datetime, datetime] | None:
    """The UTC instants a FHIR date-like value covers, ``high`` exclusive; None if unparseable.

    Values at the very ends of the calendar (9999-12-31, or 0001-01-01 east of UTC) are clamped to
    the first and last instants a datetime can hold.
    """
    value = value.strip()
    m = _DATE_RE.fullmatch(value)
    if not m:
        return None
    try:
        year = int(m["y"])
        if year == 0:
            return None
        if m["m"] is None:
            low = datetime(year, 1, 1, tzinfo=UTC)
            return low, _first_of(year + 1, 1)
        month = int(m["m"])
        if m["d"] is None:
            low = datetime(year, month, 1, tzinfo=UTC)
            return low, _first_of(year + (month == 12), month % 12 + 1)
        day = date(year, month, int(m["d"]))
        if m["H"] is None:
            low = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return low, _plus(low, timedelta(days=1))
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        parsed = EARLIEST if parsed.year == 1 else LATEST
    step = timedelta(seconds=1) if m["S"] is not None else timedelta(minutes=1)
    if m["f"]:
        step = timedelta(microseconds=1)
    return parsed, _plus(parsed, step)


def _first_of(year: int, month: int) -> datetime:
    return LATEST if year > 9999 else datetime(year, month, 1, tzinfo=UTC)


def _plus(moment: datetime, step: timedelta) -> datetime:
    try:
        return moment + step
    except OverflowError:
        return LATEST


def instant(value: str | None) -> datetime | None:
    """The first UTC instant of a FHIR date-like value."""
    if not value:
        return None
    rng = parse_range(value)
    return rng[0] if rng else None


def calendar_date(value: str | None) -> date | None:
    """The calendar date as written in the record (no time-zone conversion); None for year or month only."""
    if not value or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one (as SQLite hands back a stored timestamp) is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A write stamps each of its resources and their response entries with the same instant, and a
# load formats it twice per resource: one formatting per instant instead.
@lru_cache(maxsize=256)
def format_instant(moment: datetime) -> str:
    """An R4 ``instant`` with millisecond precision in UTC."""
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")
