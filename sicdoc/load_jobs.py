"""The worker processes of ``sicdoc load --jobs N``.

SQLite writes one transaction at a time, so there the workers parse and validate the coming batches
while the loading process writes them (``checked_batches``). On PostgreSQL each worker writes whole
batches on its own connection, side by side (``written_by_workers``): one writer leaves the server
idle while it plans a batch and itself idle while the server inserts and commits, about 1.2 of two
cores busy. The batches' outcomes still come back in file order. Two writers are two clients of the
same rules as the API's: a conditional create that may create waits for another writer holding its
criteria, one that matches waits for no one, and each batch appends its records to the audit chain
under the chain's lock, so the chain verifies, its records in commit order rather than file order.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from sicdoc.services.raw_bundles import Outcome, RawBundle

Batches = Iterator[tuple[list["RawBundle"], int]]  # bundles as read, and the bytes behind them

# In a worker process (one load's): the entries it has seen pass, as ``check_transaction`` keeps them.
_PASSED: dict[bytes, None] = {}
# In a writing worker: the app built from the loading process's configuration, and the advisory
# locks its transactions may take (the server's lock table is shared by the writers).
_APP: Flask | None = None
_LOCK_BUDGET = 0
# In a worker process: whether what it keeps for its life is out of the collector's reach (``_settle``).
_SETTLED = False


def checked_batches(batches: Batches, jobs: int, max_entries: int) -> Batches:
    """``batches`` in order; with ``jobs`` > 1, parsed and validated ahead by that many processes."""
    if jobs <= 1:
        yield from batches
        return
    pool = _pool(jobs, _start_worker, ())
    try:
        ahead: deque[tuple[Future[list[RawBundle]], list[RawBundle], int]] = deque()
        for batch, consumed in batches:
            ahead.append((pool.submit(_check_batch, batch, max_entries), batch, consumed))
            if len(ahead) > 2 * jobs:  # enough queued to keep every worker busy, no more in memory
                yield _rejoined(*ahead.popleft())
        while ahead:
            yield _rejoined(*ahead.popleft())
    finally:
        # Stopped early (Ctrl-C, an error): the batches queued ahead are not worth checking.
        pool.shutdown(cancel_futures=True)


def written_by_workers(
    app: Flask, batches: Batches, jobs: int, stopped: Callable[[], bool]
) -> Iterator[tuple[list[Outcome], int]]:
    """Each batch written by one of ``jobs`` processes, its outcomes in file order with the bytes
    behind it. Once ``stopped()``, no batch is begun; those being written commit and are yielded."""
    config = {k: v for k, v in app.config.items() if k.isupper() and _plain(v)}
    pool = _pool(jobs, _start_writer, (config, jobs))
    try:
        ahead: deque[tuple[Future[list[Outcome]], int]] = deque()
        for batch, consumed in batches:
            if stopped():
                break
            ahead.append((pool.submit(_write_batch, batch), consumed))
            while len(ahead) > 2 * jobs or (ahead and ahead[0][0].done()):
                future, used = ahead.popleft()
                yield future.result(), used
        for future, _ in ahead:
            if stopped():
                future.cancel()  # queued, not begun; one being written cannot be and commits
        for future, used in ahead:
            if not future.cancelled():
                yield future.result(), used
    finally:
        pool.shutdown(cancel_futures=True)


def _pool(jobs: int, initializer: Callable[..., None], args: tuple[Any, ...]) -> ProcessPoolExecutor:
    # Spawned, not forked: a worker must not inherit the parent's open database connections.
    return ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), initializer=initializer, initargs=args
    )


def _plain(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _check_batch(batch: list[RawBundle], max_entries: int) -> list[RawBundle]:
    """In a worker process: each bundle parsed and validated, its verdict and criteria attached. The
    bytes are not sent back (the writing process has them): half of what would cross between the
    processes."""
    from sicdoc.services.raw_bundles import check_raw

    checked = [replace(check_raw(raw, max_entries, _PASSED), data=b"") for raw in batch]
    _settle()
    return checked


def _rejoined(
    future: Future[list[RawBundle]], batch: list[RawBundle], consumed: int
) -> tuple[list[RawBundle], int]:
    """A worker's verdicts on ``batch`` with the bundles' bytes put back."""
    return [
        replace(checked, data=raw.data) for raw, checked in zip(batch, future.result(), strict=True)
    ], consumed


def _start_writer(config: dict[str, Any], jobs: int) -> None:
    """In a writing worker: the app, as the loading process configured it."""
    from sicdoc.app import create_app
    from sicdoc.services.bulk import LOCKS_PER_TRANSACTION

    global _APP, _LOCK_BUDGET
    _start_worker()
    _APP = create_app(config)
    _LOCK_BUDGET = LOCKS_PER_TRANSACTION // jobs


def _write_batch(batch: list[RawBundle]) -> list[Outcome]:
    """In a writing worker: one batch through ``load_batch``, on this process's own connection."""
    from sicdoc.db import session_scope
    from sicdoc.services.bulk import load_batch

    app = _APP
    assert app is not None  # set by _start_writer
    with session_scope(app) as session:
        store, max_entries = app.extensions["sicdoc.store"], app.config["FHIR_MAX_BUNDLE_ENTRIES"]
        outcomes = load_batch(
            session, store, batch, max_entries=max_entries, passed=_PASSED, lock_budget=_LOCK_BUDGET
        )
    _settle()
    return outcomes


def _start_worker() -> None:
    """In a worker, first: Ctrl-C reaches the whole process group, and the loading process alone
    decides what to do with it (a worker ends when it shuts the pool down). A spawned interpreter
    starts with the collector's defaults, so it is set as the loading process sets itself."""
    from sicdoc.collector import tune_collector

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_collector()


def _settle() -> None:
    """After a worker's first batch, once: what it holds then (the app, and the FHIR models and rules
    loaded at first use) stays for the worker's life, and frozen it is no longer walked by the full
    collections a batch's garbage sets off. With neither this nor ``tune_collector``, each writing
    worker of a load of 5,000 patients used 34-35 CPU seconds; with both, 19-20."""
    from sicdoc.collector import freeze_survivors

    global _SETTLED
    if not _SETTLED:
        freeze_survivors()
        _SETTLED = True
