"""The versioned cache behind the dashboards: exact hits per data version, the last value per key."""

import threading

import pytest

from sicdoc.dashboards.cache import VersionedCache


def test_a_value_is_reused_only_for_its_data_version():
    cache = VersionedCache()
    calls = []
    assert cache.get("v1", "k", lambda: calls.append(1) or "one") == "one"
    assert cache.get("v1", "k", lambda: calls.append(1) or "again") == "one"
    assert cache.get("v2", "k", lambda: calls.append(2) or "two") == "two"
    assert calls == [1, 2]
    assert cache.peek("v1", "k") is None  # the old version's value is no longer a hit...
    latest = cache.latest("k")
    assert latest is not None and (latest.version, latest.value) == ("v2", "two")  # ...the newest is kept


def test_values_expire_after_max_age():
    cache = VersionedCache(max_age=0.0)
    cache.get("v1", "k", lambda: "one")
    assert cache.peek("v1", "k") is None
    assert cache.get("v1", "k", lambda: "recomputed") == "recomputed"


def test_least_recently_used_keys_go_first():
    cache = VersionedCache(max_entries=2)
    for key in ("a", "b"):
        cache.get("v", key, lambda key=key: key)
    cache.get("v", "a", lambda: pytest.fail("a is cached"))
    cache.get("v", "c", lambda: "c")
    assert cache.latest("b") is None and cache.latest("a") is not None


def test_a_slow_computation_does_not_overwrite_one_that_began_later():
    cache = VersionedCache()
    release = threading.Event()

    def slow_old() -> str:
        release.wait(5)
        return "old"

    worker = threading.Thread(target=cache.get, args=("v1", "k", slow_old))
    worker.start()
    assert cache.get("v2", "k", lambda: "new") == "new"
    release.set()
    worker.join(5)
    latest = cache.latest("k")
    assert latest is not None and (latest.version, latest.value) == ("v2", "new")
