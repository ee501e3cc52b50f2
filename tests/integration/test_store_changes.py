"""sicdoc.store.changes: which writes a move between data versions reads back as possibly late."""

import uuid
from datetime import UTC, datetime, timedelta

from sicdoc.db import session_scope
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit
from sicdoc.store import new_id
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


def test_writes_a_minute_before_a_version_count_as_late_only_where_writers_overlap(app):
    """SQLite runs one writer at a time, which stamps its writes once it holds the lock: writes made
    well before a version's last one cannot commit after it. PostgreSQL's writers overlap, so writes
    of the last five minutes are read back, and here that is more than the limit."""
    engine = app.extensions["sicdoc.engine"]
    now = datetime.now(UTC)
    earlier = _stamped(app, now - timedelta(seconds=90), 2)
    last = _stamped(app, now - timedelta(seconds=60), 1)
    with engine.connect() as conn:
        old = data_version(conn)
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
    new_patient = result.response["entry"][0]["response"]["location"].split("/")[1]
    with engine.connect() as conn:
        found = changed_patients(conn, old, data_version(conn), max_changed=3)
    if engine.dialect.name == "sqlite":
        # The version's own last write is read again (a write stamped the same instant), no earlier one.
        assert found == {new_patient, *last}
        assert not found & set(earlier)
    else:
        assert found is None  # three patients, the new one and its stroke: more than three
