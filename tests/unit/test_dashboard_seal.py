"""Sealed analytics rows: what is sealed opens as it was, what was altered does not open, rows written
before the streaming seal still open, and opening never holds the whole pickle beside its value."""

import hashlib
import hmac
import pickle
import tracemalloc
import zlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sicdoc.dashboards import seal as seal_module
from sicdoc.dashboards.seal import Seal, Tampered

SECRET = "s" * 40


def sealed_the_first_way(secret: str, context: bytes, value: object) -> bytes:
    """A row as servers before the streaming seal wrote it: format byte, HMAC, zlib of the pickle."""
    key = hashlib.sha256(b"sicdoc analytics results\0" + secret.encode()).digest()
    body = zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), 1)
    return b"\x01" + hmac.new(key, context + b"\0" + body, hashlib.sha256).digest() + body


def table(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "patient_id": [f"{n:08x}-0000-4000-8000-{n * 7919:012x}" for n in range(rows)],
            "cohorts": pd.Categorical(rng.choice(["cancer", "stroke"], rows)),
            "days_waiting": rng.integers(0, 4000, rows),
            "last_contact": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 900, rows), unit="D"),
        }
    )


@pytest.mark.parametrize(
    "value", [("ok", {"a": [1, 2.5, None]}), ("error", "no data"), table(5_000), b"x" * 300_000]
)
def test_a_sealed_value_opens_as_it_was_and_as_rows_were_written_before(value):
    seal = Seal(SECRET)
    blob = seal.seal(b"worklist\0v1", value)
    assert blob == sealed_the_first_way(SECRET, b"worklist\0v1", value)  # servers of either kind read it
    for stored in (blob, memoryview(blob), bytearray(blob)):  # as drivers hand a column back
        opened = seal.open(b"worklist\0v1", stored)
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(opened, value)
        else:
            assert opened == value


def test_an_altered_row_or_a_row_moved_or_sealed_under_another_key_is_refused():
    seal = Seal(SECRET)
    blob = seal.seal(b"worklist\0v1", table(100))
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 1
    for context, stored, opener in [
        (b"worklist\0v1", bytes(flipped), seal),
        (b"worklist\0v2", blob, seal),  # another row's context
        (b"worklist\0v1", blob, Seal("t" * 40)),
        (b"worklist\0v1", b"\x02" + blob[1:], seal),
        (b"worklist\0v1", blob[:-1], seal),
        (b"worklist\0v1", b"", seal),
    ]:
        with pytest.raises(Tampered):
            opener.open(context, stored)


def test_opening_holds_the_value_and_pieces_of_the_pickle_never_the_whole_pickle():
    value = np.arange(4_000_000, dtype=np.int64)  # 32 MB pickled, a few hundred kB compressed
    blob = Seal(SECRET).seal(b"k", value)
    tracemalloc.start()
    try:
        opened = Seal(SECRET).open(b"k", blob)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(opened, value)
    assert peak < value.nbytes * 1.2  # whole, it was the pickle and the array: twice the value


@settings(max_examples=60, deadline=None)
@given(
    runs=st.lists(st.tuples(st.binary(min_size=1, max_size=40), st.integers(1, 3000)), max_size=30),
    piece=st.integers(1, 300),
)
def test_any_value_opens_whatever_the_pieces_it_is_inflated_in(runs, piece):
    """Runs of repeats and noise, so that a piece of input inflates to anything from nothing to far
    more than a read asks for; opened in pieces of a few bytes, the value is whole."""
    value = [chunk * times for chunk, times in runs]
    seal = Seal(SECRET)
    blob = seal.seal(b"k", value)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(seal_module, "_PIECE", piece)
        assert seal.open(b"k", blob) == value
