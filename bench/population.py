"""Projection rows for a generated population, without going through FHIR.

Loading 100,000 patients through the API takes hours, so the benchmark builds the six projection
tables straight from the sample generator's patient plans (``sicdoc.sample.plan_patient``): the same
people, stays, diagnoses, referrals and conversations the FHIR bundles would carry, with cohorts
classified by the real value sets. Naive local times are taken as UTC (no effect on day-level
measures). Bigger populations repeat a generated block with new ids (``tile``), which keeps the
shape of the data and costs seconds instead of minutes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC

import pandas as pd
from sqlalchemy import Engine, insert

from sicdoc.analytics.frames import COLUMNS, Frames
from sicdoc.sample import plan_patient
from sicdoc.valuesets import load as load_value_sets


def plan_rows(patients: int, seed: int = 1) -> dict[str, list[dict]]:
    value_sets = load_value_sets(None)
    rows: dict[str, list[dict]] = defaultdict(list)
    for index in range(patients):
        plan, _ = plan_patient(seed, index)
        pid = f"p{index}"
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
            place = {"site": plan.site.name, "unit": stay.unit.name}
            rows["encounters"].append(
                {
                    "encounter_id": eid,
                    "patient_id": pid,
                    "class_code": "IMP" if stay.inpatient else "AMB",
                    "status": "finished" if end else "in-progress",
                    "admit_at": start,
                    "admit_date": stay.start.date(),
                    "discharge_at": end,
                    "discharge_date": stay.end.date() if stay.end else None,
                    "palliative": stay.referral is not None,
                    **place,
                }
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
            rows["conversations"].append(
                {
                    "procedure_id": f"{pid}-s{k}",
                    "patient_id": pid,
                    "status": "completed",
                    "performed_at": talk.start.replace(tzinfo=UTC),
                    "performed_date": talk.start.date(),
                    "clinician_id": f"Practitioner/{talk.clinician.npi}",
                    "encounter_id": stay_ids.get(id(talk.stay)),
                    "site": plan.site.name,
                    "unit": talk.unit.name if talk.unit else None,
                    "domains": None,
                    "code_status": None,
                }
            )
    return rows


def frames_from_rows(rows: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    return {
        name: pd.DataFrame(rows.get(name, []), columns=list(columns)) for name, columns in COLUMNS.items()
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
    base = frames_from_rows(plan_rows(block, seed))
    tables = base if patients == block else tile(base, patients // block)
    with engine.begin() as conn:
        for name, (model, _) in TABLES.items():
            records = tables[name].astype(object).where(tables[name].notna(), None).to_dict("records")
            for i in range(0, len(records), 50_000):
                conn.execute(insert(model), records[i : i + 50_000])
    return sum(len(t) for t in tables.values())
