"""What the shared analytics store holds: a call to build, the row it is kept in, and an outcome (a
result, or the refusal a web worker raises again); shared by the web side and the worker
(``sicdoc.dashboards.shared``, ``sicdoc.dashboards.worker``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from sicdoc.errors import ConfigurationError, SicdocError
from sicdoc.models import AnalyticsResult


@dataclass(frozen=True)
class Call:
    """What to build: a method of the analytics service and its arguments. ``identity`` names the
    result (calls with the same identity share one row), so it is plain data with a stable repr."""

    method: str
    args: tuple
    identity: tuple

    @property
    def key(self) -> str:
        return hashlib.sha256(repr((self.method, self.identity)).encode()).hexdigest()


class Builder(Protocol):
    """What the worker builds with: the analytics service, computing in its own process."""

    def version(self) -> str: ...

    def compute(self, call: Call, version: str) -> Any: ...


def call_context(key: str) -> bytes:
    return b"call\0" + key.encode()


def result_context(key: str, version: str) -> bytes:
    return b"result\0" + key.encode() + b"\0" + version.encode()


class ResultRow(NamedTuple):
    """An ``analytics_result`` row without its payload: what the worker and waiting pages look at."""

    key: str
    method: str
    requested_at: datetime
    data_version: str | None
    computed_at: datetime | None


def now_utc() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back the stored UTC time without its zone.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def result_row(values: Sequence[Any]) -> ResultRow:
    key, method, requested, version, computed = values
    return ResultRow(key, method, as_utc(requested), version, as_utc(computed) if computed else None)


META = (
    AnalyticsResult.key,
    AnalyticsResult.method,
    AnalyticsResult.requested_at,
    AnalyticsResult.data_version,
    AnalyticsResult.computed_at,
)


def asked_since_built(row: ResultRow) -> bool:
    """Whether someone asked for the result after it was last built (someone may be waiting)."""
    return row.computed_at is None or row.requested_at > row.computed_at


def outcome_of_error(error: SicdocError) -> tuple[str, Any]:
    """A refusal as stored in place of a result: the web worker raises it again."""
    return "error", (error.status, error.issues[0].code if error.issues else "invalid", str(error))


def unwrap(outcome: tuple[str, Any]) -> Any:
    kind, value = outcome
    if kind == "ok":
        return value
    status, code, message = value
    error = ConfigurationError(message) if status >= 500 else SicdocError(message, code=code)
    error.status = status
    raise error
