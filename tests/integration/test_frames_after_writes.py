"""The analytics frames after a write: the rows of the patients it touched are read again and put in
place of theirs, keys kept, which must give what a whole read gives, and the same dashboard."""

import time
from types import SimpleNamespace

import pandas as pd
from sqlalchemy import select

import sicdoc.dashboards.service as service_module
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.scope import parse_scope
from sicdoc.analytics.tables import COLUMNS
from sicdoc.dashboards.build import build_tables
from sicdoc.dashboards.service import today_utc
from sicdoc.models import Resource
from sicdoc.store.frames import load_frames
from tests.integration.writes import (
    conversation,
    living_patients_not_due,
    patient_with_stroke,
    transact,
    ward,
)
from tests.web.analytics_population import AS_OF, population_per_backend  # noqa: F401 - the module's ``app``
from tests.web.fhir_helpers import stroke


def canonical(frames: Frames, name: str) -> pd.DataFrame:
    """A normalised table with stored ids in place of keys, its rows in the order of all their values:
    what any two reads of the same rows must agree on, whatever their keys and row order."""
    table = getattr(frames, name).copy()
    if "patient_id" in table.columns:
        table["patient_id"] = frames.patient_ids(table["patient_id"])
    if "encounter_id" in table.columns:
        table["encounter_id"] = frames.encounter_ids(table["encounter_id"])
    return table.sort_values(list(table.columns), key=lambda c: c.astype(str)).reset_index(drop=True)


class WholeReads:
    """Counts the service's reads of whole tables: all of them, or those a write fed."""

    def __init__(self, monkeypatch):
        self.count = 0
        for name in ("load_frames", "load_normalised_tables"):
            real = getattr(service_module, name)
            monkeypatch.setattr(service_module, name, self._counted(real))

    def _counted(self, real):
        def counted(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        return counted


def assert_as_whole_read(app) -> Frames:
    service = app.extensions["sicdoc.analytics"]
    frames = service.frames()
    with app.extensions["sicdoc.engine"].connect() as conn:
        whole = load_frames(conn)
    for name in COLUMNS:
        pd.testing.assert_frame_equal(canonical(frames, name), canonical(whole, name))
    # And the figures a QI team reads: every panel's table and the metrics report.
    board = service.default_board
    scope = parse_scope({"as_of": AS_OF}, today=today_utc(), default_months=board.default_period_months)
    labels = (service.value_set_version, service.clinician_labels(), service.clinician_departments())
    tables, report = build_tables(frames, scope, board, *labels)
    whole_tables, whole_report = build_tables(whole, scope, board, *labels)
    assert tables.keys() == whole_tables.keys()
    for panel, table in tables.items():
        pd.testing.assert_frame_equal(table, whole_tables[panel], obj=panel)
    assert report == whole_report
    return frames


def inpatient_stay(patient_id: str) -> dict:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "period": {"start": "2026-05-01T08:00:00Z", "end": "2026-05-04T10:00:00Z"},
    }


def test_each_write_patches_the_frames_to_what_a_whole_read_gives(app, monkeypatch):
    service = app.extensions["sicdoc.analytics"]
    service._frames.clear()
    reads = WholeReads(monkeypatch)
    before = service.frames()
    assert reads.count == 1
    keys = before.patient_keys

    # A new patient with a stroke: new keys, after the others, which keep theirs.
    new_patient, new_stroke = patient_with_stroke(app)
    frames = assert_as_whole_read(app)
    assert frames is not before and frames.patient_keys[: len(keys)].equals(keys)
    assert frames.patient_keys[len(keys)] == new_patient

    # A conversation, a stay in hospital, a corrected subject that moves a diagnosis to another
    # patient, a deleted diagnosis and a death.
    others = living_patients_not_due(app, pd.DataFrame({"patient_id": []}))
    transact(app, ("POST", "Procedure", conversation(others[0], AS_OF)))
    assert_as_whole_read(app)
    transact(app, ("POST", "Encounter", inpatient_stay(others[1])))
    assert_as_whole_read(app)
    transact(app, ("PUT", new_stroke, stroke(others[2], onset="2025-06-10")))
    assert_as_whole_read(app)
    transact(app, ("DELETE", new_stroke, None))
    assert_as_whole_read(app)
    with app.extensions["sicdoc.engine"].connect() as conn:
        content = conn.scalar(
            select(Resource.content).where(Resource.resource_type == "Patient", Resource.id == others[3])
        )
    transact(app, ("PUT", f"Patient/{others[3]}", {**content, "deceasedDateTime": "2026-05-01"}))
    assert_as_whole_read(app)
    assert reads.count == 1  # every write above was put in place; no table was read whole

    # A ward belongs to no one patient: the tables it feeds are read whole.
    transact(app, ("POST", "Location", ward("Ward 10")))
    assert_as_whole_read(app)
    assert reads.count == 2


def test_the_frames_are_read_whole_once_max_age_has_passed_however_busy_the_writes(app, monkeypatch):
    """A commit that did not move the data version is caught by a whole read at least every max_age,
    even when every write in between was put in place by patient."""
    service = app.extensions["sicdoc.analytics"]
    service._frames.clear()
    reads = WholeReads(monkeypatch)
    clock = [1000.0]
    monkeypatch.setattr(service_module, "time", SimpleNamespace(monotonic=lambda: clock[0], time=time.time))
    service.frames()
    for _ in range(3):  # a write every two minutes (max_age is 300 s), each put in place by patient
        clock[0] += 120
        patient_with_stroke(app)
        service.frames()
    assert service._frames.max_age == 300
    assert reads.count == 2  # the third, 360 s after the whole read, read the frames whole again
