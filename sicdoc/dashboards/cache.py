"""In-process cache of loaded frames and built dashboards, keyed on the data version.

Each app process keeps its own (gunicorn workers share nothing; in shared analytics mode a web
worker keeps here only the few results it last read from the database), and every lookup checks the
data version first, so a write in any process is seen by all of them on their next view. Entries
also expire after ``max_age`` seconds: a transaction that commits with an older ``last_updated``
than one already seen would not move the version, and the expiry bounds how long that can go
unnoticed.

One entry per key holds the value of the latest version computed; ``latest`` hands it out even
when the data has moved on, for views that may show slightly old figures while new ones are built.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    version: str
    computed_at: float  # time.time(), for telling people how old a figure is
    started: float  # time.monotonic() when the computation began
    value: Any


class VersionedCache:
    """A small LRU of values computed for (data version, key)."""

    def __init__(self, max_entries: int = 32, max_age: float = 300.0):
        self.max_entries = max_entries
        self.max_age = max_age
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, version: str, key: Hashable) -> Entry | None:
        """The entry of ``key`` if it was computed for ``version`` and has not expired."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit.version != version or time.monotonic() - hit.started > self.max_age:
                return None
            self._entries.move_to_end(key)
            return hit

    def latest(self, key: Hashable) -> Entry | None:
        """The entry of ``key`` whatever version it was computed for."""
        with self._lock:
            return self._entries.get(key)

    def get(self, version: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        hit = self.peek(version, key)
        if hit is not None:
            return hit.value
        # Computed outside the lock: two requests may both compute, which is cheaper than queueing.
        started = time.monotonic()
        value = compute()
        with self._lock:
            # A computation that began later read a version at least as new: it is not overwritten.
            current = self._entries.get(key)
            if current is None or current.started <= started:
                self._entries[key] = Entry(version, time.time(), started, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def put(self, version: str, key: Hashable, value: Any, computed_at: float) -> None:
        """Keep ``value``, computed elsewhere at ``computed_at`` (``time.time()``), for ``version``:
        it expires ``max_age`` seconds after it was computed, not after it arrived."""
        started = time.monotonic() - max(0.0, time.time() - computed_at)
        with self._lock:
            self._entries[key] = Entry(version, computed_at, started, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
