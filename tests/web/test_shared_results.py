"""How a web worker reads the builds the analytics worker stores (``SharedResults``): one build of a
result held at a time, and one read of a new build however many threads ask for it."""

import threading
import time

import pandas as pd

from sicdoc.dashboards.calls import Call
from sicdoc.dashboards.shared import SharedResults
from sicdoc.db import make_engine
from tests.web.analytics_population import let_go_at_each_read


def test_a_web_worker_lets_go_of_the_build_it_held_before_it_reads_the_next(database_url, monkeypatch):
    """A new build of a large result (a million patients' worklist) is read only once nothing in the
    process holds the one before: two at once set a web worker's peak memory."""
    engine = make_engine(database_url)
    try:
        shared = SharedResults(engine, "s" * 40)
        call = Call("worklist", ("scope",), ("scope",))
        shared.request(call)
        shared.store(call.key, "v1", ("ok", pd.DataFrame({"patient_id": ["p1", "p2"]})))
        before = shared.held(call, "v1")
        assert before is not None
        shared.store(call.key, "v2", ("ok", pd.DataFrame({"patient_id": ["p1", "p2", "p3"]})))
        released = let_go_at_each_read(monkeypatch, shared, before.value)
        del before
        after = shared.held(call, "v2")
        assert (
            after is not None
            and after.version == "v2"
            and list(after.value["patient_id"]) == ["p1", "p2", "p3"]
        )
        assert released == [True]
    finally:
        engine.dispose()


def test_threads_asking_for_a_new_build_at_once_load_it_once(database_url, monkeypatch):
    """A web worker's threads that all ask for the same new build wait for one of them to read and
    unpickle it: a million patients' worklist loaded once per thread set a worker's peak memory."""
    engine = make_engine(database_url)
    try:
        shared = SharedResults(engine, "s" * 40)
        call = Call("worklist", ("scope",), ("scope",))
        shared.request(call)
        shared.store(call.key, "v1", ("ok", list(range(1000))))
        opened = []
        real_open = shared._seal.open

        def slow_open(context, payload):
            opened.append(context)
            time.sleep(0.3)
            return real_open(context, payload)

        monkeypatch.setattr(shared._seal, "open", slow_open)
        row = shared._status(call.key)
        got = []
        threads = [threading.Thread(target=lambda: got.append(shared._read(row))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(opened) == 1
        assert [entry.value for entry in got] == [("ok", list(range(1000)))] * 4
        shared.store(call.key, "v2", ("ok", [1]))  # a new build is read again, and only it is kept
        assert shared._read(shared._status(call.key)).value == ("ok", [1]) and len(opened) == 2
        assert shared._served.latest(call.key).version == "v2"
    finally:
        engine.dispose()


def test_a_table_brought_up_to_date_here_is_handed_out_though_another_thread_reads_a_build_meanwhile(
    database_url, monkeypatch
):
    """A web worker goes on from the table it brought up to date though the analytics worker stored a
    build since; another of its threads may read a build while this one asks the worker for the
    current version, and what it hands out stays the table it took, with the build it started from."""
    engine = make_engine(database_url)
    try:
        shared = SharedResults(engine, "s" * 40)
        call = Call("worklist", ("scope",), ("scope",))
        shared.request(call)
        shared.store(call.key, "v1", ("ok", [1]))
        first = shared.held(call, "v2")
        assert first is not None and first.version == "v1" and not first.kept
        shared.keep(call, "v2", [1, 2], first)
        shared.store(call.key, "v2", ("ok", [1, 2]))  # the worker's build of the same write, since
        monkeypatch.setattr(shared, "_request", lambda _call, _now: shared._kept_from.clear())
        mine = shared.held(call, "v3")
        assert mine is not None and mine.kept
        assert (mine.version, mine.value, mine.build) == ("v2", [1, 2], first.build)
    finally:
        engine.dispose()
