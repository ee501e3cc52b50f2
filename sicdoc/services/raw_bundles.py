"""A bundle of a load file as read, what a worker process learns by checking it, and the outcome
reported for it (``sicdoc load``; the batch that applies it is ``sicdoc.services.bulk``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from sicdoc.errors import SicdocError
from sicdoc.services.bundles import Passed, bundle_key, check_transaction
from sicdoc.services.entries import Criteria, criteria_of


@dataclass(frozen=True)
class RawBundle:
    """One bundle as read: where it came from, its bytes, and why it cannot load when that is known
    before any database work (unreadable, not JSON, or invalid when a worker process checked it)."""

    label: str
    data: bytes
    problem: str | None = None
    checked: bool = False  # validated already; ``problem`` holds the verdict
    # What a worker process read from a valid bundle, so the writing process need not: its
    # conditional criteria and its receipt key (``criteria_of``, ``bundle_key``).
    criteria: Criteria | None = None
    key: tuple[str, str] | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one bundle of a batch, as ``sicdoc load`` reports it."""

    label: str
    patients: int = 0  # Patient resources the bundle carries (what the progress bar counts)
    created: int = 0  # resources created
    replayed: bool = False  # an earlier load stored this bundle already
    problem: str | None = None  # why it was rejected


def check_raw(raw: RawBundle, max_entries: int, passed: Passed | None = None) -> RawBundle:
    """The work a worker process does: ``raw`` with its verdict, and for a valid bundle its criteria
    and receipt key (``passed`` as ``check_transaction`` takes it)."""
    if raw.problem is not None:
        return raw
    found = parsed(raw, max_entries, passed)
    if isinstance(found, str):
        return replace(raw, problem=found, checked=True)
    bundle, entries = found
    return replace(raw, checked=True, criteria=criteria_of(entries), key=bundle_key(bundle))


def parsed(
    raw: RawBundle, max_entries: int, passed: Passed | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]] | str:
    """``raw`` parsed and, unless a worker process checked it already, validated: the bundle and its
    entries, or why it cannot load."""
    try:
        bundle = orjson.loads(raw.data)
        entries = bundle["entry"] if raw.checked else check_transaction(bundle, max_entries, passed)
    except orjson.JSONDecodeError:
        return "Body is not valid JSON"
    except SicdocError as exc:
        return reason(exc)
    return bundle, entries


def reread(raw: RawBundle) -> dict[str, Any]:
    """The bundle as received, parsed from its bytes: for applying it, or again (applying it rewrote
    its entries in place)."""
    bundle: dict[str, Any] = orjson.loads(raw.data)
    return bundle


def patients_in(entries: list[dict[str, Any]]) -> int:
    """The Patient resources a bundle's entries carry (what the progress bar counts)."""
    return sum(1 for e in entries if (e.get("resource") or {}).get("resourceType") == "Patient")


def reason(exc: SicdocError) -> str:
    """Why a bundle was rejected, as reported: the error's message, cut to 500 characters."""
    return str(exc)[:500]
