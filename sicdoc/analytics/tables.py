"""The projection tables as analytics reads them: each table's columns, and how a table's rows are
made ready once (dates, instants, flags and codes coerced; patients and encounters as integer keys).

``sicdoc.analytics.frames`` holds the tables together; this module knows one table at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np
import pandas as pd
from pandas.api.types import is_object_dtype

PATIENT_COLUMNS = (
    "patient_id",
    "birth_date",
    "sex",
    "race",
    "ethnicity",
    "language",
    "deceased_date",
    "site",
)
DIAGNOSIS_COLUMNS = (
    "condition_id",
    "cohort",
    "patient_id",
    "code_system",
    "code",
    "subtype",
    "metastatic",
    "hematologic",
    "diagnosis_date",
    "encounter_id",
)
# When and where a stay was: the encounter's own, and carried by every table made of stays (reach).
STAY_COLUMNS = ("admit_at", "admit_date", "discharge_at", "discharge_date", "site", "unit")
ENCOUNTER_COLUMNS = (
    "encounter_id",
    "patient_id",
    "class_code",
    "status",
    *STAY_COLUMNS,
    "palliative",
    "discharge_disposition",
)
REFERRAL_COLUMNS = (
    "service_request_id",
    "patient_id",
    "code",
    "status",
    "authored_at",
    "authored_date",
    "encounter_id",
    "requester_id",
    "site",
    "unit",
)
CONSULT_COLUMNS = (
    "encounter_id",
    "patient_id",
    "status",
    "start_at",
    "start_date",
    "referral_id",
    "site",
    "unit",
)
CONVERSATION_COLUMNS = (
    "procedure_id",
    "patient_id",
    "status",
    "performed_at",
    "performed_date",
    "clinician_id",
    "encounter_id",
    "site",
    "unit",
    "domains",
    "code_status",
    "care_focus",
    "quality_domains",
    "quality_source",
)
CARE_EVENT_COLUMNS = (
    "event_id",
    "patient_id",
    "kind",
    "start_date",
    "end_date",
    "value",
    "procedure_id",
    "encounter_id",
    "location_id",
)
LOCATION_COLUMNS = ("location_id", "name", "typed", "icu")

COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": PATIENT_COLUMNS,
    "diagnoses": DIAGNOSIS_COLUMNS,
    "encounters": ENCOUNTER_COLUMNS,
    "referrals": REFERRAL_COLUMNS,
    "consults": CONSULT_COLUMNS,
    "conversations": CONVERSATION_COLUMNS,
    "care_events": CARE_EVENT_COLUMNS,
    "locations": LOCATION_COLUMNS,
}
# Calendar dates stay calendar dates (datetime64 at midnight, no time zone): intervals are whole days
# between the dates as written in the record.
DATE_COLUMNS = {
    "patients": ("birth_date", "deceased_date"),
    "diagnoses": ("diagnosis_date",),
    "encounters": ("admit_date", "discharge_date"),
    "referrals": ("authored_date",),
    "consults": ("start_date",),
    "conversations": ("performed_date",),
    "care_events": ("start_date", "end_date"),
}
INSTANT_COLUMNS = {
    "encounters": ("admit_at", "discharge_at"),
    "referrals": ("authored_at",),
    "consults": ("start_at",),
    "conversations": ("performed_at",),
}
FLAG_COLUMNS = {
    "diagnoses": ("metastatic", "hematologic"),
    "encounters": ("palliative",),
    "locations": ("typed", "icu"),
}
# Code columns the analytics only compares with a few values: as categoricals, every filter copies
# them as one-byte codes instead of string references (a quarter of a dashboard build's time).
CODED_COLUMNS = {
    "diagnoses": ("cohort", "code_system", "code", "subtype"),
    "encounters": ("class_code", "status"),
    "referrals": ("code", "status"),
    "consults": ("status",),
    "conversations": ("status",),
    "care_events": ("kind",),
}
# The integer key of a missing id (a row that names no encounter).
NO_KEY = -1


def no_rows(columns: Iterable[str]) -> pd.DataFrame:
    """A frame with these columns and no rows, each of plain objects."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def empty_frame(name: str) -> pd.DataFrame:
    """An empty frame with the expected columns of projection ``name``."""
    # Built once: a chart's check gives four tables of the eight, and building the other four empty
    # frames cost as much as converting a table. Copy-on-write keeps a caller's edits off the original.
    return _no_rows_of(name).copy(deep=False)


