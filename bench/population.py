"""Projection rows for a generated population, without going through FHIR.

Loading 100,000 patients through the API takes hours, so the benchmark builds the projection
tables straight from the sample generator's patient plans (``sicdoc.sample.plan_patient``): the same
people, stays (with their ICU segments), diagnoses, referrals, conversations (care focus, quality
domains), hospice episodes, procedures and Locations the FHIR bundles would carry, with cohorts
classified by the real value sets. Naive local times are taken as UTC (no effect on day-level
measures). Bigger populations repeat a generated block with new ids (``tile``), which keeps the
shape of the data and costs seconds instead of minutes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, insert

from sicdoc.analytics.frames import Frames
from sicdoc.analytics.tables import COLUMNS
from sicdoc.conversation.quality import score_answers
from sicdoc.sample import plan_patient
from sicdoc.sample.catalog import ICU_UNITS, UNITS
from sicdoc.valuesets import load as load_value_sets


def plan_rows(patients: int, seed: int = 1) -> dict[str, list[dict]]:
    value_sets = load_value_sets(None)
    rows: dict[str, list[dict]] = defaultdict(list)
    events = rows["care_events"]
    for index in range(patients):
        plan, _ = plan_patient(seed, index)
        pid = patient_id(seed, index)
        rows["patients"].append(
            {
                "patient_id": pid,
                "birth_date": plan.birth_date,
                "sex": plan.gender,
                "race": plan.race[2],
                "ethnicity": plan.ethnicity[2],
                "language": plan.language,
                "deceased_date": plan.death.date() if plan.death else None,
                "site": plan.site.name,
            }
        )
        stay_ids = {id(s): f"{pid}-e{k}" for k, s in enumerate(plan.stays)}
        ref_ids = {id(r): f"{pid}-r{k}" for k, r in enumerate(plan.referrals)}
        for stay in plan.stays:
            eid = stay_ids[id(stay)]
            start, end = stay.start.replace(tzinfo=UTC), stay.end.replace(tzinfo=UTC) if stay.end else None
            places = stay.places
            # The projection names an encounter's unit after its last location.
            place = {"site": plan.site.name, "unit": places[-1].unit.name}
            rows["encounters"].append(
                {
                    "encounter_id": eid,
                    "patient_id": pid,
                    "class_code": "EMER" if stay.emergency else "IMP" if stay.inpatient else "AMB",
                    "status": "finished" if end else "in-progress",
                    "admit_at": start,
                    "admit_date": stay.start.date(),
                    "discharge_at": end,
                    "discharge_date": stay.end.date() if stay.end else None,
                    "palliative": stay.referral is not None,
                    "discharge_disposition": stay.disposition,
                    **place,
                }
            )
            for n, seg in enumerate(places):
                events.append(
                    _event(
                        "Encounter",
                        eid,
                        pid,
                        n,
                        "stay",
                        seg.start,
                        seg.end,
                        encounter_id=eid,
                        location_id=seg.unit.identifier,
                    )
                )
            if stay.referral is not None:
                rows["consults"].append(
                    {
                        "encounter_id": eid,
                        "patient_id": pid,
                        "status": "finished" if end else "in-progress",
                        "start_at": start,
                        "start_date": stay.start.date(),
                        "referral_id": ref_ids.get(id(stay.referral)),
                        **place,
                    }
                )
        for k, dx in enumerate(plan.diagnoses):
            system, code, _ = dx.coding
            for match in value_sets.classify(system, code):
                rows["diagnoses"].append(
                    {
                        "condition_id": f"{pid}-c{k}",
                        "cohort": match.cohort,
                        "patient_id": pid,
                        "code_system": system,
                        "code": code,
                        "subtype": match.subtype,
                        "metastatic": match.metastatic,
                        "hematologic": match.hematologic,
                        "diagnosis_date": dx.onset.date(),
                        "encounter_id": stay_ids.get(id(dx.stay)),
                    }
                )
        for ref in plan.referrals:
            rows["referrals"].append(
                {
                    "service_request_id": ref_ids[id(ref)],
                    "patient_id": pid,
                    "code": ref.code,
                    "status": "completed" if ref.completed else "active",
                    "authored_at": ref.authored.replace(tzinfo=UTC),
                    "authored_date": ref.authored.date(),
                    "encounter_id": stay_ids.get(id(ref.stay)),
                    "requester_id": f"Practitioner/{ref.requester.npi}",
                    "site": None,
                    "unit": None,
                }
            )
        for k, talk in enumerate(plan.talks):
            sid = f"{pid}-s{k}"
            focus, status = talk.answers.get("care-focus"), talk.answers.get("code-status")
            score = score_answers(talk.answers)
            rows["conversations"].append(
                {
                    "procedure_id": sid,
                    "patient_id": pid,
                    "status": "completed",
                    "performed_at": talk.start.replace(tzinfo=UTC),
                    "performed_date": talk.start.date(),
                    "clinician_id": f"Practitioner/{talk.clinician.npi}",
                    "encounter_id": stay_ids.get(id(talk.stay)),
                    "site": plan.site.name,
                    "unit": talk.unit.name if talk.unit else None,
                    "domains": None,
                    "code_status": status if isinstance(status, str) else None,
                    "care_focus": focus if isinstance(focus, str) else None,
                    "quality_domains": score.stored,
                    "quality_source": score.source,
                }
            )
            if isinstance(focus, str):  # the care focus Observation extracted from the response
                events.append(
                    _event(
                        "Observation",
                        f"{sid}-cf",
                        pid,
                        0,
                        "care_focus",
                        talk.start,
                        None,
                        value=focus,
                        procedure_id=sid,
                    )
                )
        for k, episode in enumerate(plan.hospice):
            events.append(
                _event("EpisodeOfCare", f"{pid}-h{k}", pid, 0, "hospice", episode.start, episode.end)
            )
        for k, done in enumerate(plan.procedures):
            events.append(
                _event(
                    "Procedure",
                    f"{pid}-x{k}",
                    pid,
                    0,
                    done.kind,
                    done.when,
                    None,
                    encounter_id=stay_ids.get(id(done.stay)),
                )
            )
    rows["locations"] = [
        {
            "location_id": unit.identifier,
            "name": unit.name,
            "typed": True,
            "icu": unit.code in ICU_UNITS,
        }
        for unit in UNITS.values()
    ]
    return rows


def patient_id(seed: int, index: int) -> str:
    """A generated patient's id, as long as the ids the store mints (a UUID's 36 characters): what a
    web worker holds for each row of the worklist, and the analytics worker per row, grows with it."""
    return f"{seed:08x}-0000-7000-8000-{index:012x}"


def _event(
    source_type: str,
    source_id: str,
    patient_id: str,
    n: int,
    kind: str,
    start: datetime,
    end: datetime | None,
    **more: str | None,
) -> dict:
    """A care_event row as the projection writes it (one per Encounter location, Procedure, ...)."""
    return {
        "event_id": f"{source_type}/{source_id}#{n}",
        "source_type": source_type,
        "source_id": source_id,
        "patient_id": patient_id,
        "kind": kind,
        "start_date": start.date(),
        "end_date": end.date() if end is not None else None,
        "value": None,
        "procedure_id": None,
        "encounter_id": None,
        "location_id": None,
        **more,
    }


# Columns a table stores that the analytics frames do not read.
STORED_ONLY = {"care_events": ("source_type", "source_id")}


def frames_from_rows(rows: dict[str, list[dict]], *, stored: bool = False) -> dict[str, pd.DataFrame]:
    """The rows as frames: the analytics columns, plus what the tables also store when ``stored``."""
    return {
        name: pd.DataFrame(
            rows.get(name, []), columns=[*columns, *(STORED_ONLY.get(name, ()) if stored else ())]
        )
        for name, columns in COLUMNS.items()
    }


def tile(tables: dict[str, pd.DataFrame], times: int) -> dict[str, pd.DataFrame]:
    """``times`` copies of a population, each with its own ids (``~k`` appended)."""
    out = {}
    for name, table in tables.items():
        copies = []
        for k in range(times):
            copy = table.copy()
            for column in copy.columns:
                if column.endswith("_id") and column not in ("requester_id", "clinician_id"):
                    copy[column] = copy[column].map(lambda v, k=k: None if v is None else f"{v}~{k}")
            copies.append(copy)
        out[name] = pd.concat(copies, ignore_index=True)
    return out


def as_frames(tables: dict[str, pd.DataFrame]) -> Frames:
    return Frames(**tables)


BLOCK = 20_000  # larger populations repeat a generated block (``tile``)


def insert_population(engine: Engine, patients: int, seed: int = 1) -> int:
    """Write the projection rows of ``patients`` generated people into a migrated database; returns
    the number of rows. What the dashboards read, in seconds rather than the hours FHIR ingest takes."""
    from sicdoc.store.frames import TABLES

    block = min(BLOCK, patients)
    base = frames_from_rows(plan_rows(block, seed), stored=True)
    tables = base if patients == block else tile(base, patients // block)
    with engine.begin() as conn:
        for name, (model, _) in TABLES.items():
            records = tables[name].astype(object).where(tables[name].notna(), None).to_dict("records")
            for i in range(0, len(records), 50_000):
                conn.execute(insert(model), records[i : i + 50_000])
    return sum(len(t) for t in tables.values())
