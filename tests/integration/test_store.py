"""The versioned store: versions, history, soft delete, identifiers, indexes and projections."""

import re
import uuid
from datetime import date

import pytest
from sqlalchemy import func, select

from sicdoc.errors import Conflict, Gone, NotFound, PreconditionFailed
from sicdoc.models import (
    BusinessIdentifier,
    DiagnosisFact,
    PatientFact,
    Resource,
    ResourceVersion,
    TokenIndex,
)
from sicdoc.services.bundles import process_transaction
from sicdoc.services.unit import system_unit
from sicdoc.store import history, read, reads, vread
from tests.conftest import load_json, synthea_bundles

PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"}],
    "name": [{"family": "Okafor", "given": ["Grace"]}],
    "gender": "female",
    "birthDate": "1948-02-03",
}


def test_versions_are_kept_in_history(session, store):
    with session.begin():
        first = store.create(session, dict(PATIENT))
    assert first.version_id == 1
    assert first.content["meta"]["versionId"] == "1"
    for n in (2, 3):
        with session.begin():
            changed = dict(PATIENT, birthDate=f"1948-02-0{n}")
            stored = store.update(session, changed, first.id, if_match=n - 1)
        assert stored.version_id == n
    assert read(session, "Patient", first.id).content["birthDate"] == "1948-02-03"
    assert [v.version_id for v in history(session, "Patient", first.id)] == [3, 2, 1]
    assert vread(session, "Patient", first.id, 1).content["birthDate"] == "1948-02-03"
    assert vread(session, "Patient", first.id, 2).content["birthDate"] == "1948-02-02"
    fact = session.get(PatientFact, first.id)
    assert fact.birth_date == date(1948, 2, 3)


def test_a_body_is_stored_once_and_every_version_still_reads_whole(session, store):
    """The current version's body is in the resource row only; a version's history row gets its body
    when a later version replaces it, and a deletion's has none."""
    with session.begin():
        first = store.create(session, dict(PATIENT))
    with session.begin():
        store.update(session, dict(PATIENT, birthDate="1948-02-02"), first.id)
    with session.begin():
        store.delete(session, "Patient", first.id)
    with session.begin():
        store.update(session, dict(PATIENT, birthDate="1948-02-04"), first.id)
    kept = session.execute(
        select(ResourceVersion.version_id, ResourceVersion.content)
        .where(ResourceVersion.id == first.id)
        .order_by(ResourceVersion.version_id)
    ).all()
    births = [(v, content and content["birthDate"]) for v, content in kept]
    assert births == [(1, "1948-02-03"), (2, "1948-02-02"), (3, None), (4, None)]
    assert session.get(Resource, ("Patient", first.id)).content["birthDate"] == "1948-02-04"

    expected = [(4, "1948-02-04"), (3, None), (2, "1948-02-02"), (1, "1948-02-03")]
    whole = [
        (v.version_id, v.content and v.content["birthDate"]) for v in history(session, "Patient", first.id)
    ]
    assert whole == expected
    paged, _ = reads.history_page(session, "Patient", None, since=None, count=10, cursor=None)
    assert [(v.version_id, v.content and v.content["birthDate"]) for v in paged] == expected
    assert vread(session, "Patient", first.id, 4).content["meta"]["versionId"] == "4"
    assert vread(session, "Patient", first.id, 2).content["birthDate"] == "1948-02-02"


def test_a_version_replaced_between_reading_its_row_and_its_body_still_reads_whole(session, store):
    """Read committed: a history row read with no body, then a write replacing that version commits,
    and the resource row has moved on by the time the body is read from it."""
    with session.begin():
        first = store.create(session, dict(PATIENT))
    with session.begin():
        row = session.get(ResourceVersion, ("Patient", first.id, 1))
        assert row.content is None
        session.expunge(row)  # as read a moment before the write below
    with session.begin():
        store.update(session, dict(PATIENT, gender="male"), first.id)
    with session.begin():
        [version] = reads._versions(session, [row])
    assert (version.version_id, version.content["gender"]) == (1, "female")


