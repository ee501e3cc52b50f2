"""Every route that reads or writes patient data leaves audit records naming the actor and every patient.

The URL map is walked: each route is either a case below, which proves one request leaves the records,
or named in ``NO_PATIENT_DATA`` with the reason it touches none. A new route that is neither fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.conftest import bearer_client, login, site_day
from tests.web.fhir_helpers import patient, send, stroke
from tests.web.forms_helpers import answers, new_patient

# Routes that return and change no patient data, and why.
NO_PATIENT_DATA = {
    "static": "stylesheets and scripts",
    "auth.login": "log-in form (its own audit records: login success and failure)",
    "auth.logout": "ends a session",
    "home.index": "links by role",
    "admin.users": "people and roles",
    "admin.create_user": "people and roles",
    "admin.set_role": "people and roles",
    "admin.disable_user": "people and roles",
    "admin.person": "people and roles",
    "admin.set_profile": "a clinician's name, credentials and service (audited as user-profile)",
    "admin.reset_password": "people and roles",
    "admin.enable_user": "people and roles",
    "admin.clients": "integration clients",
    "admin.create_client": "integration clients",
    "admin.revoke_client": "integration clients",
    "dashboards.index": "suppressed aggregates without identities",
    "dashboards.show": "suppressed aggregates without identities",
    "dashboards.panel_csv": "suppressed aggregates without identities",
    "api.metrics": "suppressed aggregates without identities",
    "api.openapi": "the description of the JSON endpoints",
    "oauth.token": "issues tokens (audited as token events)",
    "oauth.smart_configuration": "public discovery document",
    "fhir.metadata": "the CapabilityStatement",
}


@dataclass
class World:
    app: object
    clinician: object  # a clinician's browser
    fhir: object  # an integration client with every scope
    patient: str
    other: str  # a second patient, on the worklist
    procedure: str
    draft: str
    condition: str
    decedent: str = ""  # set by the case-review case, which posts the patient it lists


@dataclass(frozen=True)
class Case:
    method: str
    run: Callable[[World], object]  # performs the request, returns the response
    patients: Callable[[World], set[str]]  # patients the records must name
    actor: str = "clinician"


def _records(app, request_id: str) -> list[tuple[int, str, str, str, set[str]]]:
    """(seq, actor, action, outcome, patients) of one request's audit records."""
    with app.extensions["sicdoc.sessionmaker"]() as s:
        rows = s.execute(
            text("SELECT seq, actor_id, action, outcome FROM audit_event WHERE request_id = :r ORDER BY seq"),
            {"r": request_id},
        ).all()
        out = []
        for seq, actor, action, outcome in rows:
            named = s.scalars(
                text("SELECT patient_id FROM audit_event_patient WHERE seq = :s"), {"s": seq}
            ).all()
            out.append((seq, actor, action, outcome, set(named)))
        return out


@pytest.fixture
def world(app, users) -> World:
    app.config["LOGIN_RATE_LIMIT"] = "10000/minute"
    fhir = bearer_client(app, "system/*.* system/AuditEvent.read")
    clinician = bearer_client(app, "system/*.*")
    assert login(clinician, "clinician").status_code == 302
    pid = new_patient(clinician, "MRN-AUD-1", "Okafor")
    other = new_patient(clinician, "MRN-AUD-2", "Lindqvist")
    condition = send(fhir, "POST", "/fhir/Condition", stroke(other)).get_json()["id"]
    signed = clinician.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="sign"))
    assert signed.status_code == 302
    saved = clinician.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="save"))
    assert saved.status_code == 302
    return World(
        app,
        clinician,
        fhir,
        pid,
        other,
        signed.headers["Location"].rsplit("/", 1)[-1],
        saved.headers["Location"].rsplit("/", 1)[-1],
        condition,
    )


def _both(w: World) -> set[str]:
    return {w.patient, w.other}


def _one(w: World) -> set[str]:
    return {w.patient}


def _case_review(w: World):
    """A patient who died last month after a DNR Observation and then CPR, then the review list."""
    died = date.today().replace(day=1) - timedelta(days=3)
    mrn = [{"system": "urn:oid:1.2.3", "value": "MRN-AUD-3"}]
    w.decedent = send(
        w.fhir,
        "POST",
        "/fhir/Patient",
        patient("MRN-AUD-3", "Moreau", identifier=mrn, deceasedDateTime=str(died)),
    ).get_json()["id"]
    snomed = "http://snomed.info/sct"
    for resource in (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": snomed, "code": "304251008"}]},
            "valueCodeableConcept": {"coding": [{"system": snomed, "code": "304253006"}]},
            "subject": {"reference": f"Patient/{w.decedent}"},
            "effectiveDateTime": str(died - timedelta(days=3)),
        },
        {
            "resourceType": "Procedure",
            "status": "completed",
            "code": {"coding": [{"system": snomed, "code": "89666000"}]},
            "subject": {"reference": f"Patient/{w.decedent}"},
            "performedDateTime": str(died - timedelta(days=1)),
        },
    ):
        assert send(w.fhir, "POST", f"/fhir/{resource['resourceType']}", resource).status_code == 201
    return w.clinician.get("/reviews/end-of-life")


