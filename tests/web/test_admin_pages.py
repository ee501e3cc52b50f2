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


# ---- the person behind an account, passwords, re-enabling and clients --------------------------

ADA = {"name": "Ada  Okafor", "credentials": "MD", "npi": "1234567893", "service": "Palliative care"}
ADA_SHOWN = "Ada Okafor, MD (Palliative care)"


def _audited(app, action):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        return [
            (e.actor_id, e.detail)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        ]


def _practitioners(feed):
    return feed.get("/fhir/Practitioner").get_json().get("entry") or []


def test_a_signed_note_names_its_clinician_with_credentials_and_service(app, users):
    from tests.conftest import bearer_client
    from tests.web.forms_helpers import answers, new_patient

    clinician = bearer_client(app, "system/*.*")
    login(clinician, "clinician")
    pid = new_patient(clinician)

    def sign(start):
        data = answers(pid, action="sign", performed_start=start)
        resp = clinician.post(f"/patients/{pid}/conversations/new", data=data)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return resp.headers["Location"].rsplit("/", 1)[-1]

    # A note signed before any name was recorded names its author by login, and says so.
    old = sign("2026-01-05T10:00")
    assert "clinician (login name; no full name recorded)" in clinician.get(f"/conversations/{old}").text

    admin = app.test_client()
    login(admin, "admin")
    resp = admin.post("/admin/users/clinician/profile", data=ADA)
    assert resp.status_code == 302
    assert ADA_SHOWN in admin.get("/admin/users").text and ADA_SHOWN in admin.get(resp.location).text
    assert _audited(app, "user-profile") == [("admin", f"clinician: {ADA_SHOWN}")]
    # The header names the author of the note signed before the name was set by that name now.
    assert f"by {ADA_SHOWN}" in clinician.get(f"/patients/{pid}").text

    new = sign("2026-01-06T10:00")
    assert f"by {ADA_SHOWN}" in clinician.get(f"/patients/{pid}").text  # the header's latest conversation
    for procedure_id in (old, new):  # the old note follows its Practitioner
        assert ADA_SHOWN in clinician.get(f"/conversations/{procedure_id}").text
        assert ADA_SHOWN in clinician.get(f"/conversations/{procedure_id}/history").text
    procedure = clinician.get(f"/fhir/Procedure/{new}").get_json()
    actor = procedure["performer"][0]["actor"]
    assert actor["display"] == ADA_SHOWN
    (entry,) = _practitioners(clinician)
    practitioner = entry["resource"]
    assert actor["reference"] == f"Practitioner/{practitioner['id']}"
    assert {
        "use": "official",
        "system": "http://hl7.org/fhir/sid/us-npi",
        "value": "1234567893",
    } in practitioner["identifier"]
    assert practitioner["name"][0]["text"] == "Ada Okafor" and practitioner["name"][0]["suffix"] == ["MD"]
    assert practitioner["qualification"][0]["code"]["coding"][0]["code"] == "MD"
    roles = clinician.get("/fhir/PractitionerRole").get_json()["entry"]
    assert roles[0]["resource"]["specialty"] == [{"text": "Palliative care"}]
    composition = clinician.get(f"/fhir/Composition?subject=Patient/{pid}").get_json()["entry"]
    assert {e["resource"]["author"][0]["display"] for e in composition} == {"clinician", ADA_SHOWN}


def test_an_invalid_npi_or_an_empty_name_is_refused_beside_the_field(app, users):
    admin = app.test_client()
    login(admin, "admin")
    bad = admin.post("/admin/users/clinician/profile", data={**ADA, "npi": "1234567890"})
    assert bad.status_code == 400 and "last digit must check out" in bad.text
    assert 'aria-invalid="true"' in bad.text and 'value="1234567890"' in bad.text
    nameless = admin.post("/admin/users/clinician/profile", data={**ADA, "name": " "})
    assert nameless.status_code == 400 and "Enter the person&#39;s full name" in nameless.text
    odd = admin.post("/admin/users/clinician/profile", data={**ADA, "credentials": "M/D"})
    assert odd.status_code == 400 and "short abbreviations" in odd.text
    adding = {"username": "dr.new", "role": "clinician", "password": PASSWORD, **ADA, "npi": "123"}
    refused = admin.post("/admin/users", data=adding)
    assert refused.status_code == 400 and "last digit must check out" in refused.text
    assert _user(app, "dr.new") is None and _audited(app, "user-profile") == []
    assert admin.post("/admin/users/nobody/profile", data=ADA).status_code == 404
    feed = bearer_client_for(app)
    assert _practitioners(feed) == []

    added = admin.post("/admin/users", data={**adding, "npi": "1234567893"})
    assert added.status_code == 302 and _user(app, "dr.new").role == "clinician"
    assert "dr.new: Ada Okafor, MD (Palliative care)" in dict(_audited(app, "user-profile"))["admin"]