def test_stale_version_is_refused_and_changes_nothing(session, store):
    with session.begin():
        first = store.create(session, dict(PATIENT))
    with pytest.raises(PreconditionFailed), session.begin():
        store.update(session, dict(PATIENT, gender="male"), first.id, if_match=7)
    assert read(session, "Patient", first.id).content["gender"] == "female"
    assert session.scalar(select(func.count()).select_from(ResourceVersion)) == 1


def test_soft_delete_keeps_history_and_reads_gone(session, store):
    with session.begin():
        first = store.create(session, dict(PATIENT))
    with session.begin():
        store.delete(session, "Patient", first.id)
    with pytest.raises(Gone):
        read(session, "Patient", first.id)
    assert [v.deleted for v in history(session, "Patient", first.id)] == [True, False]
    assert session.get(PatientFact, first.id) is None
    assert session.scalar(select(func.count()).select_from(BusinessIdentifier)) == 0
    with pytest.raises(NotFound):
        read(session, "Patient", "no-such-id")


def test_business_identifier_is_unique(session, store):
    """In a system configured unique (the sample MRN system is, by default)."""
    mrn = dict(PATIENT, identifier=[{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}])
    with session.begin():
        store.create(session, dict(mrn))
    with pytest.raises(Conflict), session.begin():
        store.create(session, dict(mrn))
    assert session.scalar(select(func.count()).select_from(Resource)) == 1


def test_index_rows_follow_the_current_version(session, store):
    with session.begin():
        first = store.create(session, dict(PATIENT))
    with session.begin():
        store.update(session, dict(PATIENT, gender="male"), first.id)
    genders = session.scalars(
        select(TokenIndex.code).where(TokenIndex.resource_id == first.id, TokenIndex.param == "gender")
    ).all()
    assert genders == ["male"]


COHORTS_BY_FILE = {
    "Austin_Franecki": {"cancer"},
    "Bambi_Murray": {"cancer"},
    "Barry_Wolf": {"heart_failure"},
    "Adan_Portillo": {"stroke"},
    "Clorinda_Wilkinson": {"heart_failure", "stroke"},
    "Erin_Kessler": set(),
}


@pytest.mark.slow
def test_synthea_bundles_land_in_the_right_cohorts(session, store):
    for path in synthea_bundles():
        bundle = load_json(path)
        entries = process_transaction(system_unit(session, store), bundle).response["entry"]
        assert len(entries) == len(bundle["entry"])
        assert all(e["response"]["status"] == "201 Created" for e in entries)
        patient_id = next(
            e["response"]["location"].split("/")[1]
            for e in entries
            if e["response"]["location"].startswith("Patient/")
        )
        cohorts = set(
            session.scalars(select(DiagnosisFact.cohort).where(DiagnosisFact.patient_id == patient_id)).all()
        )
        prefix = path.name.rsplit("_", 1)[0]
        assert cohorts == COHORTS_BY_FILE[prefix], prefix
        counts = {}
        for entry in bundle["entry"]:
            counts[entry["resource"]["resourceType"]] = counts.get(entry["resource"]["resourceType"], 0) + 1
        # urn:uuid references were rewritten: every Condition of this bundle points at the stored patient.
        conditions = session.scalars(
            select(Resource.content).where(Resource.resource_type == "Condition")
        ).all()
        assert all(not c["subject"]["reference"].startswith("urn:") for c in conditions)
    deceased = session.scalar(
        select(func.count()).select_from(PatientFact).where(PatientFact.deceased_date.is_not(None))
    )
    assert deceased == 4


def test_new_ids_follow_the_order_resources_were_made(session, store):
    # Server-assigned ids lead with their creation time, so a bulk load appends to the id indexes
    # instead of writing to a random page of each; they stay valid FHIR ids and never repeat.
    with session.begin():
        made = [store.create(session, dict(PATIENT, identifier=[])).id for _ in range(300)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", resource_id) for resource_id in made)
    assert {uuid.UUID(resource_id).version for resource_id in made} == {7}
