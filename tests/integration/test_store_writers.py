"""sicdoc.store.writers: the write transactions in flight that a data version names."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from sicdoc.db import session_scope
from sicdoc.locking import begin_write
from sicdoc.store import writers
from sicdoc.store.frames import data_version
from sicdoc.store.writers import in_flight, open_writers

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_a_write_transaction_holds_its_transaction_id_from_begin(app):
    """Before it writes anything, so that it is seen as a writer before it stamps a row."""
    with session_scope(app) as session, begin_write(session):
        assert session.scalar(text("SELECT pg_current_xact_id_if_assigned()")) is not None
    with session_scope(app) as session:  # a read takes none
        assert session.scalar(text("SELECT pg_current_xact_id_if_assigned()")) is None


def test_a_version_names_a_writer_open_a_while_and_not_one_just_begun(app, monkeypatch):
    engine = app.extensions["sicdoc.engine"]
    with session_scope(app) as session, begin_write(session):
        began = session.scalar(text("SELECT xact_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"))
        with engine.connect() as conn:
            assert "@" not in data_version(conn)  # open for less than SETTLED: the version stays put
        monkeypatch.setattr(writers, "SETTLED", timedelta(0))
        with engine.connect() as conn:
            assert in_flight(data_version(conn)).since == began
    with engine.connect() as conn:
        assert "@" not in data_version(conn)


def test_a_writer_whose_start_is_hidden_makes_the_version_say_so(app, monkeypatch):
    """Another role's session shows its transaction id but not its start to a role without the
    right to read it: the version then says a writer of unknown start was open."""
    monkeypatch.setattr(writers, "SETTLED", timedelta(0))
    url = app.extensions["sicdoc.engine"].url
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    writer_role, reader_role = (f"sicdoc_{name}_{uuid.uuid4().hex[:8]}" for name in ("writer", "reader"))
    with admin.connect() as conn:
        for role in (writer_role, reader_role):
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    as_writer = create_engine(url.set(username=writer_role))
    as_reader = create_engine(url.set(username=reader_role))
    try:
        with as_writer.connect() as writing:
            writing.execute(text("SELECT pg_current_xact_id()"))
            with as_reader.connect() as reading:
                assert open_writers(reading) == "@?"
                assert in_flight("a|b#c" + open_writers(reading)).unknown
            writing.rollback()
        with as_reader.connect() as reading:
            assert open_writers(reading) == ""
    finally:
        as_writer.dispose()
        as_reader.dispose()
        with admin.connect() as conn:
            for role in (writer_role, reader_role):
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()
