"""The clinician worklist as the service keeps and serves it (``Worklist``): its rows, and the patient
ids apart as one array of bytes, brought up to date in place after a write.

The worklist itself, who is on it and in which order, is ``sicdoc.analytics.worklist``'s.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sicdoc.analytics.worklist import CATEGORICAL, compact, ordered


@dataclass(frozen=True, eq=False)
class Worklist:
    """A worklist as the service keeps and serves it: its rows in order, and the patient ids apart, as
    one array of ASCII bytes (FHIR ids are ASCII) rather than a Python string each. Every web worker
    holds the worklists it serves, and at a million patients the ids were two thirds of one: 30 MiB
    of its 327,300 rows' 45, and 12 this way."""

    rows: pd.DataFrame  # the worklist's columns but the patient id, compact (``compact``)
    ids: np.ndarray  # bytes ("S" as wide as the longest id), one per row
    # A number per id (``_keys``), made again when a stored worklist is read, by which ids are looked
    # for: numpy compares strings of bytes one wanted id at a time (12 ms each at a million patients)
    # or sorts them all (0.6 s, and 40 MiB), where pandas hashes numbers.
    keys: np.ndarray = field(repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"rows": self.rows, "ids": self.ids}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "rows", state["rows"])
        object.__setattr__(self, "ids", state["ids"])
        object.__setattr__(self, "keys", _keys(state["ids"]))

    @classmethod
    def of(cls, table: pd.DataFrame) -> Worklist:
        """``table``, a worklist in its order (``worklist``'s), held this way."""
        ids = _ascii(table["patient_id"])
        return cls(compact(table.drop(columns="patient_id").reset_index(drop=True)), ids, _keys(ids))

    def __len__(self) -> int:
        return len(self.ids)

    def table(self, positions: np.ndarray | None = None) -> pd.DataFrame:
        """The rows at ``positions`` (all of them by default) as ``worklist`` gives them."""
        rows, ids = (
            (self.rows, self.ids) if positions is None else (self.rows.iloc[positions], self.ids[positions])
        )
        out = rows.reset_index(drop=True)
        out.insert(0, "patient_id", pd.Series(ids.astype(str), dtype=object))
        return out

    def holds(self, patients: Collection[str]) -> np.ndarray:
        """Which rows are of ``patients``."""
        width = self.ids.dtype.itemsize
        wanted = [p for p in patients if len(p) <= width and p.isascii()]  # longer ones are not here
        found = np.zeros(len(self), dtype=bool)
        if wanted:
            ids = np.array(wanted, dtype=self.ids.dtype)
            # The keys, hashed by pandas, then the ids themselves where a key matches.
            maybe = np.flatnonzero(pd.Series(self.keys, copy=False).isin(_keys(ids)).to_numpy())
            found[maybe[np.isin(self.ids[maybe], ids)]] = True
        return found

    def patched(self, fresh: pd.DataFrame, patients: Collection[str]) -> Worklist:
        """This worklist with the rows of ``patients`` replaced by ``fresh``, their worklist computed
        again from their own records after a write. Every row depends on its patient's records alone,
        so this is the worklist ``worklist`` gives for all the data, at the cost of those patients."""
        stays = ~self.holds(patients)
        if not stays.any():
            return Worklist.of(fresh)
        if len(fresh) > INSERTED_ONE_BY_ONE:
            kept = self.table(np.flatnonzero(stays))
            return Worklist.of(ordered(pd.concat(_same_categories(kept, fresh), ignore_index=True)))
        # Sorting a million patients' worklist again took over a second for the few rows a write
        # changes: each fresh row is put in place (most writes have none: their patient is not on the
        # list), and the rows are then taken a column at a time, so that beside these only the new
        # rows and one column are ever held (a web worker's peak).
        slots = sorted((self._position(stays, row), i) for i, row in enumerate(fresh.itertuples(index=False)))
        order = np.insert(np.flatnonzero(stays), [at for at, _ in slots], [len(self) + i for _, i in slots])
        rows, added = _same_categories(self.rows, fresh.drop(columns="patient_id"))
        taken = pd.DataFrame({name: _taken(rows[name], added[name], order) for name in rows}, copy=False)
        ids = _ascii(fresh["patient_id"])
        return Worklist(taken, _placed(self.ids, ids, order), _placed(self.keys, _keys(ids), order))

    def _position(self, stays: np.ndarray, row: Any) -> int:
        """How many rows where ``stays`` holds come before ``row`` in ordered's order: recency and
        priority ascending, the last contact newest first with none last, then the patient id."""
        recency, priority = self.rows["recency"].to_numpy(), self.rows["priority"].to_numpy()
        contact = self.rows["last_contact"]
        if pd.isna(row.last_contact):
            contact_before, contact_tied = contact.notna().to_numpy(), contact.isna().to_numpy()
        else:
            contact_before = (contact > row.last_contact).to_numpy()
            contact_tied = (contact == row.last_contact).to_numpy()
        tied = stays & (recency == row.recency) & (priority == row.priority) & contact_tied
        before = (recency < row.recency) | (recency == row.recency) & (
            (priority < row.priority) | (priority == row.priority) & contact_before
        )
        ids = self.ids[tied]
        return int((before & stays).sum()) + int((ids < row.patient_id.encode("ascii")).sum())


def _ascii(ids: pd.Series) -> np.ndarray:
    """Patient ids as one array of bytes, as wide as the longest (an empty one is one byte wide)."""
    return np.array(ids.tolist(), dtype="S") if len(ids) else np.array([], dtype="S1")


def _keys(ids: np.ndarray) -> np.ndarray:
    """A 64-bit number per id made from its bytes (FNV-1 over the zero-padded id)."""
    chars = np.ascontiguousarray(ids).view(np.uint8).reshape(len(ids), ids.dtype.itemsize)
    out = np.full(len(ids), 14695981039346656037, dtype=np.uint64)
    for column in chars.T:
        out *= np.uint64(1099511628211)
        out ^= column
    return out


def _placed(kept: np.ndarray, fresh: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Items ``order`` of ``kept`` then ``fresh`` as one new array (a join then a take held two)."""
    if fresh.dtype.itemsize > kept.dtype.itemsize:
        kept = kept.astype(fresh.dtype)  # a longer id than any before
    out = np.take(kept, order, mode="clip")  # the fresh rows' places are filled next
    added = np.flatnonzero(order >= len(kept))
    out[added] = fresh[order[added] - len(kept)]
    return out


def _taken(previous: pd.Series, fresh: pd.Series, order: np.ndarray) -> pd.Series:
    """Rows ``order`` of ``previous`` then ``fresh`` as one column, of ``previous``'s type (taken from
    the values, as a Series' own ``take`` also keeps an index of ``order``, a column's size again)."""
    both = pd.concat([previous, fresh], ignore_index=True)
    return pd.Series(both.array.take(order), dtype=previous.dtype, copy=False)


# Up to this many rows a write changed are each put in place in the sorted table; more, it is sorted.
INSERTED_ONE_BY_ONE = 50


def _same_categories(kept: pd.DataFrame, fresh: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables' categorical columns with one set of categories (``kept``'s, and any value new in
    ``fresh``), so that concatenating them keeps the columns categorical."""
    kept, fresh = compact(kept), compact(fresh)
    for column in CATEGORICAL:
        categories = kept[column].cat.categories
        new = fresh[column].cat.categories.difference(categories)
        dtype = pd.CategoricalDtype(categories.append(new))
        kept[column] = kept[column].astype(dtype)
        fresh[column] = fresh[column].astype(dtype)
    return kept, fresh
