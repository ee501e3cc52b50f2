"""Loading many transaction bundles in one database transaction (``sicdoc load``).

Each bundle keeps its all-or-nothing rule: a bundle that fails is taken back alone and reported, and
the rest of the batch commits. A plain bundle (creates, conditional ones matched on identifiers) writes
nothing while it runs: its resource, history, index, compartment and receipt rows are held
(``sicdoc.store.rows``) and the batch writes them all at its end, one statement per table, then
projects them; taking a failed bundle back is dropping its held rows. Any other bundle first has the
held rows written, then runs under its own savepoint. If the held rows cannot be written (a unique
key taken in the database), the batch runs again with a savepoint per bundle, so the failure is
reported for its bundle.

The batch's write records are held until its end and appended to the audit chain in one piece, in
the order the bundles were applied, so the chain is locked and extended once per batch instead of
once per bundle; they commit with the writes, so no change is ever committed without its record.

A bundle whose savepoint hits a unique key taken by a concurrent writer is tried again on its own,
through ``process_transaction``, after the batch commits.

On PostgreSQL every conditional create that may create holds an advisory lock until its transaction
commits, and the server's lock table is small and shared by all sessions; a batch whose bundles could
need more than ``LOCKS_PER_TRANSACTION`` of them commits in consecutive parts that each stay within it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from sicdoc.errors import DuplicateIdentifier, SicdocError
from sicdoc.security import audit
from sicdoc.security.audit import Actor
from sicdoc.services.bundles import (
    Passed,
    apply_checked,
    bundle_key,
    process_transaction,
)
from sicdoc.services.entries import Criteria, criteria_of, look_ahead
from sicdoc.services.matching import Pending, lock_keys
from sicdoc.services.raw_bundles import Outcome, RawBundle, parsed, patients_in, reason, reread
from sicdoc.services.unit import EVERYTHING, UnitOfWork
from sicdoc.store import Store, Stored
from sicdoc.store.reads import read_many
from sicdoc.store.rows import HeldRows, holding

# Receipts of the command line are kept under the empty client id, as they always were.
CLI_CLIENT = ""
# Advisory locks one loading transaction may hold on PostgreSQL. The lock table holds 64 per
# connection by default (6,400 with 100 connections, and some slack), for every session at once: a
# default server refused one transaction 16,000 and granted two transactions 4,000 each at once.
# A batch of 400 generated one-patient bundles needs about 3,400, so it still commits whole. Writers
# loading side by side (``sicdoc load --jobs``) share this many: four of 4,000 each ran out.
LOCKS_PER_TRANSACTION = 4_000


class _BatchUnit(UnitOfWork):
    """A unit whose write records wait for the end of the batch (``release``)."""

    def __init__(self, session: Session, store: Store, actor: Actor):
        super().__init__(session, store, actor, EVERYTHING, "cli")
        self.held: list[tuple[str, Stored]] = []

    def audit_writes(self, writes: list[tuple[str, Stored]]) -> None:
        self.held.extend(writes)

    def release(self) -> None:
        held, self.held = self.held, []
        UnitOfWork.audit_writes(self, held)


def load_batch(
    session: Session,
    store: Store,
    bundles: Iterable[RawBundle],
    *,
    max_entries: int = 5000,
    actor: Actor = audit.SYSTEM,
    passed: Passed | None = None,
    lock_budget: int = LOCKS_PER_TRANSACTION,
) -> list[Outcome]:
    """Apply ``bundles`` in order in one transaction, each all or nothing; one outcome per bundle.
    ``passed`` carries the entries already checked in this load from batch to batch; ``lock_budget``
    is the advisory locks a transaction may take (``LOCKS_PER_TRANSACTION`` shared by the writers
    that run side by side)."""
    outcomes: dict[int, Outcome] = {}
    ready: list[_Ready] = []
    for n, raw in enumerate(bundles):
        if raw.problem is not None:
            outcomes[n] = Outcome(raw.label, problem=raw.problem)
            continue
        if raw.checked and raw.criteria is not None and raw.key is not None:
            ready.append(_Ready(n, raw))  # a worker read it: parsed when it is applied
            continue
        found = parsed(raw, max_entries, passed)
        if isinstance(found, str):
            outcomes[n] = Outcome(raw.label, problem=found)
            continue
        bundle, entries = found
        if raw.criteria is None:
            raw = replace(raw, criteria=criteria_of(entries))
        ready.append(_Ready(n, raw, (bundle, entries)))
    alone: list[tuple[int, RawBundle]] = []
    for part in _within_locks(session, ready, lock_budget):
        alone += _write_part(session, store, actor, part, outcomes)
    for n, raw in alone:
        outcomes[n] = _load_alone(session, store, raw, max_entries, actor)
    return [outcomes[n] for n in sorted(outcomes)]


@dataclass(frozen=True)
class _Ready:
    """A bundle to apply. One a worker process checked is parsed only when it is applied, so a batch
    never holds all its bundles parsed at once: parsing 400 and keeping them took 89 µs a bundle
    against 37 µs for parsing each and letting it go (fresh memory, and the collector walking it),
    and the loader's writing process used 6% less CPU at a million patients."""

    n: int
    raw: RawBundle
    parsed: tuple[dict[str, Any], list[dict[str, Any]]] | None = None  # (bundle, its entries)

    def parts(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if self.parsed is not None:
            return self.parsed
        bundle = reread(self.raw)
        return bundle, bundle["entry"]

    def key(self) -> tuple[str, str]:
        return self.raw.key or bundle_key(self.parts()[0])


class _Redo(Exception):
    """The batch's held rows failed to write; run it again with a savepoint per bundle."""


def _within_locks(session: Session, ready: list[_Ready], budget: int) -> Sequence[list[_Ready]]:
    """``ready`` in consecutive parts whose conditional creates could need at most ``budget``
    advisory locks together (one part on SQLite, which takes none); a bundle that alone could need
    more is a part of its own."""
    if session.get_bind().dialect.name != "postgresql":
        return [ready] if ready else []
    parts: list[tuple[list[_Ready], set[int]]] = []
    for item in ready:
        keys = lock_keys(_criteria(item.raw).writes)
        if parts and len(parts[-1][1]) + len(keys - parts[-1][1]) <= budget:
            parts[-1][0].append(item)
            parts[-1][1].update(keys)
        else:
            parts.append(([item], keys))
    return [part for part, _ in parts]


def _criteria(raw: RawBundle) -> Criteria:
    """A ready bundle's criteria, which ``load_batch`` has read (or a worker process) before any write."""
    assert raw.criteria is not None
    return raw.criteria


def _write_part(
    session: Session, store: Store, actor: Actor, ready: list[_Ready], outcomes: dict[int, Outcome]
) -> list[tuple[int, RawBundle]]:
    """One transaction for a part, its rows held; the bundles to try alone after it commits."""
    try:
        return _write_batch(session, store, actor, ready, outcomes, hold=True)
    except _Redo:
        # The held rows could not be written (a key taken in the database, a value it refused): the
        # part runs again, each bundle under its own savepoint, so the failure is its bundle's.
        session.rollback()
        again = [_Ready(item.n, item.raw) for item in ready]
        return _write_batch(session, store, actor, again, outcomes, hold=False)


def _write_batch(
    session: Session,
    store: Store,
    actor: Actor,
    ready: list[_Ready],
    outcomes: dict[int, Outcome],
    *,
    hold: bool,
) -> list[tuple[int, RawBundle]]:
    """One transaction for ``ready``; the bundles to try alone after it commits.

    With ``hold``, the creates of plain bundles (conditional creates on identifiers, nothing else) are
    held and written together at the end (``sicdoc.store.rows``); any other bundle first writes what
    is held, then runs under its own savepoint.
    """
    unit = _BatchUnit(session, store, actor)
    kept: list[object] = []
    alone: list[tuple[int, RawBundle]] = []
    done: dict[int, Outcome] = {}

    def keep(_session: Session, instance: object) -> None:
        kept.append(instance)

    # Rows read in the batch (the Organization every bundle matches) stay in the session's
    # identity map, which holds them weakly, so they are read once per batch, not once per bundle.
    event.listen(session, "loaded_as_persistent", keep)
    try:
        with unit.transaction():
            criteria = {item.n: _criteria(item.raw) for item in ready}
            known = look_ahead(unit, list(criteria.values()))
            held = HeldRows() if hold else None
            keys: dict[int, tuple[str, str]] = {}
            if held is not None:
                keys = {item.n: item.key() for item in ready}
                held.read_receipts(session, CLI_CLIENT, [key for key, _ in keys.values()])
                held.read.update(read_many(session, _matched(held, criteria, keys, known)))
            with holding(session, held):
                for item in ready:
                    n, raw, (bundle, entries) = item.n, item.raw, item.parts()
                    if held is not None and criteria[n].plain:
                        outcome, known = _apply_held(
                            unit, held, raw, (bundle, entries, criteria[n]), known, keys[n]
                        )
                    else:
                        if held is not None:
                            _write_held(session, store, held)
                        with holding(session, None):
                            outcome, known = _apply_one(unit, raw, bundle, entries, known)
                    if outcome is None:
                        alone.append((n, raw))
                    else:
                        done[n] = outcome
                if held is not None:
                    _write_held(session, store, held)
            unit.release()
    finally:
        event.remove(session, "loaded_as_persistent", keep)
    outcomes.update(done)
    return alone


def _matched(
    held: HeldRows, criteria: dict[int, Criteria], keys: dict[int, tuple[str, str]], known: Pending
) -> set[tuple[str, str]]:
    """The resources that the criteria of bundles not loaded before match: a conditional create that
    matches answers with the version it found, so these (the Practitioners, Locations and the
    Organization many bundles share) are read for the batch at once rather than one by one."""
    found: set[tuple[str, str]] = set()
    for n, (key, _) in keys.items():
        if held.receipts.get((CLI_CLIENT, key)) is None:
            for rtype, pairs in criteria[n].wanted.items():
                found.update(
                    (rtype, rid) for system, value in pairs for rid in known.get((rtype, system, value), ())
                )
    return found


def _write_held(session: Session, store: Store, held: HeldRows) -> None:
    if not held:
        return
    try:
        held.write(session, store.project_held)
    except (IntegrityError, DataError, DuplicateIdentifier) as exc:
        raise _Redo() from exc


def _apply_held(
    unit: _BatchUnit,
    held: HeldRows,
    raw: RawBundle,
    parts: tuple[dict[str, Any], list[dict[str, Any]], Criteria],
    known: Pending,
    key: tuple[str, str],
) -> tuple[Outcome | None, Pending]:
    """One plain bundle whose rows are held: it writes nothing until the batch does, so taking back
    its held rows and records undoes it (no savepoint needed)."""
    bundle, entries, criteria = parts
    mark, records = held.mark(), len(unit.held)
    trial = dict(known)
    try:
        result = apply_checked(
            unit, bundle, entries, client_id=CLI_CLIENT, known=trial, key=key, criteria=criteria
        )
    except DuplicateIdentifier:
        held.undo(mark)
        del unit.held[records:]
        return None, known
    except SicdocError as exc:
        held.undo(mark)
        del unit.held[records:]
        return Outcome(raw.label, problem=reason(exc)), known
    except (IntegrityError, DataError) as exc:  # the database refused a read: give each bundle a savepoint
        raise _Redo() from exc
    outcome = Outcome(raw.label, patients_in(entries), created=result.created, replayed=result.replayed)
    return outcome, trial


def _apply_one(
    unit: _BatchUnit, raw: RawBundle, bundle: dict[str, Any], entries: list[dict[str, Any]], known: Pending
) -> tuple[Outcome | None, Pending]:
    """One bundle under its savepoint: its outcome (None: try it alone) and what later bundles know."""
    mark = len(unit.held)
    trial = dict(known)
    changed = {
        e["request"]["url"].split("?")[0].split("/")[0]
        for e in entries
        if e["request"]["method"] in ("PUT", "DELETE")
    }
    try:
        with unit.session.begin_nested():
            result = apply_checked(unit, bundle, entries, client_id=CLI_CLIENT, known=trial)
    except (DuplicateIdentifier, IntegrityError):
        del unit.held[mark:]
        return None, known
    except SicdocError as exc:
        del unit.held[mark:]
        return Outcome(raw.label, problem=reason(exc)), known
    except DataError:  # a value the database refused: this bundle's input, not the server
        del unit.held[mark:]
        return Outcome(raw.label, problem="holds a value that cannot be stored or compared"), known
    if changed:  # an update or delete may have moved identifiers: look those types up again
        trial = {key: ids for key, ids in trial.items() if key[0] not in changed}
    outcome = Outcome(raw.label, patients_in(entries), created=result.created, replayed=result.replayed)
    return outcome, trial


def _load_alone(session: Session, store: Store, raw: RawBundle, max_entries: int, actor: Actor) -> Outcome:
    bundle = reread(raw)
    try:
        result = process_transaction(
            UnitOfWork(session, store, actor, EVERYTHING, "cli"),
            bundle,
            client_id=CLI_CLIENT,
            max_entries=max_entries,
        )
    except SicdocError as exc:
        session.rollback()
        return Outcome(raw.label, problem=reason(exc))
    patients = patients_in(bundle["entry"])
    return Outcome(raw.label, patients, created=result.created, replayed=result.replayed)


__all__ = ["load_batch"]
