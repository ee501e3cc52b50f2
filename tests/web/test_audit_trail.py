"""Every FHIR read and write leaves one audit record; if it cannot be written, no data leaves or changes."""

import json

from sqlalchemy import func, select

from sicdoc.models import AuditEvent, Resource
from sicdoc.security import audit, chain
from sicdoc.security.audit import AuditUnavailable
from tests.conftest import PATIENT_JSON

FHIR = {"Content-Type": "application/fhir+json"}


def _events(app, action=None):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        if action:
            query = query.where(AuditEvent.action == action)
        return s.scalars(query).all()


def _count(app, model):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        return s.scalar(select(func.count()).select_from(model))


def _client_id(app):
    return next(e.actor_id for e in _events(app, "token"))


def test_a_phi_read_leaves_an_audit_record(app, fhir_client):
    created = fhir_client.post("/fhir/Patient", data=PATIENT_JSON, headers=FHIR).get_json()
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "IMP"},
        "subject": {"reference": f"Patient/{created['id']}"},
    }
    enc = fhir_client.post("/fhir/Encounter", data=json.dumps(encounter), headers=FHIR).get_json()
    resp = fhir_client.get(f"/fhir/Encounter/{enc['id']}", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 200
    [read] = _events(app, "read")
    assert read.actor_id == _client_id(app) and read.actor_role == "client"
    assert (read.resource_type, read.resource_id, read.patient_id) == ("Encounter", enc["id"], created["id"])
    assert read.outcome == "success" and read.source_address == "10.1.2.3"
    assert read.request_id == resp.headers["X-Request-ID"]
    assert read.recorded.year >= 2026
    creates = _events(app, "create")
    assert [(e.resource_type, e.patient_id) for e in creates] == [
        ("Patient", created["id"]),
        ("Encounter", created["id"]),
    ]
    fhir_client.get(f"/fhir/Patient/{created['id']}/_history/1")
    [vread] = _events(app, "vread")
    assert vread.patient_id == created["id"]
    text = " ".join(str(v) for e in _events(app) for v in vars(e).values())
    assert "Nguyen" not in text and "Bearer" not in text
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert chain.verify(s).intact


def test_a_refusal_is_audited(app, fhir_client):
    anonymous = app.test_client()
    assert anonymous.get("/fhir/Patient/p9").status_code == 401
    [denied] = _events(app, "access")
    assert (denied.outcome, denied.actor_id, denied.resource_type, denied.patient_id) == (
        "denied",
        "anonymous",
        "Patient",
        "p9",
    )


def _broken_append(*_args, **_kwargs):
    raise AuditUnavailable()


def test_reads_fail_closed_when_the_audit_log_is_unavailable(app, fhir_client, monkeypatch):
    created = fhir_client.post("/fhir/Patient", data=PATIENT_JSON, headers=FHIR).get_json()
    monkeypatch.setattr(audit, "append", _broken_append)
    monkeypatch.setattr(audit, "append_many", _broken_append)
    resp = fhir_client.get(f"/fhir/Patient/{created['id']}")
    assert resp.status_code == 503
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert b"Nguyen" not in resp.data


def test_writes_fail_closed_when_the_audit_log_is_unavailable(app, fhir_client, monkeypatch):
    monkeypatch.setattr(audit, "append", _broken_append)
    monkeypatch.setattr(audit, "append_many", _broken_append)
    resp = fhir_client.post("/fhir/Patient", data=PATIENT_JSON, headers=FHIR)
    assert resp.status_code == 503
    assert resp.get_json()["issue"][0]["code"] == "transient"
    assert _count(app, Resource) == 0


def test_failed_reads_and_writes_are_audited(app, fhir_client):
    assert fhir_client.get("/fhir/Patient/missing").status_code == 404
    bad = fhir_client.post("/fhir/Patient", data='{"resourceType": "Patient", "active": "yes"}', headers=FHIR)
    assert bad.status_code == 400
    failures = [
        (e.action, e.outcome, e.resource_type, e.patient_id) for e in _events(app) if e.outcome == "failure"
    ]
    assert failures == [("read", "failure", "Patient", "missing"), ("create", "failure", "Patient", None)]


def test_a_refused_request_never_reaches_the_data(app, monkeypatch):
    import sicdoc.views.fhir_api as fhir_api

    def spy(*_args, **_kwargs):
        raise AssertionError("the store was reached")

    monkeypatch.setattr(fhir_api, "unit", spy)
    monkeypatch.setattr(fhir_api.resource_service, "create_resource", spy)
    anonymous = app.test_client()
    assert anonymous.get("/fhir/Patient/p1").status_code == 401
    assert anonymous.post("/fhir/Patient", data=PATIENT_JSON, headers=FHIR).status_code == 401


def test_a_lost_database_is_a_503_outcome(app, fhir_client, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from sicdoc.services import accounts

    def down(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(accounts, "bearer_grant", down)
    resp = fhir_client.get("/fhir/Patient/p1")
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert resp.get_json()["issue"][0]["code"] == "transient"


def test_clinician_pages_fail_closed_when_the_audit_log_is_unavailable(app, users, fhir_client, monkeypatch):
    from tests.conftest import login

    created = fhir_client.post("/fhir/Patient", data=PATIENT_JSON, headers=FHIR).get_json()
    browser = app.test_client()
    assert login(browser, "clinician").status_code == 302
    monkeypatch.setattr(audit, "append", _broken_append)
    monkeypatch.setattr(audit, "append_many", _broken_append)
    for page in (f"/patients/{created['id']}", "/patients?q=Nguyen"):
        resp = browser.get(page)
        assert resp.status_code == 503, page
        assert b"Nguyen" not in resp.data, page


def test_logging_in_and_out_fail_closed_when_the_audit_log_is_unavailable(app, users, monkeypatch):
    from tests.conftest import login

    browser = app.test_client()
    assert login(browser, "clinician").status_code == 302
    monkeypatch.setattr(audit, "append", _broken_append)
    monkeypatch.setattr(audit, "record", _broken_append)
    for resp in (browser.post("/logout"), login(app.test_client(), "clinician")):
        assert resp.status_code == 503
        assert b"audit log is unavailable" in resp.data