def _transaction(w: World):
    entry = {
        "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}},
        "request": {"method": "POST", "url": "Observation"},
    }
    entry["resource"]["subject"] = {"reference": f"Patient/{w.patient}"}
    reads = [{"request": {"method": "GET", "url": f"Patient?_id={w.patient},{w.other}"}}]
    body = {"resourceType": "Bundle", "type": "transaction", "entry": [entry, *reads]}
    return send(w.fhir, "POST", "/fhir", body)


CASES: dict[str, list[Case]] = {
    "forms.find_patient": [
        Case("GET", lambda w: w.clinician.get("/patients?q=MRN-AUD"), _both),
    ],
    "forms.patient_page": [Case("GET", lambda w: w.clinician.get(f"/patients/{w.patient}"), _one)],
    "forms.new_referral": [
        Case(
            "POST",
            lambda w: w.clinician.post(
                f"/patients/{w.patient}/referrals",
                data={
                    "patient_id": w.patient,
                    "authored_on": "2026-01-05",
                    "urgency": "routine",
                    "reason": "Symptoms",
                },
            ),
            _one,
        )
    ],
    "forms.new_conversation": [
        Case("GET", lambda w: w.clinician.get(f"/patients/{w.patient}/conversations/new"), _one)
    ],
    "forms.post_new_conversation": [
        Case(
            "POST",
            lambda w: w.clinician.post(
                f"/patients/{w.patient}/conversations/new", data=answers(w.patient, action="save")
            ),
            _one,
        )
    ],
    "forms.draft": [Case("GET", lambda w: w.clinician.get(f"/drafts/{w.draft}"), _one)],
    "forms.post_draft": [
        Case(
            "POST",
            lambda w: w.clinician.post(
                f"/drafts/{w.draft}", data=answers(w.patient, action="save", version="1")
            ),
            _one,
        )
    ],
    "forms.conversation": [Case("GET", lambda w: w.clinician.get(f"/conversations/{w.procedure}"), _one)],
    "forms.amend": [
        Case("GET", lambda w: w.clinician.get(f"/conversations/{w.procedure}/amend"), _one),
        Case(
            "POST",
            lambda w: w.clinician.post(
                f"/conversations/{w.procedure}/amend",
                data={
                    **answers(w.patient, action="amend", version="1", goals="Home"),
                    "reason": "Spoke again",
                },
            ),
            _one,
        ),
    ],
    "forms.history": [Case("GET", lambda w: w.clinician.get(f"/conversations/{w.procedure}/history"), _one)],
    # After the amendment above (version 2): the note is withdrawn, the draft set aside.
    "forms.entered_in_error": [
        Case("GET", lambda w: w.clinician.get(f"/conversations/{w.procedure}/entered-in-error"), _one),
        Case(
            "POST",
            lambda w: w.clinician.post(
                f"/conversations/{w.procedure}/entered-in-error",
                data={"patient_id": w.patient, "version": "2", "reason": "Wrong patient"},
            ),
            _one,
        ),
    ],
    "forms.discard": [
        Case("GET", lambda w: w.clinician.get(f"/drafts/{w.draft}/discard"), _one),
        Case(
            "POST",
            lambda w: w.clinician.post(
                f"/drafts/{w.draft}/discard", data={"patient_id": w.patient, "version": "2"}
            ),
            _one,
        ),
    ],
    "worklist.index": [Case("GET", lambda w: w.clinician.get("/worklist"), lambda w: {w.other})],
    "worklist.snooze": [
        Case(
            "POST",
            lambda w: w.clinician.post(
                "/worklist/snooze",
                data={
                    "patient_id": w.other,
                    "until": site_day(w.app, 1),
                    "reason": "Family meeting on Friday",
                },
            ),
            lambda w: {w.other},
        )
    ],
    "worklist.wake": [
        Case(
            "POST",
            lambda w: w.clinician.post("/worklist/wake", data={"patient_id": w.other}),
            lambda w: {w.other},
        )
    ],
    "reviews.end_of_life": [Case("GET", _case_review, lambda w: {w.decedent})],
    "admin.audit_log": [
        Case("GET", lambda w: _admin(w).get(f"/admin/audit?patient={w.patient}"), lambda w: set(), "admin")
    ],
    "fhir.bundle": [Case("POST", _transaction, _both, "client")],
    "fhir.create": [
        Case(
            "POST",
            lambda w: send(
                w.fhir, "POST", "/fhir/Condition", stroke(w.other), {"If-None-Exist": f"_id={w.condition}"}
            ),
            lambda w: {w.other},
            "client",
        )
    ],
    "fhir.conditional_update": [
        Case(
            "PUT",
            lambda w: send(
                w.fhir,
                "PUT",
                f"/fhir/Condition?_id={w.condition}",
                {**stroke(w.other), "id": w.condition},
            ),
            lambda w: {w.other},
            "client",
        )
    ],
    "fhir.read_resource": [
        Case("GET", lambda w: w.fhir.get(f"/fhir/Condition/{w.condition}"), lambda w: {w.other}, "client")
    ],
    "fhir.read_version": [
        Case(
            "GET",
            lambda w: w.fhir.get(f"/fhir/Condition/{w.condition}/_history/1"),
            lambda w: {w.other},
            "client",
        )
    ],
    "fhir.update": [
        Case(
            "PUT",
            lambda w: send(
                w.fhir, "PUT", f"/fhir/Condition/{w.condition}", {**stroke(w.other), "id": w.condition}
            ),
            lambda w: {w.other},
            "client",
        )
    ],
    "fhir.instance_history": [
        Case(
            "GET",
            lambda w: w.fhir.get(f"/fhir/Condition/{w.condition}/_history"),
            lambda w: {w.other},
            "client",
        )
    ],
    "fhir.type_history": [Case("GET", lambda w: w.fhir.get("/fhir/Patient/_history"), _both, "client")],
    "fhir.system_history": [Case("GET", lambda w: w.fhir.get("/fhir/_history?_count=500"), _both, "client")],
    "fhir.search_get": [
        Case(
            "GET",
            lambda w: w.fhir.get(f"/fhir/Condition?_id={w.condition}&_include=Condition:subject"),
            lambda w: {w.other},
            "client",
        )
    ],
    "fhir.search_post": [
        Case(
            "POST",
            lambda w: w.fhir.post(
                "/fhir/Patient/_search",
                data=f"_id={w.patient},{w.other}",
                content_type="application/x-www-form-urlencoded",
            ),
            _both,
            "client",
        )
    ],
    "fhir.everything": [
        Case("GET", lambda w: w.fhir.get(f"/fhir/Patient/{w.patient}/$everything"), _one, "client")
    ],
    "fhir.search_audit_events": [
        Case("GET", lambda w: w.fhir.get("/fhir/AuditEvent?_count=5"), lambda w: set(), "client")
    ],
    # Last: the Condition the cases above read is gone after it.
    "fhir.delete": [
        Case(
            "DELETE", lambda w: w.fhir.delete(f"/fhir/Condition/{w.condition}"), lambda w: {w.other}, "client"
        )
    ],
}


