"""Garbage-collector settings for the processes that take in FHIR documents (server, loader).

A transaction bundle parses into tens of thousands of small dicts and lists that live until the
request ends. With CPython's default threshold (a young collection every 700 new containers) the
collector runs hundreds of times per bundle, and each pass that reaches the old generation walks
every object the app holds. Collecting the young generation every 50,000 containers instead loads
Synthea-like bundles 35-80% faster (bench/ingest.py --default-gc shows the difference); cyclic
garbage waits a little longer, and memory stays bounded because most of these objects are freed by
reference counting anyway.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect the young generation less often (the older generations keep their ratios)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def freeze_survivors() -> None:
    """Collect, then move everything still alive out of the collector's reach. Each full collection
    walks every object it tracks, and what a process keeps for its whole life (the app, the FHIR
    models) is walked for nothing. A server does it before its workers fork, so they never walk (and
    so never write to) these objects and keep their memory pages shared; a loading worker after its
    first batch (``sicdoc.load_jobs``)."""
    gc.collect()
    gc.freeze()
