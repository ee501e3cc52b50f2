"""Helpers for the clinician form tests: patients, form posts, and counting what was stored."""

import pytest

from sicdoc.sample import make_patient
from tests.conftest import bearer_client, login
from tests.web.fhir_helpers import patient, send

# Patient 23 of seed 7 has diagnoses, admissions, a referral and a conversation posted as an EHR would.
EHR_SEED, EHR_INDEX = 7, 23


def new_patient(client, mrn="MRN-1", family="Rivera", **extra):
    resp = send(client, "POST", "/fhir/Patient", patient(mrn, family, **extra))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def ehr_patient(client):
    """Post a generated patient record as an interface engine would; returns (patient id, plan)."""
    plan, bundle, _ = make_patient(EHR_SEED, EHR_INDEX)
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    locations = [e["response"]["location"] for e in resp.get_json()["entry"]]
    return next(loc.split("/")[1] for loc in locations if loc.startswith("Patient/")), plan


def answers(patient_id, **extra):
    """A complete, valid conversation as the browser would post it."""
    data = {
        "patient_id": patient_id,
        "performed_start": "2026-01-05T10:00",
        "participants": ["patient", "family"],
        "permission": "agreed",
        "illness-understanding": ["knows-serious"],
        "illness-understanding-other": "My lungs are giving up",
        "prognosis-shared": "yes",
        "prognosis-framing": "time",
        "prognosis-comment": "Months rather than years.",
        "goals": "To be at home with my grandchildren",
        "fears-worries": "Choking",
        "recommendation": "Home hospice referral",
        "code-status": "dnr",
        "health-care-agent": "Maria Rivera (daughter)",
        "duration-minutes": "40",
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture(name="client")
def clinician_client(app, users):
    """A clinician's browser that also carries a bearer token, to post and read EHR data over /fhir.

    Modules import it to make it their ``client``.
    """
    http = bearer_client(app, "system/*.*")
    assert login(http, "clinician").status_code == 302
    return http


def sign(client, pid, when=None, **extra):
    """Sign a complete conversation through the form; returns the Procedure id."""
    if when is not None:
        extra["performed_start"] = when
    resp = client.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="sign", **extra))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return resp.headers["Location"].rsplit("/", 1)[-1]


XSS = "<script>alert('x')</script>"


def save(client, pid, **extra):
    """Save a draft conversation for ``pid`` through the form; returns the draft's id."""
    resp = client.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="save", **extra))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return resp.headers["Location"].rsplit("/", 1)[-1]


def text(resp):
    return resp.get_data(as_text=True)
