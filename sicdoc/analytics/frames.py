"""The input frames: one per projection table, with the columns of ``sicdoc.models.projections``.

Analytics never reads the database; callers load the projection tables into DataFrames (any dtypes
pandas gives them) and ``Frames.normalised()`` coerces dates, instants and flags once (each table as
``sicdoc.analytics.tables`` says), so every module below can do date arithmetic without re-checking
types.

Normalised frames carry patients and encounters as integer keys: the analytics joins, groups and
looks up by them, and pandas does that on integers several times faster than on the stored string
ids. Keys are assigned in order of first appearance (sorting millions of string ids would cost more
than the rest of the read); ``Frames.patient_ids`` and ``Frames.encounter_ids`` turn keys back into
ids for the few outputs that name or order by them (the worklist, the data-quality listing).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from sicdoc.analytics.tables import (
    COLUMNS,
    NO_KEY,
    appended,
    assign_keys,
    assign_keys_under,
    empty_frame,
    empty_normalised,
    ids_of,
    normalised_parts,
    normalised_table,
    positions_in,
)

T = TypeVar("T")


def days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """Whole calendar days ``later - earlier`` (nullable Int64, negative kept: it is a flag)."""
    return (later - earlier).dt.days.astype("Int64")


@dataclass(frozen=True)
class Where:
    """The period and place a table is cut to (by default, all of them): what every table builder
    takes besides the cohort and the cut-off."""

    period_from: date | None = None
    period_to: date | None = None
    site: str | None = None
    unit: str | None = None


EVERYWHERE = Where()


@dataclass(frozen=True)
class Frames:
    """The projection tables an analytics run reads."""

    patients: pd.DataFrame = field(default_factory=lambda: empty_frame("patients"))
    diagnoses: pd.DataFrame = field(default_factory=lambda: empty_frame("diagnoses"))
    encounters: pd.DataFrame = field(default_factory=lambda: empty_frame("encounters"))
    referrals: pd.DataFrame = field(default_factory=lambda: empty_frame("referrals"))
    consults: pd.DataFrame = field(default_factory=lambda: empty_frame("consults"))
    conversations: pd.DataFrame = field(default_factory=lambda: empty_frame("conversations"))
    care_events: pd.DataFrame = field(default_factory=lambda: empty_frame("care_events"))
    locations: pd.DataFrame = field(default_factory=lambda: empty_frame("locations"))
    # Tables derived from these frames (indexed patients, a cohort's patients...), built once: a
    # dashboard asks for the same ones from many panels. Frames are never changed in place, and
    # pandas' copy-on-write keeps a caller's edits of a derived table from reaching the memo.
    _memo: dict[Hashable, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    is_normalised: bool = field(default=False, compare=False, repr=False)
    # Normalised frames only: the stored id of each integer key (position = key).
    patient_keys: pd.Index | None = field(default=None, compare=False, repr=False)
    encounter_keys: pd.Index | None = field(default=None, compare=False, repr=False)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per key for these frames."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @property
    def patients_by_id(self) -> pd.DataFrame:
        """Patients indexed by id (first row of any duplicate id)."""
        return self.memo(
            "patients_by_id", lambda: self.patients.drop_duplicates("patient_id").set_index("patient_id")
        )

    @property
    def encounters_by_id(self) -> pd.DataFrame:
        """Encounters indexed by id (first row of any duplicate id)."""
        return self.memo(
            "encounters_by_id",
            lambda: self.encounters.drop_duplicates("encounter_id").set_index("encounter_id"),
        )

    @classmethod
    def of(
        cls,
        tables: Mapping[str, pd.DataFrame],
        *,
        normalised: bool = False,
        patient_keys: pd.Index | None = None,
        encounter_keys: pd.Index | None = None,
    ) -> Frames:
        """Frames of the tables by name (a table not given is empty)."""

        def table(name: str) -> pd.DataFrame:
            return tables[name] if name in tables else empty_frame(name)

        return cls(
            patients=table("patients"),
            diagnoses=table("diagnoses"),
            encounters=table("encounters"),
            referrals=table("referrals"),
            consults=table("consults"),
            conversations=table("conversations"),
            care_events=table("care_events"),
            locations=table("locations"),
            is_normalised=normalised,
            patient_keys=patient_keys,
            encounter_keys=encounter_keys,
        )

    @classmethod
    def from_records(cls, **tables: list[dict]) -> Frames:
        """Build from lists of row dicts (missing columns become None), e.g. in tests or from SQL rows."""
        built = {}
        for name, rows in tables.items():
            if name not in COLUMNS:
                raise ValueError(f"unknown frame {name!r}")
            built[name] = pd.DataFrame(rows, columns=list(COLUMNS[name])) if rows else empty_frame(name)
        return cls.of(built)

    def normalised(self) -> Frames:
        """A copy with dates as datetime64, instants as UTC, flags as bool, code columns as
        categoricals, patients and encounters as integer keys (``NO_KEY`` where a row names no
        encounter) and other ids as objects. Rows without a patient belong to no cohort and are
        left out."""
        if self.is_normalised:
            return self
        return Frames._keyed({name: normalised_table(name, getattr(self, name)) for name in COLUMNS})

    @staticmethod
    def normalised_from(tables: Iterable[tuple[str, Iterable[pd.DataFrame]]]) -> Frames:
        """Normalised frames of tables that arrive in parts (a cursor's batches of rows), each part
        converted as it comes: the same frames as ``Frames.of(whole tables).normalised()``, but the
        raw rows (dates as text, each id a string of its own) are held a part at a time, not all at
        once (at a million patients they took about three times the memory of the frames)."""
        converted = {name: empty_normalised(name).copy() for name in COLUMNS}
        for name, parts in tables:
            converted[name] = normalised_parts(name, parts)
        return Frames._keyed(converted)

    @staticmethod
    def _keyed(tables: dict[str, pd.DataFrame]) -> Frames:
        patient_keys = assign_keys(tables, "patient_id")
        for name, table in tables.items():
            if "patient_id" in table.columns:  # (locations belong to no patient)
                orphans = table["patient_id"].to_numpy() == NO_KEY
                if orphans.any():  # a copy of the table, only when there is a row to leave out
                    tables[name] = table[~orphans].reset_index(drop=True)
        # Encounters are keyed over the rows kept, so frames keyed again after a write (``replaced``,
        # whose kept tables no longer have the rows without a patient) get the keys a whole read gets.
        encounter_keys = assign_keys(tables, "encounter_id")
        return Frames.of(tables, normalised=True, patient_keys=patient_keys, encounter_keys=encounter_keys)

    def replaced(self, **fresh: pd.DataFrame) -> Frames:
        """Normalised frames with the named tables replaced by freshly read ones, converted but not
        keyed (``tables.normalised_table``'s or ``joined``'s), the others kept (for a reload after a
        write that touched only some tables). Only the keys are assigned again, over every table as a
        whole read assigns them; the kept tables' other columns are shared, not converted again."""
        self._check_replacing("replaced", fresh)
        tables = {}
        for name in COLUMNS:
            if name in fresh:
                tables[name] = fresh[name]
                continue
            # Back to stored ids, so that keys are assigned afresh over all tables, old and new together.
            table = getattr(self, name).copy(deep=False)
            if "patient_id" in table.columns:
                table["patient_id"] = self.patient_ids(table["patient_id"])
            if "encounter_id" in table.columns:
                table["encounter_id"] = self.encounter_ids(table["encounter_id"])
            tables[name] = table
        return Frames._keyed(tables)

    def patched(self, patient_ids: Collection[str], fresh: Mapping[str, pd.DataFrame]) -> Frames:
        """Normalised frames with the rows of ``patient_ids`` in the tables of ``fresh`` replaced by
        ``fresh``'s: those patients' rows as read (``store.frames.patient_tables``), not yet converted.
        The other rows and tables are kept, and so are the keys: an id not seen before is given a key
        after the last. The frames a whole read gives, but for the keys' numbering and the rows' order,
        for a write of a few patients without reading whole tables again (25 s at a million patients)."""
        self._check_replacing("patched", fresh)
        patient_keys, encounter_keys = self.patient_keys, self.encounter_keys
        assert patient_keys is not None and encounter_keys is not None  # normalised frames have both
        gone = positions_in(patient_keys, np.array(list(patient_ids), dtype=object))
        gone = gone[gone >= 0]
        new = {name: normalised_table(name, table) for name, table in fresh.items()}
        patient_keys = assign_keys_under(new, "patient_id", patient_keys)
        encounter_keys = assign_keys_under(new, "encounter_id", encounter_keys)
        tables = {}
        for name in COLUMNS:
            table = getattr(self, name)
            if name not in new or "patient_id" not in table.columns:
                # Not written, or a table of no patient (locations), which comes whole.
                tables[name] = new.get(name, table)
                continue
            stale = np.isin(table["patient_id"].to_numpy(), gone)
            tables[name] = appended(name, table[~stale] if stale.any() else table, new[name])
        return Frames.of(tables, normalised=True, patient_keys=patient_keys, encounter_keys=encounter_keys)

    def _check_replacing(self, method: str, fresh: Mapping[str, pd.DataFrame]) -> None:
        if not self.is_normalised:
            raise ValueError(f"{method}() works on normalised frames")
        unknown = set(fresh) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown frames {sorted(unknown)}")

    def patient_ids(self, keys: pd.Series) -> pd.Series:
        """The stored patient ids of integer patient keys (of these normalised frames)."""
        return ids_of(self.patient_keys, keys)

    def encounter_ids(self, keys: pd.Series) -> pd.Series:
        """The stored encounter ids of integer encounter keys (None for ``NO_KEY``)."""
        return ids_of(self.encounter_keys, keys)

    def observed(self, as_of: date) -> Frames:
        """What was known at the end of ``as_of`` (normalised frames in, normalised frames out).

        Records dated after the cut-off are dropped and later deaths and discharges blanked, so a
        re-run with an old ``as_of`` reproduces the old report and nothing downstream sees the future.
        The last cut is kept (with what was derived from it): views of one day share it.
        """
        last = self._memo.get("observed")
        if last is None or last[0] != as_of:
            last = self._memo["observed"] = (as_of, self._observed(as_of))
        return last[1]

    def _observed(self, as_of: date) -> Frames:
        # A table with nothing after the cut shares its columns (a shallow copy: pandas' copy-on-write
        # keeps edits of either apart); as of today that is nearly every row, gigabytes at a
        # hospital's size.
        cut = pd.Timestamp(as_of)
        end = as_instant_end(as_of)
        patients = _blanked(self.patients, "deceased_date", cut, "deceased_date")
        encounters = _until(self.encounters, "admit_date", cut)
        encounters = _blanked(encounters, "discharge_at", end, "discharge_at", "discharge_date")
        events = _until(self.care_events, "start_date", cut)
        events = _blanked(events, "end_date", cut, "end_date")
        return Frames(
            patients=patients,
            diagnoses=_until(self.diagnoses, "diagnosis_date", cut),
            encounters=encounters,
            referrals=_until(self.referrals, "authored_date", cut),
            consults=_until(self.consults, "start_date", cut),
            conversations=_until(self.conversations, "performed_date", cut),
            care_events=events,
            locations=self.locations,
            is_normalised=self.is_normalised,
            patient_keys=self.patient_keys,
            encounter_keys=self.encounter_keys,
        )


def _until(table: pd.DataFrame, column: str, cut: pd.Timestamp) -> pd.DataFrame:
    """The rows of ``table`` not dated after ``cut`` (its columns shared when none is)."""
    if table.empty:  # most of one patient's tables (a chart's check): comparing nothing costs as much
        return table.copy(deep=False)
    late = (table[column] > cut).to_numpy()
    return table[~late] if late.any() else table.copy(deep=False)


def _blanked(table: pd.DataFrame, dated: str, cut: pd.Timestamp, *columns: str) -> pd.DataFrame:
    """``table`` with ``columns`` blanked in the rows whose ``dated`` is after ``cut`` (its columns
    shared when none is)."""
    late = table[dated] > cut if len(table) else None
    if late is None or not late.any():
        return table.copy(deep=False)
    return table.assign(**{column: table[column].mask(late) for column in columns})


def as_instant_end(day: date) -> pd.Timestamp:
    """The end of a calendar day as a UTC instant (the cut-off for hour-level measures)."""
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)


def lookup(keys: pd.Series, mapping: pd.Series) -> pd.Series:
    """``keys.map(mapping)`` that keeps the mapping's dtype (dates stay dates) even when empty."""
    if mapping.index.has_duplicates:
        mapping = mapping[~mapping.index.duplicated()]
    if len(mapping) == 0:  # Series.map casts an empty mapping to float, which dates refuse
        return pd.Series(np.full(len(keys), None), index=keys.index, name=mapping.name).astype(mapping.dtype)
    return keys.map(mapping)
