"""The worklist after a write: the patients the write touched are computed again from their own rows
and the rest of the last table is kept, which must give the table computed whole from all the data."""

import pandas as pd
from sqlalchemy import select

from sicdoc.analytics.scope import parse_scope
from sicdoc.analytics.worklist import plain, worklist
from sicdoc.dashboards.service import today_utc
from sicdoc.models import Resource
from sicdoc.store.changes import changed_patients
from sicdoc.store.frames import data_version, load_frames
from tests.integration.writes import (
    conversation,
    living_patients_not_due,
    patient_with_stroke,
    transact,
    ward,
)
from tests.web.analytics_population import AS_OF, population_per_backend  # noqa: F401 - the module's ``app``
from tests.web.fhir_helpers import stroke

SCOPE = parse_scope({"as_of": AS_OF}, today=today_utc())


def served(app) -> pd.DataFrame:
    table, _ = app.extensions["sicdoc.analytics"].worklist(SCOPE, limit=10**6)
    return table.drop(columns=["name", "mrn"]).reset_index(drop=True)


def whole(app) -> pd.DataFrame:
    with app.extensions["sicdoc.engine"].connect() as conn:
        frames = load_frames(conn)
    return plain(
        worklist(frames, as_of=SCOPE.as_of, cohorts=list(SCOPE.cohorts), site=SCOPE.site, unit=SCOPE.unit)
    )


class FramesRead:
    """Counts how often the service reads the frames (the whole-table way)."""

    def __init__(self, service, monkeypatch):
        self.count = 0
        original = service.frames

        def counted(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(service, "frames", counted)


def test_each_write_patches_the_worklist_to_what_computing_it_whole_gives(app, monkeypatch):
    service = app.extensions["sicdoc.analytics"]
    reads = FramesRead(service, monkeypatch)
    before = served(app)
    assert reads.count == 1 and len(before) > 5
    due = list(before["patient_id"])

    # A new patient in the stroke cohort, diagnosed long enough ago to be due.
    new_patient, new_stroke = patient_with_stroke(app)
    after = served(app)
    pd.testing.assert_frame_equal(after, whole(app))
    assert new_patient in set(after["patient_id"])

    # A conversation with a patient who was due takes them off.
    transact(app, ("POST", "Procedure", conversation(due[0], AS_OF)))
    after = served(app)
    pd.testing.assert_frame_equal(after, whole(app))
    assert due[0] not in set(after["patient_id"])

    # A corrected subject moves the diagnosis, and the patient's place on the list, to another patient.
    others = living_patients_not_due(app, after)
    moved = stroke(others[0], onset="2025-06-10")
    transact(app, ("PUT", new_stroke, moved))
    after = served(app)
    pd.testing.assert_frame_equal(after, whole(app))
    assert new_patient not in set(after["patient_id"]) and others[0] in set(after["patient_id"])

    # A deleted diagnosis and a death.
    transact(app, ("DELETE", new_stroke, None))
    pd.testing.assert_frame_equal(served(app), whole(app))
    with app.extensions["sicdoc.engine"].connect() as conn:
        content = conn.scalar(
            select(Resource.content).where(Resource.resource_type == "Patient", Resource.id == due[1])
        )
    transact(app, ("PUT", f"Patient/{due[1]}", {**content, "deceasedDateTime": "2026-05-01"}))
    after = served(app)
    pd.testing.assert_frame_equal(after, whole(app))
    assert due[1] not in set(after["patient_id"])
    assert reads.count == 1  # every write above was patched in, none read the frames

    # A ward (Location) belongs to no one patient: the table is computed whole again.
    transact(app, ("POST", "Location", ward("Ward 9")))
    pd.testing.assert_frame_equal(served(app), whole(app))
    assert reads.count == 2


def test_changed_patients_names_the_written_ones_and_gives_up_on_a_bulk_load(app):
    engine = app.extensions["sicdoc.engine"]
    with engine.connect() as conn:
        old = data_version(conn)
    new_patient, _ = patient_with_stroke(app)
    with engine.connect() as conn:
        new = data_version(conn)
        assert new_patient in changed_patients(conn, old, new)
        assert changed_patients(conn, old, old) == set()
        assert changed_patients(conn, old, new, max_changed=0) is None
        assert changed_patients(conn, "not a version", new) is None


def test_a_server_of_an_earlier_version_still_gets_the_worklist_as_one_table(app):
    """Servers of an earlier version ask the analytics worker for the worklist as one DataFrame, under
    the call they know; this version keeps it with the patient ids apart, under a call of its own."""
    from sicdoc.analytics.served_worklist import Worklist
    from sicdoc.dashboards.calls import Call

    analytics = app.extensions["sicdoc.analytics"]
    version = analytics.version()
    earlier = analytics.compute(Call("worklist", (SCOPE,), SCOPE.key()), version)
    assert isinstance(earlier, pd.DataFrame)
    pd.testing.assert_frame_equal(plain(earlier), whole(app))
    kept = analytics._worklist_table(SCOPE)
    assert isinstance(kept, Worklist) and kept.ids.dtype.kind == "S"
    pd.testing.assert_frame_equal(plain(kept.table()), whole(app))
