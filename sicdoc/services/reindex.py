"""Rebuilding the search indexes, compartment rows and projections of the stored resources.

A new search parameter or a fixed projector reaches only the versions written after it; a reindex
passes the current versions through the write path's own indexing again (``Store.reindex``). Each
batch is one transaction that also records how far its type has come (``ReindexMark``), so an
interruption keeps every finished batch, ``unfinished`` continues from there, and a plain re-run
redoes the lot. Rows are replaced, never added to, so running twice leaves the same rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sicdoc.errors import InvalidInput
from sicdoc.fhir.dates import utc_now
from sicdoc.fhir.validation import is_resource_type
from sicdoc.models import ReindexMark, Resource
from sicdoc.security import audit
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored

BATCH = 500
# A conversation row reads its encounter's projection and the part-of references of its
# QuestionnaireResponse and Observations, so Procedures are rebuilt after every other type.
_LAST = ("Procedure",)


@dataclass(frozen=True)
class Step:
    """One resource type to walk, from after ``after`` ("" for the start) in id order."""

    resource_type: str
    after: str = ""


def plan(uow: UnitOfWork, resource_type: str | None = None) -> list[Step]:
    """A new run over every stored type (or over one), each marked pending until its last batch."""
    if resource_type is not None and not is_resource_type(resource_type):
        raise InvalidInput(f"'{resource_type}' is not an R4 resource type")
    session = uow.session
    with uow.transaction():
        if resource_type is None:
            types: Iterable[str] = session.scalars(select(Resource.resource_type).distinct())
        else:
            types = [resource_type]
        steps = [Step(rtype) for rtype in _ordered(types)]
        for step in steps:
            _mark(session, step.resource_type, "")
    return steps


def unfinished(uow: UnitOfWork) -> list[Step]:
    """The steps that complete every run an interruption left unfinished (none if all finished)."""
    pending = select(ReindexMark.resource_type, ReindexMark.pending_after).where(
        ReindexMark.pending_after.is_not(None)
    )
    after = {rtype: position for rtype, position in uow.session.execute(pending)}
    return [Step(rtype, after[rtype] or "") for rtype in _ordered(after)]


def remaining(session: Session, steps: list[Step]) -> int:
    """How many resources the steps will walk (deleted ones included: they lose their rows)."""
    return sum(
        session.scalar(
            select(func.count())
            .select_from(Resource)
            .where(Resource.resource_type == step.resource_type, Resource.id > step.after)
        )
        or 0
        for step in steps
    )


def run(
    uow: UnitOfWork,
    steps: list[Step],
    *,
    batch_size: int = BATCH,
    on_batch: Callable[[int], object] | None = None,
) -> int:
    """Walk the steps in batches of one transaction each; returns how many resources were rebuilt.

    The audit log records the run, finished or interrupted (with the last resource done).
    """
    done = 0
    position = "the start"
    try:
        for step in steps:
            after = step.after
            while True:
                count, after = _batch(uow, step.resource_type, after, batch_size)
                done += count
                if count:
                    position = f"{step.resource_type}/{after}"
                if on_batch is not None:
                    on_batch(count)
                if count < batch_size:
                    break
    except BaseException as exc:
        # The interruption is what the caller must hear about, even if its record cannot be written.
        with contextlib.suppress(audit.AuditUnavailable):
            _audit(uow, steps, "error", f"interrupted after {position} ({type(exc).__name__}), {done} done")
        raise
    _audit(uow, steps, "success", f"{done} resources of {len(steps)} types")
    return done


def _batch(uow: UnitOfWork, resource_type: str, after: str, size: int) -> tuple[int, str]:
    """Rebuild the next ``size`` resources of a type after id ``after``: (how many, the last id)."""
    session = uow.session
    with uow.transaction():
        rows = session.execute(
            select(
                Resource.id, Resource.version_id, Resource.last_updated, Resource.deleted, Resource.content
            )
            .where(Resource.resource_type == resource_type, Resource.id > after)
            .order_by(Resource.id)
            .limit(size)
            # A write to one of them waits, so it cannot slip between the read and the rebuild.
            .with_for_update()
        ).all()
        uow.store.reindex(
            session,
            [
                Stored(resource_type, rid, version, updated, deleted, None if deleted else content)
                for rid, version, updated, deleted, content in rows
            ],
        )
        last = rows[-1].id if rows else after
        _mark(session, resource_type, last if len(rows) == size else None)
    return len(rows), last


def _mark(session: Session, resource_type: str, pending_after: str | None) -> None:
    mark = session.get(ReindexMark, resource_type)
    if mark is None:
        mark = ReindexMark(resource_type=resource_type)
        session.add(mark)
    mark.reindexed_at = utc_now()
    mark.pending_after = pending_after


def _ordered(types: Iterable[str]) -> list[str]:
    return sorted(types, key=lambda rtype: (rtype in _LAST, rtype))


def _audit(uow: UnitOfWork, steps: list[Step], outcome: str, detail: str) -> None:
    only = steps[0].resource_type if len(steps) == 1 else None
    audit.record(uow.session, uow.actor, "reindex", outcome, resource_type=only, detail=detail)
