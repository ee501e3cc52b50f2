"""Collector settings of the ingesting processes."""

import gc

import pytest

from sicdoc.collector import YOUNG_THRESHOLD, freeze_survivors, tune_collector


@pytest.fixture
def restore_collector():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_young_collections_become_rarer_and_older_ratios_stay(restore_collector):
    gc.set_threshold(700, 10, 10)
    tune_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_objects_alive_before_fork_are_left_out_of_collections(restore_collector):
    kept = [{"resourceType": "Patient"} for _ in range(100)]
    freeze_survivors()
    assert gc.get_freeze_count() >= len(kept)
