"""Cases for morbidity-and-mortality style review: decedents whose care at the end of life went
against the goals last documented for them (the concordance signals of ``end_of_life``).

A decedent is a case when ``care_table`` raises any of:

- ``concordance_comfort_icu_cpr_mv_last_30d``: the last care focus documented on or before the
  death day is comfort-focused, and an ICU stay overlaps the last 30 days of life or CPR or
  mechanical ventilation is dated in them (before or after the documentation);
- ``dnr_then_cpr``: the last code status is DNR or DNR/DNI and CPR is dated on a later calendar day,
  up to the death day;
- ``dnr_dni_then_intubation``: the last code status is DNR/DNI and an intubation is dated on a later
  day, up to the death day.

Each case names the documentation that decides (the conversation, else the Observation, that holds
the last care focus and code status) and the events with their dates: ICU stays overlapping the last
30 days, CPR, ventilation and intubation dated in the last 30 days or after the deciding code status,
and where the patient died. The definitions are ``end_of_life``'s; this module only lists them.

Frames are normalised and cut at the as-of date (``Frames.normalised().observed(as_of)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from sicdoc.analytics.care_records import (
    CARE_FOCUS,
    CODE_STATUS,
    CPR,
    INTUBATION,
    STAY,
    VENTILATION,
    dated,
    events,
    icu_stays,
)
from sicdoc.analytics.cohorts import conversation_rows
from sicdoc.analytics.end_of_life import COLUMN_OF, all_decedents, care_table
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where, lookup

COMFORT_SIGNAL = "concordance_comfort_icu_cpr_mv_last_30d"
DNR_CPR_SIGNAL = "dnr_then_cpr"
DNR_DNI_INTUBATION_SIGNAL = "dnr_dni_then_intubation"
SIGNALS = (COMFORT_SIGNAL, DNR_CPR_SIGNAL, DNR_DNI_INTUBATION_SIGNAL)
# Kinds of the events a case lists ("icu" is a stay in an ICU location).
ICU = "icu"
EVENT_KINDS = (ICU, CPR, VENTILATION, INTUBATION)
# Where the patient died: in an ICU location, else during an inpatient stay, else neither is recorded.
PLACES = ("icu", "hospital", "not_in_hospital")
LAST_DAYS = 30


@dataclass(frozen=True)
class Documentation:
    """The care focus or code status that decides: the last documented on or before the death day.

    ``source`` is "conversation" (a completed serious illness conversation, ``procedure_id``) or
    "observation" (an Observation recorded outside the conversation's answers, ``observation_id``;
    ``procedure_id`` is the conversation it is part of, if any)."""

    topic: str  # "care_focus" or "code_status"
    value: str  # an LA code of the care focus answer list, or full / dnr / dnr-dni / undecided
    date: date
    source: str
    procedure_id: str | None = None
    observation_id: str | None = None
    clinician_id: str | None = None  # the conversation's performer reference (or its display text)


@dataclass(frozen=True)
class Event:
    """An ICU stay, CPR, ventilation or intubation, with the signals it raises (none: context)."""

    kind: str
    start: date
    end: date | None = None  # ICU stays only; None while the stay is open
    location_id: str | None = None
    location: str | None = None  # the Location's name
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    patient_id: str
    death_date: date
    site: str | None
    place_of_death: str  # one of PLACES
    signals: tuple[str, ...]
    care_focus: Documentation | None
    code_status: Documentation | None
    events: tuple[Event, ...]

    def deciding(self, signal: str) -> Documentation | None:
        """The documentation a signal rests on."""
        return self.care_focus if signal == COMFORT_SIGNAL else self.code_status


def review_cases(frames: Frames, where: Where = EVERYWHERE) -> list[Case]:
    """Every decedent whose death date is in ``where``'s period (and whose own site is ``where``'s
    site, when given) with at least one concordance signal; the latest deaths first."""
    table = care_table(frames, all_decedents(frames, where))
    flagged = table[table[[COLUMN_OF[s] for s in SIGNALS]].any(axis=1)].reset_index(drop=True)
    if flagged.empty:
        return []
    raised = pd.DataFrame({s: flagged[COLUMN_OF[s]].astype(bool).to_numpy() for s in SIGNALS})
    raised.index = pd.Index(flagged["patient_id"])
    listed = _events_of(frames, flagged, raised)
    focus = _deciding(_care_focus_sources(frames), flagged, "care_focus")
    status = _deciding(_code_status_sources(frames), flagged, "code_status")
    ids = frames.patient_ids(flagged["patient_id"])
    signal_sets = [tuple(s for s, on in zip(SIGNALS, row, strict=True) if on) for row in raised.to_numpy()]
    cases = []
    shown = flagged[["patient_id", "death_date", "site", "death_in_icu", "death_in_hospital"]]
    for row, patient_id, signals in zip(shown.to_dict("records"), ids, signal_sets, strict=True):
        key = row["patient_id"]
        cases.append(
            Case(
                patient_id=str(patient_id),
                death_date=row["death_date"].date(),
                site=None if pd.isna(row["site"]) else str(row["site"]),
                place_of_death=(
                    "icu"
                    if row["death_in_icu"]
                    else "hospital"
                    if row["death_in_hospital"]
                    else "not_in_hospital"
                ),
                signals=signals,
                care_focus=focus.get(key),
                code_status=status.get(key),
                events=tuple(sorted(listed.get(key, ()), key=lambda e: (e.start, EVENT_KINDS.index(e.kind)))),
            )
        )
    cases.sort(key=lambda c: (-c.death_date.toordinal(), c.patient_id))
    return cases


def _events_of(frames: Frames, flagged: pd.DataFrame, raised: pd.DataFrame) -> dict[Any, list[Event]]:
    """The events of each case (by patient key): ICU stays overlapping the last 30 days; CPR,
    ventilation and intubation dated in the last 30 days or, for a DNR signal, after the deciding
    code status. Nothing dated after death: that is a data-quality count, never an event."""
    death = flagged.set_index("patient_id")["death_date"]
    documented = flagged.set_index("patient_id")["code_status_date"]
    out: dict[Any, list[Event]] = {}

    stays = icu_stays(frames)
    stays = stays[stays["patient_id"].isin(death.index)]
    died = lookup(stays["patient_id"], death)
    window_start = died - pd.Timedelta(days=LAST_DAYS - 1)
    stays = stays[(stays["start"] <= died) & (stays["end"].isna() | (stays["end"] >= window_start))]
    located = events(frames, STAY).drop_duplicates("event_id").set_index("event_id")["location_id"]
    location_ids = lookup(stays["event_id"], located)
    names = frames.locations.drop_duplicates("location_id").set_index("location_id")["name"]
    location_names = lookup(location_ids, names)
    comfort = lookup(stays["patient_id"], raised[COMFORT_SIGNAL])
    for key, start, end, location_id, name, counts in zip(
        stays["patient_id"], stays["start"], stays["end"], location_ids, location_names, comfort, strict=True
    ):
        out.setdefault(key, []).append(
            Event(
                kind=ICU,
                start=start.date(),
                end=None if pd.isna(end) else end.date(),
                location_id=None if location_id is None or pd.isna(location_id) else str(location_id),
                location=None if name is None or pd.isna(name) else str(name),
                signals=(COMFORT_SIGNAL,) if counts else (),
            )
        )

    for kind in (CPR, VENTILATION, INTUBATION):
        rows = dated(frames, kind)
        rows = rows[rows["patient_id"].isin(death.index)]
        before = (lookup(rows["patient_id"], death) - rows["date"]).dt.days
        after_status = rows["date"] > lookup(rows["patient_id"], documented)  # NaT compares False
        in_window = (before >= 0) & (before <= LAST_DAYS - 1)
        signals: list[tuple[str, pd.Series]] = []
        if kind in (CPR, VENTILATION):
            signals.append((COMFORT_SIGNAL, in_window & lookup(rows["patient_id"], raised[COMFORT_SIGNAL])))
        if kind == CPR:
            signals.append(
                (DNR_CPR_SIGNAL, after_status & lookup(rows["patient_id"], raised[DNR_CPR_SIGNAL]))
            )
        if kind == INTUBATION:
            flag = raised[DNR_DNI_INTUBATION_SIGNAL]
            signals.append((DNR_DNI_INTUBATION_SIGNAL, after_status & lookup(rows["patient_id"], flag)))
        shown = (before >= 0) & (in_window | pd.concat([m for _, m in signals], axis=1).any(axis=1))
        # Plain arrays: scalar lookups in pandas cost more than the rest of the list.
        keys, days = rows["patient_id"].to_numpy(), list(rows["date"])
        masks = [(name, mask.to_numpy(dtype=bool)) for name, mask in signals]
        for position in shown.to_numpy(dtype=bool).nonzero()[0]:
            out.setdefault(keys[position], []).append(
                Event(
                    kind=kind,
                    start=days[position].date(),
                    signals=tuple(name for name, mask in masks if mask[position]),
                )
            )
    return out


def _sources(frames: Frames, column: str, kind: str) -> pd.DataFrame:
    """Every documented care focus or code status with where it was documented: completed
    conversations' (source "conversation") and Observations' care events (source "observation").
    The same records as ``care_records.documented``."""
    every = conversation_rows(frames)
    conv = every[every[column].notna()]
    talks = pd.DataFrame(
        {
            "patient_id": conv["patient_id"],
            "date": conv["performed_date"],
            "value": conv[column].astype(object),
            "source": "conversation",
            "procedure_id": conv["procedure_id"],
            "observation_id": None,
            "clinician_id": conv["clinician_id"],
            "at": conv["performed_at"],
        }
    )
    ev = events(frames, kind)
    part_of = ev["procedure_id"]
    # An Observation part of a conversation is named by that conversation's clinician.
    clinicians = every.drop_duplicates("procedure_id").set_index("procedure_id")["clinician_id"]
    observed = pd.DataFrame(
        {
            "patient_id": ev["patient_id"],
            "date": ev["start_date"],
            "value": ev["value"].astype(object),
            "source": "observation",
            "procedure_id": part_of,
            "observation_id": ev["event_id"].map(_observation_id),
            "clinician_id": part_of.map(lambda p: clinicians.get(p) if p is not None else None),
            "at": pd.NaT,
        }
    )
    return pd.concat([talks, observed], ignore_index=True)


def _care_focus_sources(frames: Frames) -> pd.DataFrame:
    return frames.memo("case_review_care_focus", lambda: _sources(frames, "care_focus", CARE_FOCUS))


def _code_status_sources(frames: Frames) -> pd.DataFrame:
    return frames.memo("case_review_code_status", lambda: _sources(frames, "code_status", CODE_STATUS))


def _observation_id(event_id: object) -> str | None:
    """The Observation's id in a care event id ("Observation/<id>#<n>"); None for other sources."""
    kind, _, rest = str(event_id or "").partition("/")
    return (rest.split("#", 1)[0] or None) if kind == "Observation" else None