def _admin(w: World):
    http = w.app.test_client()
    assert login(http, "admin").status_code == 302
    return http


def test_every_route_is_a_case_or_said_to_hold_no_patient_data(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    unknown = sorted(endpoints - set(CASES) - set(NO_PATIENT_DATA))
    assert not unknown, (
        f"routes with no audit case (add one to CASES, or to NO_PATIENT_DATA with why): {unknown}"
    )
    assert not set(CASES) & set(NO_PATIENT_DATA)
    for endpoint in CASES:
        assert endpoint in endpoints, f"{endpoint} is no longer a route"


def test_each_patient_data_route_audits_the_actor_and_every_patient(world):
    checked = 0
    for endpoint, cases in CASES.items():
        for case in cases:
            resp = case.run(world)
            where = f"{case.method} {endpoint}"
            assert resp.status_code < 400, f"{where}: {resp.status_code} {resp.get_data(as_text=True)[:300]}"
            records = _records(world.app, resp.headers["X-Request-ID"])
            assert records, f"{where} left no audit record"
            assert all(r[3] == "success" for r in records), f"{where}: {records}"
            actors = {r[1] for r in records}
            if case.actor != "client":
                assert actors == {case.actor}, f"{where}: records name {actors}"
            else:
                assert len(actors) == 1 and actors != {"anonymous"}, f"{where}: records name {actors}"
            named = set().union(*(r[4] for r in records))
            missing = case.patients(world) - named
            assert not missing, f"{where}: patients not named in the audit records: {missing}"
            checked += 1
    assert checked == sum(len(c) for c in CASES.values())


def test_a_search_page_names_every_patient_it_returns(world):
    ids = [new_patient(world.fhir, f"MRN-MANY-{n:03d}", "Many") for n in range(120)]
    resp = world.fhir.get("/fhir/Patient?family=Many&_count=100")
    assert resp.status_code == 200 and len(resp.get_json()["entry"]) == 100
    returned = {e["resource"]["id"] for e in resp.get_json()["entry"]}
    named = set().union(*(r[4] for r in _records(world.app, resp.headers["X-Request-ID"])))
    assert returned <= named and returned <= set(ids)