@cache
def _no_rows_of(name: str) -> pd.DataFrame:
    return no_rows(COLUMNS[name])


def as_dates(values: pd.Series) -> pd.Series:
    """Calendar dates as datetime64 (NaT for missing), whatever mix of date/str/None came in."""
    # ISO 8601 named, so pandas does not guess a format from the first value (a tenth of a small
    # table's conversion) and reads "2024-01-03" after "2024-01-02 10:00" as a date, not a miss.
    out = pd.to_datetime(values, errors="coerce", format="ISO8601")
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_localize(None)
    return out.dt.normalize()


def as_instants(values: pd.Series) -> pd.Series:
    """UTC instants; naive values are taken to be UTC already (the projections store UTC)."""
    return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")


def normalised_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COLUMNS[name] if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} frame lacks columns {missing}")
    if frame.empty and all(pd.api.types.is_object_dtype(dtype) for dtype in frame.dtypes):
        # One patient's tables (a chart's "conversation due") are mostly empty, and pandas' conversions
        # cost as much on no rows as on a few: a sixth of that check's time. A copy, as callers edit.
        return empty_normalised(name).copy()
    return _converted(name, frame)


@cache
def empty_normalised(name: str) -> pd.DataFrame:
    return _converted(name, empty_frame(name))


def _converted(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    # Each step costs a tenth of a millisecond or more however few the rows, and a chart converts
    # eight tables of a row or two: so each column is converted in one step. The frame as read is
    # copied, not shared: sharing it saved 1.6 ms a chart but raised the analytics worker's peak
    # reading a million patients by 660 MiB.
    columns = list(COLUMNS[name])
    # (Taking the columns by name costs twenty times a plain copy: read tables have them in order.)
    out = frame.copy() if list(frame.columns) == columns else frame.loc[:, columns].copy()
    for column in DATE_COLUMNS.get(name, ()):
        out[column] = as_dates(out[column])
    for column in INSTANT_COLUMNS.get(name, ()):
        out[column] = as_instants(out[column])
    for column in FLAG_COLUMNS.get(name, ()):
        out[column] = out[column].to_numpy(dtype=object, na_value=False).astype(bool)
    for column in CODED_COLUMNS.get(name, ()):
        out[column] = out[column].astype("category")
    # Identifiers are compared across frames, so one dtype for all of them.
    for column in columns:
        if column.endswith("_id"):
            ids = out[column].to_numpy(dtype=object, copy=True)
            ids[pd.isna(ids)] = None
            out[column] = pd.Series(ids, index=out.index, dtype=object)  # (not inferred as text)
    return out.reset_index(drop=True)


def normalised_parts(name: str, parts: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """A table that arrives in parts (a cursor's batches of rows), each converted as it comes, as one
    frame converted as a whole would be; not keyed."""
    return joined(name, [normalised_table(name, part) for part in parts])


def joined(name: str, parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Converted parts of one table as one frame, as if converted whole."""
    if not parts:
        return empty_normalised(name).copy()
    if len(parts) == 1:
        return parts[0]
    out = pd.concat(parts, ignore_index=True)
    coded = CODED_COLUMNS.get(name, ())
    for column in out.columns:
        if column in coded and not isinstance(out[column].dtype, pd.CategoricalDtype):
            # Parts with different categories concatenate as plain values: one categorical again.
            out[column] = out[column].astype("category")
        elif out[column].dtype == object and not column.endswith("_id"):
            # A text column reads as strings, but as plain objects in a part where it is all empty.
            out[column] = out[column].infer_objects()
    return out


def assign_keys(tables: dict[str, pd.DataFrame], column: str) -> pd.Index:
    """Replace ``column`` in every table that has it by integer keys, one factorisation over all of
    them so a key means the same thing everywhere; returns the id of each key."""
    names = _having(tables, column)
    # Empty tables add nothing but a step each (one patient's chart has four or five of them).
    filled = [tables[n][column] for n in names if len(tables[n])] or [tables[names[0]][column]]
    codes, ids = pd.factorize(pd.concat(filled, ignore_index=True))
    _put_keys(tables, names, column, codes.astype("int64"))
    return pd.Index(ids, dtype=object)


def _having(tables: dict[str, pd.DataFrame], column: str) -> list[str]:
    return [name for name, table in tables.items() if column in table.columns]


def _put_keys(tables: dict[str, pd.DataFrame], names: list[str], column: str, codes: np.ndarray) -> None:
    """``codes``, the keys of ``column`` over the tables ``names`` one after another, put back in each."""
    start = 0
    for name in names:
        size = len(tables[name])
        tables[name][column] = codes[start : start + size]
        start += size


def positions_in(index: pd.Index, ids: np.ndarray) -> np.ndarray:
    """The position of each of a few ``ids`` in a large ``index`` of unique ids (-1 where absent).

    The index's own look-up would first hash all its ids into a table (seconds for millions, again
    for each new index after a write); the few ids are hashed instead and the index's ids probed
    against them, whose hashes Python keeps on each string."""
    wanted = pd.Index(pd.unique(ids[pd.notna(ids)]), dtype=object)
    if not len(wanted) or not len(index):
        return np.full(len(ids), -1, dtype=np.intp)
    found = wanted.get_indexer(index)
    at = np.flatnonzero(found >= 0)
    positions = np.full(len(wanted) + 1, -1, dtype=np.intp)  # the last: for an id not wanted (None)
    positions[found[at]] = at
    return positions[wanted.get_indexer(pd.Index(ids, dtype=object))]


def assign_keys_under(tables: dict[str, pd.DataFrame], column: str, index: pd.Index) -> pd.Index:
    """``assign_keys`` for a few new rows: ``column`` replaced in every table that has it by its
    integer keys under ``index`` (the id of each key, by position), ids not in it given new keys after
    its last in order of first appearance; returns the index with those ids added. One look-up over
    all the tables: each new index would hash its millions of ids again."""
    names = _having(tables, column)
    if not names:
        return index
    values = pd.concat([tables[n][column] for n in names], ignore_index=True).to_numpy(dtype=object)
    present = pd.notna(values)
    codes = positions_in(index, values)
    unseen = present & (codes < 0)
    if unseen.any():
        added, new_ids = pd.factorize(values[unseen])
        codes[unseen] = added + len(index)
        index = index.append(pd.Index(new_ids, dtype=object))
    _put_keys(tables, names, column, np.where(present, codes, NO_KEY).astype("int64"))
    return index


def appended(name: str, kept: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of one normalised, keyed table (``new``, a few) after the others (``kept``), with the
    dtypes a whole read gives: code columns categorical over the values present, sorted. Each column
    of ``kept`` is copied once; nothing is inferred or factorised again over all its rows (seconds at
    a million patients)."""
    coded = CODED_COLUMNS.get(name, ())
    if new.empty:
        out = kept.reset_index(drop=True)
    else:
        kept, new = kept.copy(deep=False), new.copy(deep=False)
        loose = []
        for column in kept.columns:
            have, add = kept[column].dtype, new[column].dtype
            if column in coded:
                categories = kept[column].cat.categories
                union = categories.union(new[column].cat.categories)
                if not union.equals(categories):
                    kept[column] = kept[column].cat.set_categories(union)
                new[column] = new[column].cat.set_categories(union)
            elif have != add and is_object_dtype(add) and not column.endswith("_id"):
                # The few new rows hold nothing there (read as plain objects): the kept rows' dtype.
                try:
                    new[column] = new[column].astype(have)
                except (TypeError, ValueError):
                    loose.append(column)
            elif have != add and is_object_dtype(have) and not column.endswith("_id"):
                loose.append(column)  # the kept rows held nothing there: as a whole read infers it
        out = pd.concat([kept, new], ignore_index=True)
        for column in loose:
            out[column] = out[column].infer_objects()
    for column in coded:
        values = out[column]
        used = np.bincount(
            values.cat.codes.to_numpy()[values.notna().to_numpy()], minlength=len(values.cat.categories)
        )
        if not used.all():  # a category only the replaced rows had
            out[column] = values.cat.set_categories(values.cat.categories[used > 0])
    return out


def ids_of(index: pd.Index | None, keys: pd.Series) -> pd.Series:
    if index is None:
        raise ValueError("integer keys exist only on normalised frames")
    codes = keys.to_numpy(dtype="int64")
    ids = index.take(np.maximum(codes, 0)) if len(index) else np.full(len(codes), None, dtype=object)
    return pd.Series(ids, index=keys.index, dtype=object).where(codes != NO_KEY, None)