def _deciding(records: pd.DataFrame, flagged: pd.DataFrame, topic: str) -> dict[Any, Documentation]:
    """Per case (by patient key), the record that holds the deciding care focus or code status:
    the one with ``care_table``'s value on its day; a conversation before an Observation, the latest
    conversation of the day before an earlier one."""
    wanted = pd.DataFrame(
        {
            "patient_id": flagged["patient_id"],
            "date": flagged[f"{topic}_date"],
            "value": flagged[topic].astype(object),
        }
    ).dropna()
    hits = records.merge(wanted, on=["patient_id", "date", "value"])
    hits["_conversation"] = hits["source"] == "conversation"
    hits["_at"] = pd.to_datetime(hits["at"], utc=True)
    best = hits.sort_values(["patient_id", "_conversation", "_at"], na_position="first")
    best = best.drop_duplicates("patient_id", keep="last")

    def text(found: Any) -> str | None:
        return None if found is None or pd.isna(found) else str(found)

    return {
        row["patient_id"]: Documentation(
            topic=topic,
            value=str(row["value"]),
            date=row["date"].date(),
            source=str(row["source"]),
            procedure_id=text(row["procedure_id"]),
            observation_id=text(row["observation_id"]),
            clinician_id=text(row["clinician_id"]),
        )
        for row in best.to_dict("records")
    }
