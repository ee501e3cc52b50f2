"""In-process cache of loaded frames and built dashboards, keyed on the data version.

Each app process keeps its own (gunicorn workers share nothing), and every lookup checks the
data version first, so a write in any process is seen by all of them on their next view. Entries
also expire after ``max_age`` seconds: a transaction that commits with an older ``last_updated``
than one already seen would not move the version, and the expiry bounds how long that can go
unnoticed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class VersionedCache:
    """A small LRU of values computed for (data version, key)."""

    def __init__(self, max_entries: int = 32, max_age: float = 300.0):
        self.max_entries = max_entries
        self.max_age = max_age
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        full = (version, key)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(full)
            if hit is not None and now - hit[0] <= self.max_age:
                self._entries.move_to_end(full)
                return hit[1]
        # Computed outside the lock: two requests may both compute, which is cheaper than queueing.
        value = compute()
        with self._lock:
            for old in [k for k in self._entries if k[0] != version]:
                del self._entries[old]
            self._entries[full] = (now, value)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
