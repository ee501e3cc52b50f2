"""Identifiers are unique only in the systems a site configures (SICDOC_UNIQUE_IDENTIFIER_SYSTEMS).

FHIR does not make identifiers unique and real registries hold duplicates (a mother and her newborn
sharing an SSN, records awaiting a merge), so every other identifier is stored and searchable but
may repeat. The configured systems (by default the sample MRN system and sicdoc's own) stay unique
per resource type, which is what makes plain re-posts of sicdoc's own records safe.
"""

import json

import pytest

from sicdoc import codes
from sicdoc.config import unique_identifier_systems
from sicdoc.errors import DuplicateIdentifier
from sicdoc.store import find_by_identifier, identifier_matches
from tests.web.fhir_helpers import send, table_counts

SSN = "http://hl7.org/fhir/sid/us-ssn"

# The shape of the official R4 example Patient-mom: her SSN is also recorded on another Patient.
MOM = {
    "resourceType": "Patient",
    "identifier": [
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}]},
            "system": SSN,
            "value": "444222222",
        }
    ],
    "active": True,
    "name": [{"use": "official", "family": "Everywoman", "given": ["Eve"]}],
    "telecom": [{"system": "phone", "value": "555-555-2003", "use": "work"}],
    "gender": "female",
    "birthDate": "1973-05-31",
}
OTHER = {
    "resourceType": "Patient",
    "identifier": [{"system": SSN, "value": "444222222"}],
    "name": [{"family": "Everywoman", "given": ["Eve", "Anne"]}],
    "gender": "female",
    "birthDate": "1973-05-31",
}


def mrn_patient(value: str, system: str = codes.MRN_SYSTEM) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": system, "value": value}],
        "name": [{"family": "Unique"}],
    }


@pytest.fixture
def client(fhir_client):
    return fhir_client


def test_two_patients_sharing_an_ssn_are_both_stored_and_found(client, app):
    first = send(client, "POST", "/fhir/Patient", OTHER)
    mom = send(client, "POST", "/fhir/Patient", MOM)
    assert (first.status_code, mom.status_code) == (201, 201), mom.get_json()
    found = send(client, "GET", f"/fhir/Patient?identifier={SSN}|444222222").get_json()
    assert found["total"] == 2
    assert {e["resource"]["id"] for e in found["entry"]} == {first.get_json()["id"], mom.get_json()["id"]}
    # A conditional create on the shared SSN cannot tell which one is meant: 412, nothing stored.
    before = table_counts(app)
    again = send(client, "POST", "/fhir/Patient", MOM, {"If-None-Exist": f"identifier={SSN}|444222222"})
    assert again.status_code == 412
    assert table_counts(app) == before


def test_shared_ssns_in_one_transaction_are_stored(client, app):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "POST", "url": "Patient"}} for r in (MOM, OTHER)],
    }
    resp = send(client, "POST", "/fhir", bundle)
    assert resp.status_code == 200, resp.get_json()
    assert table_counts(app)["resource"] == 2
    assert table_counts(app)["business_identifier"] == 0  # SSN is in no unique system


def test_a_configured_system_stays_unique_per_type(client, app):
    assert send(client, "POST", "/fhir/Patient", mrn_patient("U-1")).status_code == 201
    before = table_counts(app)
    taken = send(client, "POST", "/fhir/Patient", mrn_patient("U-1"))
    assert taken.status_code == 409
    assert "If-None-Exist" in taken.get_json()["issue"][0]["diagnostics"]
    assert table_counts(app) == before
    # The same system|value on another type is another identifier.
    person = {**mrn_patient("U-1"), "resourceType": "RelatedPerson", "patient": {"reference": "Patient/x"}}
    assert send(client, "POST", "/fhir/RelatedPerson", person).status_code == 201


def test_every_sicdoc_system_is_unique_by_default(app, store, session):
    systems = store.unique_systems
    assert codes.MRN_SYSTEM in systems
    for name in ("conversation", "referral", "clinician", "encounter", "condition", "service-request"):
        assert f"{codes.CANONICAL_BASE}/sid/{name}" in systems
    assert SSN not in systems
    condition = {
        "resourceType": "Condition",
        "identifier": [{"system": f"{codes.CANONICAL_BASE}/sid/condition", "value": "dx-1"}],
        "subject": {"reference": "Patient/x"},
    }
    with session.begin():
        store.create(session, dict(condition))
    with pytest.raises(DuplicateIdentifier), session.begin():
        store.create(session, dict(condition))


def test_deleting_frees_a_unique_identifier(client):
    made = send(client, "POST", "/fhir/Patient", mrn_patient("D-1")).get_json()
    assert send(client, "DELETE", f"/fhir/Patient/{made['id']}").status_code in (200, 204)
    assert send(client, "POST", "/fhir/Patient", mrn_patient("D-1")).status_code == 201


