"""Administrators manage people and clients in the browser; every change is a CSRF-protected, audited form."""

import re

from sqlalchemy import select

from sicdoc.db import session_scope
from sicdoc.models import AuditEvent, IntegrationClient, User
from sicdoc.services import accounts
from tests.conftest import PASSWORD, login


def _user(app, username):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        return s.scalar(select(User).where(User.username == username))


def test_admin_adds_a_person_changes_a_role_and_disables(app, users):
    admin = app.test_client()
    login(admin, "admin")
    page = admin.get("/admin/users")
    assert page.status_code == 200 and b"qi_analyst" in page.data
    resp = admin.post("/admin/users", data={"username": "dr.lee", "role": "clinician", "password": PASSWORD})
    assert resp.status_code == 302
    assert _user(app, "dr.lee").role == "clinician"
    assert b"Created dr.lee" in admin.get("/admin/users").data
    short = admin.post("/admin/users", data={"username": "x", "role": "clinician", "password": "short"})
    assert short.status_code == 400 and _user(app, "x") is None
    taken = admin.post("/admin/users", data={"username": "dr.lee", "role": "admin", "password": PASSWORD})
    assert taken.status_code == 409 and b"already exists" in taken.data

    analyst = app.test_client()
    login(analyst, "qi_analyst")
    assert admin.post("/admin/users/qi_analyst/role", data={"role": "clinician"}).status_code == 302
    assert _user(app, "qi_analyst").role == "clinician"
    assert analyst.get("/").status_code == 302  # their session ended
    assert admin.post("/admin/users/qi_analyst/role", data={"role": "superuser"}).status_code == 400
    assert admin.post("/admin/users/qi_analyst/disable").status_code == 302
    assert _user(app, "qi_analyst").active is False
    assert admin.post("/admin/users/admin/disable").status_code == 409  # never lock yourself out
    assert admin.post("/admin/users/admin/role", data={"role": "clinician"}).status_code == 409
    assert admin.post("/admin/users/nobody/disable").status_code == 404
    with app.extensions["sicdoc.sessionmaker"]() as s:
        changes = s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("user-%")).order_by(AuditEvent.seq)
        ).all()
    assert [(e.action, e.actor_id) for e in changes][-3:] == [
        ("user-create", "admin"),
        ("user-role", "admin"),
        ("user-disable", "admin"),
    ]


def test_a_posted_role_field_changes_nothing_but_the_role_form(app, users):
    admin = app.test_client()
    login(admin, "admin")
    resp = admin.post("/admin/users/clinician/disable", data={"role": "admin", "active": "true"})
    assert resp.status_code == 302
    assert _user(app, "clinician").role == "clinician"  # only the disable happened


def test_admin_revokes_a_client(app, users):
    with session_scope(app) as s:
        client_id, secret = accounts.create_client(s, "lab feed", "system/*.read", with_secret=True)
    admin = app.test_client()
    login(admin, "admin")
    assert b"lab feed" in admin.get("/admin/clients").data
    assert admin.post(f"/admin/clients/{client_id}/revoke").status_code == 302
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.get(IntegrationClient, client_id).active is False
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert app.test_client().post("/auth/token", data=form).status_code == 401


def test_admin_forms_need_their_csrf_token(app, users):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = app.test_client()
    page = admin.get("/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1).decode()
    admin.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert admin.post("/admin/users/clinician/disable").status_code == 400
    assert _user(app, "clinician").active is True
    page = admin.get("/admin/users")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page.data).group(1).decode()
    assert admin.post("/admin/users/clinician/disable", data={"csrf_token": token}).status_code == 302
    assert _user(app, "clinician").active is False


def test_the_audit_page_finds_a_patient_named_among_many_in_one_record(app, users):
    from tests.conftest import bearer_client
    from tests.web.forms_helpers import new_patient

    feed = bearer_client(app, "system/*.*")
    ids = [new_patient(feed, f"MRN-LIST-{n}", "Listed") for n in range(5)]
    assert feed.get("/fhir/Patient?family=Listed").status_code == 200
    admin = app.test_client()
    login(admin, "admin")
    page = admin.get(f"/admin/audit?patient={ids[3]}&action=search").get_data(as_text=True)
    assert "search" in page and sorted(ids)[0] in page and "and 2 more" in page