def bearer_client_for(app):
    from tests.conftest import bearer_client

    return bearer_client(app, "system/*.read")


def test_admin_resets_a_password_refusing_a_weak_one(app, users):
    admin = app.test_client()
    login(admin, "admin")
    person = app.test_client()
    assert login(person, "clinician").status_code == 302
    weak = admin.post(
        "/admin/users/clinician/password", data={"password": "password1234", "confirm": "password1234"}
    )
    assert weak.status_code == 400 and "too easy to guess" in weak.text
    differ = admin.post(
        "/admin/users/clinician/password", data={"password": "quiet otter lantern 42", "confirm": "other"}
    )
    assert differ.status_code == 400 and "The two passwords differ." in differ.text
    assert person.get("/").status_code == 200  # nothing changed: the session lives on
    assert _audited(app, "user-password") == []
    new = "quiet otter lantern marmalade"
    done = admin.post("/admin/users/clinician/password", data={"password": new, "confirm": new})
    assert done.status_code == 302 and person.get("/").status_code == 302  # sessions ended
    assert login(app.test_client(), "clinician").status_code == 401
    assert login(app.test_client(), "clinician", new).status_code == 302
    assert _audited(app, "user-password") == [("admin", "clinician")]


def test_admin_re_enables_a_disabled_or_locked_account(app, users):
    from datetime import UTC, datetime, timedelta

    admin = app.test_client()
    login(admin, "admin")
    assert admin.post("/admin/users/clinician/disable").status_code == 302
    assert "no: disabled" in admin.get("/admin/users/clinician").text
    assert login(app.test_client(), "clinician").status_code == 401
    assert admin.post("/admin/users/clinician/enable").status_code == 302
    assert login(app.test_client(), "clinician").status_code == 302
    with session_scope(app) as s, s.begin():
        s.scalar(select(User).where(User.username == "qi_analyst")).locked_until = datetime.now(
            UTC
        ) + timedelta(minutes=10)
    assert "no: locked" in admin.get("/admin/users/qi_analyst").text
    assert login(app.test_client(), "qi_analyst").status_code != 302
    assert admin.post("/admin/users/qi_analyst/enable").status_code == 302
    assert login(app.test_client(), "qi_analyst").status_code == 302
    assert admin.post("/admin/users/nobody/enable").status_code == 404
    assert [a for a, _ in _audited(app, "user-enable")] == ["admin", "admin"]


def test_admin_registers_a_client_and_sees_its_secret_once(app, users):
    admin = app.test_client()
    login(admin, "admin")
    bad_scope = admin.post("/admin/clients", data={"name": "feed", "scopes": "everything", "secret": "y"})
    assert bad_scope.status_code == 400 and 'aria-describedby="scopes-error"' in bad_scope.text
    no_way_in = admin.post("/admin/clients", data={"name": "feed", "scopes": "system/*.read"})
    assert no_way_in.status_code == 400 and "ask for a secret" in no_way_in.text
    not_json = admin.post("/admin/clients", data={"name": "feed", "scopes": "system/*.read", "jwks": "{"})
    assert not_json.status_code == 400 and "This is not JSON" in not_json.text
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.scalars(select(IntegrationClient)).all() == []
    made = admin.post("/admin/clients", data={"name": "lab feed", "scopes": "system/*.read", "secret": "y"})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    client_id = re.search(r"Client id: <code>([0-9a-f]+)</code>", made.text).group(1)
    secret = re.search(r"Client secret: <code>([^<]+)</code>", made.text).group(1)
    assert secret not in admin.get("/admin/clients").text  # shown once only
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert app.test_client().post("/auth/token", data=form).status_code == 200
    assert [a for a, _ in _audited(app, "client-create")] == ["admin"]


def test_the_new_admin_forms_need_their_csrf_token(app, users):
    app.config["WTF_CSRF_ENABLED"] = True
    admin = app.test_client()
    page = admin.get("/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1).decode()
    admin.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    new = "quiet otter lantern marmalade"
    posts = {
        "/admin/users/clinician/profile": ADA,
        "/admin/users/clinician/password": {"password": new, "confirm": new},
        "/admin/users/clinician/enable": {},
        "/admin/clients": {"name": "lab feed", "scopes": "system/*.read", "secret": "y"},
    }
    for url, data in posts.items():
        assert admin.post(url, data=data).status_code == 400, url
    assert _audited(app, "user-profile") == [] and _audited(app, "user-password") == []
    assert _audited(app, "user-enable") == [] and _audited(app, "client-create") == []