def test_a_site_names_its_own_unique_systems(database_url):
    from sicdoc.app import create_app

    site = "urn:example:hospital-mrn"
    app = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "UNIQUE_IDENTIFIER_SYSTEMS": f"  {site}\n{SSN} "}
    )
    try:
        from tests.conftest import bearer_client

        http = bearer_client(app, "system/*.*")
        assert app.extensions["sicdoc.store"].unique_systems == {site, SSN}
        assert send(http, "POST", "/fhir/Patient", mrn_patient("S-1", site)).status_code == 201
        assert send(http, "POST", "/fhir/Patient", mrn_patient("S-1", site)).status_code == 409
        assert send(http, "POST", "/fhir/Patient", MOM).status_code == 201
        assert send(http, "POST", "/fhir/Patient", OTHER).status_code == 409
        # The sample MRN system is no longer unique at this site.
        assert send(http, "POST", "/fhir/Patient", mrn_patient("S-2")).status_code == 201
        assert send(http, "POST", "/fhir/Patient", mrn_patient("S-2")).status_code == 201
    finally:
        app.extensions["sicdoc.engine"].dispose()


def test_the_setting_is_space_separated():
    assert unique_identifier_systems(" a  b\nc\t") == frozenset({"a", "b", "c"})
    assert unique_identifier_systems("") == frozenset()
    assert unique_identifier_systems(None) == frozenset()
    assert unique_identifier_systems(["a", "b"]) == frozenset({"a", "b"})
    with pytest.raises(RuntimeError):
        unique_identifier_systems("x" * 256)


def test_conditional_create_finds_types_sicdoc_does_not_index(client, app):
    """Identifier criteria work for every type, also those without declared search parameters."""
    shot = {
        "resourceType": "Immunization",
        "identifier": [{"system": "urn:example:shots", "value": "I-1"}],
        "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
        "patient": {"reference": "Patient/x"},
        "occurrenceDateTime": "2025-10-01",
    }
    header = {"If-None-Exist": "identifier=urn:example:shots|I-1"}
    first = send(client, "POST", "/fhir/Immunization", shot, header)
    second = send(client, "POST", "/fhir/Immunization", shot, header)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.get_json()["id"] == first.get_json()["id"]
    with app.extensions["sicdoc.sessionmaker"]() as s:
        pair = ("urn:example:shots", "I-1")
        assert find_by_identifier(s, "Immunization", [pair]) == first.get_json()["id"]
        assert identifier_matches(s, "Immunization", [pair]) == {pair: [first.get_json()["id"]]}


def test_reposting_a_bundle_with_shared_identifiers_changes_nothing(client, app):
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": r, "request": {"method": "POST", "url": "Patient"}} for r in (MOM, OTHER)],
    }
    first = send(client, "POST", "/fhir", bundle)
    after = table_counts(app)
    second = send(client, "POST", "/fhir", bundle)
    assert second.get_json() == first.get_json()
    assert table_counts(app) == after


def test_migration_0008_indexes_identifiers_of_every_type(database_url):
    """Upgrading a database written under 0007: the other types' identifiers become findable, and
    the configured systems gain their unique rows (the lowest id keeps a shared one)."""
    from alembic import command
    from sqlalchemy import text

    from sicdoc.db import make_engine
    from sicdoc.migrate import alembic_config

    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0007")
    engine = make_engine(database_url)
    try:
        shot = {"resourceType": "Immunization", "identifier": [{"system": "urn:shots", "value": "M-1"}]}
        dx = {
            "resourceType": "Condition",
            "identifier": [{"system": f"{codes.CANONICAL_BASE}/sid/condition", "value": "dx-9"}],
        }
        rows = [("Immunization", "imm-1", shot), ("Condition", "dx-a", dx), ("Condition", "dx-b", dx)]
        with engine.begin() as conn:
            for rtype, rid, content in rows:
                conn.execute(
                    text(
                        "INSERT INTO resource (resource_type, id, version_id, last_updated, deleted, content) "
                        "VALUES (:t, :i, 1, CURRENT_TIMESTAMP, false, :c)"
                    ),
                    {"t": rtype, "i": rid, "c": json.dumps(content)},
                )
            for rid in ("dx-a", "dx-b"):  # 0007 indexed Condition identifiers, without unique rows
                conn.execute(
                    text(
                        "INSERT INTO search_token (resource_type, resource_id, param, system, code) "
                        "VALUES ('Condition', :i, 'identifier', :s, 'dx-9')"
                    ),
                    {"i": rid, "s": f"{codes.CANONICAL_BASE}/sid/condition"},
                )
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert identifier_matches(conn, "Immunization", [("urn:shots", "M-1")]) == {
                ("urn:shots", "M-1"): ["imm-1"]
            }
            unique = conn.execute(
                text("SELECT resource_type, value, resource_id FROM business_identifier")
            ).all()
            assert [tuple(r) for r in unique] == [("Condition", "dx-9", "dx-a")]
    finally:
        engine.dispose()


def test_a_conditional_reference_to_a_shared_identifier_is_412(client, app):
    send(client, "POST", "/fhir/Patient", MOM)
    send(client, "POST", "/fhir/Patient", OTHER)
    before = table_counts(app)
    note = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "note"},
        "subject": {"reference": f"Patient?identifier={SSN}|444222222"},
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": note, "request": {"method": "POST", "url": "Observation"}}],
    }
    assert send(client, "POST", "/fhir", bundle).status_code == 412
    assert table_counts(app) == before
