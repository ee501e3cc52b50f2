"""Projection tables read back as analytics frames, on both databases."""

from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import insert

import sicdoc.store.frames as frames_module
from sicdoc.analytics.frames import Frames
from sicdoc.analytics.tables import COLUMNS
from sicdoc.db import session_scope
from sicdoc.models import EncounterFact, PatientFact
from sicdoc.sample import iter_patients
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit
from sicdoc.store.frames import TABLES, data_version, load_frames, load_tables, patient_labels, places


def test_frames_round_trip_dates_instants_and_flags(app):
    engine = app.extensions["sicdoc.engine"]
    with engine.begin() as conn:
        conn.execute(
            insert(PatientFact),
            [
                {
                    "patient_id": "a",
                    "birth_date": date(1950, 2, 3),
                    "deceased_date": date(2025, 3, 1),
                    "site": "North",
                },
                {"patient_id": "b", "birth_date": None, "deceased_date": None, "site": None},
            ],
        )
        conn.execute(
            insert(EncounterFact),
            [
                {
                    "encounter_id": "e1",
                    "patient_id": "a",
                    "class_code": "IMP",
                    "palliative": True,
                    "unit": "Neuro",
                    "admit_at": datetime(2025, 1, 1, 23, 30, tzinfo=UTC),
                    "admit_date": date(2025, 1, 1),
                },
                {
                    "encounter_id": "e2",
                    "patient_id": "a",
                    "class_code": "AMB",
                    "palliative": False,
                    "unit": None,
                    "admit_at": datetime(2025, 4, 1, 8, 0, 0, 250000, tzinfo=UTC),
                    "admit_date": date(2025, 4, 1),
                },
            ],
        )
    with engine.connect() as conn:
        frames = load_frames(conn).normalised()
        cut = load_frames(conn, as_of=date(2025, 2, 1))
        assert places(conn) == {"sites": ["North"], "units": ["Neuro"]}
    patients = frames.patients.set_index(frames.patient_ids(frames.patients["patient_id"]))
    assert patients.loc["a", "deceased_date"] == pd.Timestamp(2025, 3, 1)
    assert pd.isna(patients.loc["b", "birth_date"])
    enc = frames.encounters.set_index(frames.encounter_ids(frames.encounters["encounter_id"]))
    assert enc.loc["e1", "admit_at"] == pd.Timestamp(2025, 1, 1, 23, 30, tz="UTC")
    assert enc.loc["e2", "admit_at"] == pd.Timestamp(2025, 4, 1, 8, 0, 0, 250000, tz="UTC")
    assert enc.loc["e1", "admit_date"] == pd.Timestamp(2025, 1, 1)
    assert bool(enc.loc["e1", "palliative"]) is True and bool(enc.loc["e2", "palliative"]) is False
    # The April visit is after the cut-off.
    assert list(cut.encounter_ids(cut.encounters["encounter_id"])) == ["e1"]


def test_data_version_moves_with_every_write_and_labels_come_from_the_patient(app, session, store):
    engine = app.extensions["sicdoc.engine"]
    with engine.connect() as conn:
        before = data_version(conn)
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-9"}],
        "name": [{"family": "Okafor", "given": ["Grace", "A"]}],
    }
    with session.begin():
        stored = store.create(session, patient)
    with engine.connect() as conn:
        assert data_version(conn) != before
        labels = patient_labels(conn, [stored.id, "missing"], "urn:oid:2.16.840.1.113883.19.5")
    assert labels == {stored.id: {"name": "Grace A Okafor", "mrn": "MRN-9"}}


def test_frames_read_in_batches_are_the_frames_read_whole(app, monkeypatch):
    """Batches of a few rows give what whole tables give: batch boundaries fall between rows with
    and without dates, flags and codes, and between batches with different code categories."""
    store = app.extensions["sicdoc.store"]
    with session_scope(app) as session:
        unit = system_unit(session, store)
        for _, bundle, _ in iter_patients(40, 3):
            process_transaction(unit, bundle)
    with app.extensions["sicdoc.engine"].connect() as conn:
        whole = Frames.of(load_tables(conn, TABLES)).normalised()
        monkeypatch.setattr(frames_module, "BATCH_ROWS", 3)
        batched = load_frames(conn)
    assert batched.is_normalised
    assert len(batched.care_events) > 30 and len(batched.conversations) > 3
    for name in COLUMNS:
        pd.testing.assert_frame_equal(getattr(batched, name), getattr(whole, name), check_exact=True)
    assert list(batched.patient_keys) == list(whole.patient_keys)
    assert list(batched.encounter_keys) == list(whole.encounter_keys)
