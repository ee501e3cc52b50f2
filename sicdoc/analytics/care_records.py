"""The dated records the end-of-life measures read, per patient, from the normalised frames.

ED visits come from the encounters (class EMER); stays, hospice, treatments, care focus and code
status documented outside a conversation from ``care_events`` (written by the projection); ICU stays
are the stays whose Location is typed intensive care. Each reader is built once per frames.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sicdoc import codes
from sicdoc.analytics.cohorts import NOT_HAPPENED, conversation_rows
from sicdoc.analytics.frames import Frames, lookup

# Care event kinds, as the projection writes them (sicdoc.codes names them).
STAY = codes.STAY_EVENT
HOSPICE = codes.HOSPICE_EVENT
CHEMOTHERAPY = "chemotherapy"
CPR = "cpr"
VENTILATION = "ventilation"
INTUBATION = "intubation"
CARE_FOCUS = codes.CARE_FOCUS_EVENT
CARE_FOCUS_INVALID = codes.CARE_FOCUS_INVALID_EVENT
CODE_STATUS = codes.CODE_STATUS_EVENT
KINDS = (
    STAY,
    HOSPICE,
    CHEMOTHERAPY,
    CPR,
    VENTILATION,
    INTUBATION,
    CARE_FOCUS,
    CARE_FOCUS_INVALID,
    CODE_STATUS,
)


def events(frames: Frames, kind: str) -> pd.DataFrame:
    ev = frames.care_events
    return frames.memo(("care_events", kind), lambda: ev[ev["kind"] == kind])


def ed_visits(frames: Frames) -> pd.DataFrame:
    """ED visits that took place: patient_id, date (the start date)."""
    enc = frames.encounters

    def build() -> pd.DataFrame:
        rows = enc[(enc["class_code"] == codes.EMERGENCY_CLASS) & ~enc["status"].isin(NOT_HAPPENED)]
        rows = rows[rows["admit_date"].notna()]
        return pd.DataFrame({"patient_id": rows["patient_id"], "date": rows["admit_date"]})

    return frames.memo("eol_ed_visits", build)


def stays(frames: Frames) -> pd.DataFrame:
    """Every stay at a location with whether its Location is typed and intensive care.

    Columns: patient_id, start, end, typed, icu, event_id."""

    def build() -> pd.DataFrame:
        rows = events(frames, STAY)
        locs = frames.locations.drop_duplicates("location_id").set_index("location_id")
        typed = lookup(rows["location_id"], locs["typed"]).fillna(False).astype(bool)
        icu = lookup(rows["location_id"], locs["icu"]).fillna(False).astype(bool)
        return pd.DataFrame(
            {
                "patient_id": rows["patient_id"],
                "start": rows["start_date"],
                "end": rows["end_date"],
                "typed": typed.to_numpy(),
                "icu": icu.to_numpy(),
                "event_id": rows["event_id"],
            },
            index=rows.index,
        )

    return frames.memo("eol_stays", build)


def icu_stays(frames: Frames) -> pd.DataFrame:
    """ICU stays with a start date (patient_id, start, end; end NaT while open)."""
    all_stays = stays(frames)
    return all_stays[all_stays["icu"] & all_stays["start"].notna()]


def hospice_enrolments(frames: Frames) -> pd.DataFrame:
    """Hospice enrolments (patient_id, date): hospice episodes and encounters by start, discharges
    to hospice by discharge date. Episodes that end before they start are left out (counted in
    ``data_quality``)."""

    def build() -> pd.DataFrame:
        ev = events(frames, HOSPICE)
        ev = ev[ev["start_date"].notna() & ~(ev["end_date"] < ev["start_date"])]
        enc = frames.encounters
        discharged = enc[
            enc["class_code"].isin(codes.INPATIENT_CLASSES)
            & ~enc["status"].isin(NOT_HAPPENED)
            & (enc["discharge_disposition"] == codes.DISCHARGED_TO_HOSPICE)
            & enc["discharge_date"].notna()
        ]
        return pd.concat(
            [
                pd.DataFrame({"patient_id": ev["patient_id"], "date": ev["start_date"]}),
                pd.DataFrame({"patient_id": discharged["patient_id"], "date": discharged["discharge_date"]}),
            ],
            ignore_index=True,
        )

    return frames.memo("eol_hospice", build)


def dated(frames: Frames, kind: str) -> pd.DataFrame:
    ev = events(frames, kind)
    ev = ev[ev["start_date"].notna()]
    return pd.DataFrame({"patient_id": ev["patient_id"], "date": ev["start_date"]})


def last_documented(
    rows: pd.DataFrame, value: str, order: Mapping[str, int], limits: pd.Series
) -> pd.DataFrame:
    """Per patient (index of ``limits``): the last ``value`` documented on or before the limit day,
    with its date (ties on one day go to the highest ``order``)."""
    limit = lookup(rows["patient_id"], limits)
    kept = rows[rows["date"].notna() & (rows["date"] <= limit) & rows[value].isin(list(order))].copy()
    kept["_rank"] = kept[value].map(order).astype(int)
    last = kept.sort_values(["patient_id", "date", "_rank"]).drop_duplicates("patient_id", keep="last")
    last = last.set_index("patient_id")[[value, "date"]].rename(columns={value: "value"})
    return last.reindex(limits.index)


def documented(frames: Frames, column: str) -> pd.DataFrame:
    """Every care focus (``column`` "care_focus") or code status ("code_status") documented, as
    patient_id, date and ``column``: completed conversations' answers, and the Observations of it
    (a care focus Observation; a code-status Observation outside a conversation, full or dnr)."""
    kind = {"care_focus": CARE_FOCUS, "code_status": CODE_STATUS}[column]

    def build() -> pd.DataFrame:
        conv = conversation_rows(frames)
        conv = conv[conv[column].notna()]
        ev = events(frames, kind)
        return pd.concat(
            [
                pd.DataFrame(
                    {"patient_id": conv["patient_id"], "date": conv["performed_date"], column: conv[column]}
                ),
                pd.DataFrame({"patient_id": ev["patient_id"], "date": ev["start_date"], column: ev["value"]}),
            ],
            ignore_index=True,
        )

    return frames.memo(("eol_documented", column), build)
