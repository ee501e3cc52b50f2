"""sicdoc.store.changes: which writes a move between data versions reads back as possibly late."""

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sicdoc.db import session_scope
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit
from sicdoc.store import changes, new_id, writers
from sicdoc.store.changes import changed_patients
from sicdoc.store.frames import data_version
from tests.web.fhir_helpers import patient, stroke


def _stamped(app, when: datetime, count: int) -> list[str]:
    """``count`` patients whose writes are stamped ``when``."""
    store = app.extensions["sicdoc.store"]
    with session_scope(app) as session, system_unit(session, store).transaction():
        made = store.create_many(
            session, [(patient(str(uuid.uuid4())), new_id()) for _ in range(count)], now=when
        )
    return [m.id for m in made]


def _posted_patient_with_a_stroke(app) -> str:
    ref = f"urn:uuid:{uuid.uuid4()}"
    entries = [
        {
            "fullUrl": ref,
            "resource": patient(str(uuid.uuid4())),
            "request": {"method": "POST", "url": "Patient"},
        },
        {
            "resource": {**stroke("x"), "subject": {"reference": ref}},
            "request": {"method": "POST", "url": "Condition"},
        },
    ]
    with session_scope(app) as session:
        result = process_transaction(
            system_unit(session, app.extensions["sicdoc.store"]),
            {"resourceType": "Bundle", "type": "transaction", "entry": entries},
        )
    return result.response["entry"][0]["response"]["location"].split("/")[1]


def test_writes_a_minute_before_a_version_are_not_read_back_when_no_writer_was_open(app):
    """No write transaction was open when the version was taken, so none can commit behind it: the
    writes read back are those after its last one (less the clock allowance), on both databases.
    (PostgreSQL read back five minutes every time, more than the limit here.)"""
    engine = app.extensions["sicdoc.engine"]
    now = datetime.now(UTC)
    earlier = _stamped(app, now - timedelta(seconds=90), 2)
    last = _stamped(app, now - timedelta(seconds=60), 1)
    with engine.connect() as conn:
        old = data_version(conn)
    new_patient = _posted_patient_with_a_stroke(app)
    with engine.connect() as conn:
        found = changed_patients(conn, old, data_version(conn), max_changed=3)
    # The version's own last write is read again (a write stamped the same instant), no earlier one.
    assert found == {new_patient, *last}
    assert not found & set(earlier)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_commit_behind_a_version_is_read_back_from_when_its_transaction_began(app, monkeypatch):
    """A writer open when the version was taken commits after it with an older stamp than the
    version's last write: the version names when the writer began, and the writes are read back from
    there, though nothing is allowed for the clock."""
    monkeypatch.setattr(writers, "SETTLED", timedelta(0))
    monkeypatch.setattr(changes, "CLOCK", timedelta(0))
    engine = app.extensions["sicdoc.engine"]
    store = app.extensions["sicdoc.store"]
    with session_scope(app) as session, system_unit(session, store).transaction():
        slow = store.create(session, patient(str(uuid.uuid4()))).id
        time.sleep(0.01)
        # A later stamp, committed while the slow one is open: the version's last write.
        _stamped(app, datetime.now(UTC), 1)
        with engine.connect() as conn:
            old = data_version(conn)
    assert "@" in old
    after = _stamped(app, datetime.now(UTC), 1)
    with engine.connect() as conn:
        found = changed_patients(conn, old, data_version(conn))
    assert found is not None
    assert {slow, *after} <= found
