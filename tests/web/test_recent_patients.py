"""A login's recently viewed patients: kept in its server-side session, written with the audit
records of the chart views that add to them, and ended with the login."""

from sqlalchemy import event, select

from sicdoc.db import session_scope
from sicdoc.models import AuditEvent, UserSession
from sicdoc.services import accounts, transaction
from tests.conftest import PASSWORD, login


def _signed_cookie_contents(app, http) -> str:
    raw = http.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if raw is None:
        return ""
    return str(app.session_interface.get_signing_serializer(app).loads(raw.value))


def test_recently_viewed_patients_live_in_the_server_side_session_and_end_with_it(app, users):
    from tests.conftest import bearer_client
    from tests.web.forms_helpers import new_patient

    http = bearer_client(app, "system/*.*")
    pid = new_patient(http, "MRN-90", "Okafor")
    assert login(http, "clinician").status_code == 302
    assert http.get(f"/patients/{pid}").status_code == 200
    recent = http.get("/patients").get_data(as_text=True).split('id="recent-heading"')[1]
    assert f"/patients/{pid}" in recent.split('id="updated-heading"')[0]
    assert pid not in _signed_cookie_contents(app, http)  # not in the browser's cookie
    with app.extensions["sicdoc.sessionmaker"]() as s:
        [stored] = s.scalars(select(UserSession.recent_patients).where(UserSession.revoked.is_(False))).all()
    assert stored == [pid]
    assert http.post("/logout").status_code == 302
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.scalars(select(UserSession.recent_patients)).all() == [None]
    assert login(http, "clinician").status_code == 302
    recent = http.get("/patients").get_data(as_text=True).split('id="recent-heading"')[1]
    assert f"/patients/{pid}" not in recent.split('id="updated-heading"')[0]
    assert "No patients viewed yet" in recent


def test_the_recent_list_keeps_the_newest_eight_without_repeats(app, users):
    with session_scope(app) as s:
        _user, raw = accounts.login(s, "clinician", PASSWORD, accounts.audit.SYSTEM)
        for i in [*range(10), 3]:
            with transaction(s):
                accounts.remember_patient(s, raw, f"p{i}")
        assert accounts.recent_patient_ids(s, raw) == ["p3", "p9", "p8", "p7", "p6", "p5", "p4", "p2"]
        assert accounts.recent_patient_ids(s, None) == []
        # The chart already first in the list is not written again.
        updates: list[str] = []

        def on_execute(_conn, _cursor, statement, *_args):
            if statement.lstrip().upper().startswith("UPDATE USER_SESSION"):
                updates.append(statement)

        engine = app.extensions["sicdoc.engine"]
        event.listen(engine, "before_cursor_execute", on_execute)
        with transaction(s):
            accounts.remember_patient(s, raw, "p3")
        assert updates == []
        with transaction(s):
            accounts.remember_patient(s, raw, "p9")
        assert len(updates) == 1
        event.remove(engine, "before_cursor_execute", on_execute)
        assert accounts.recent_patient_ids(s, raw)[:2] == ["p9", "p3"]
        accounts.forget_session(s, raw)
        assert accounts.recent_patient_ids(s, raw) == []


def test_a_chart_view_notes_the_patient_in_the_transaction_of_its_audit_record(app, users):
    from tests.conftest import bearer_client
    from tests.web.forms_helpers import new_patient

    http = bearer_client(app, "system/*.*")
    first, second = new_patient(http, "MRN-91", "Okafor"), new_patient(http, "MRN-92", "Adeyemi")
    assert login(http, "clinician").status_code == 302
    assert http.get(f"/patients/{first}").status_code == 200
    engine = app.extensions["sicdoc.engine"]
    commits: list[bool] = []

    def on_commit(_conn):
        commits.append(True)

    event.listen(engine, "commit", on_commit)
    try:
        assert http.get(f"/patients/{second}").status_code == 200
    finally:
        event.remove(engine, "commit", on_commit)
    # One commit holds both: the list cannot show a chart whose viewing was not audited.
    assert len(commits) == 1
    with app.extensions["sicdoc.sessionmaker"]() as s:
        [stored] = s.scalars(select(UserSession.recent_patients).where(UserSession.revoked.is_(False))).all()
        viewed = s.scalars(
            select(AuditEvent.patient_id).where(
                AuditEvent.action == "read", AuditEvent.actor_role == "clinician"
            )
        ).all()
    assert stored == [second, first]
    assert second in viewed


def test_a_chart_whose_audit_record_cannot_be_written_is_not_listed_as_viewed(app, users, monkeypatch):
    from tests.conftest import bearer_client
    from tests.web.forms_helpers import new_patient

    http = bearer_client(app, "system/*.*")
    pid = new_patient(http, "MRN-93", "Okafor")
    assert login(http, "clinician").status_code == 302

    def unavailable(*_args, **_kwargs):
        raise accounts.audit.AuditUnavailable()

    monkeypatch.setattr(accounts.audit, "append_many", unavailable)
    assert http.get(f"/patients/{pid}").status_code == 503
    monkeypatch.undo()
    with app.extensions["sicdoc.sessionmaker"]() as s:
        [stored] = s.scalars(select(UserSession.recent_patients).where(UserSession.revoked.is_(False))).all()
    assert stored is None
