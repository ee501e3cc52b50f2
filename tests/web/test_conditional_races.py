"""Concurrent conditional creates and updates: ten identical requests at once leave one resource.

The identifiers used here are in no unique system, so only the serialised criteria can keep the
copies out: for types sicdoc projects (Patient, Condition, Observation) and one it does not
(Immunization), as plain POSTs with If-None-Exist, inside transactions and batches, and as
conditional updates (PUT Type?criteria), on SQLite and PostgreSQL, five trials each.
"""

import threading
import uuid

import pytest
from sqlalchemy import func, select, text

from sicdoc.models import Resource, ResourceVersion
from sicdoc.services.matching import lock_keys
from tests.conftest import client_token
from tests.web.fhir_helpers import send

THREADS = 10
TRIALS = 5
SYSTEM = "urn:example:race"  # not configured unique
LOCK = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS t(k)")


def resource_of(rtype: str, value: str) -> dict:
    ident = [{"system": SYSTEM, "value": value}]
    subject = {"reference": "Patient/race-subject"}
    code = {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    return {
        "Patient": {"resourceType": "Patient", "identifier": ident, "name": [{"family": "Race"}]},
        "Condition": {
            "resourceType": "Condition",
            "identifier": ident,
            "subject": subject,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "254637007"}]},
        },
        "Observation": {
            "resourceType": "Observation",
            "identifier": ident,
            "status": "final",
            "code": code,
            "subject": subject,
        },
        "Immunization": {
            "resourceType": "Immunization",
            "identifier": ident,
            "status": "completed",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
            "patient": subject,
            "occurrenceDateTime": "2025-10-01",
        },
    }[rtype]


def at_once(work, count: int = THREADS) -> list:
    """Run ``work(n)`` in ``count`` threads released together; their results in thread order."""
    results: list = [None] * count
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        results[n] = work(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def stored(app, rtype: str) -> tuple[int, int]:
    """(resources, versions) of ``rtype``."""
    with app.extensions["sicdoc.sessionmaker"]() as s:
        resources = s.scalar(
            select(func.count()).select_from(Resource).where(Resource.resource_type == rtype)
        )
        versions = s.scalar(
            select(func.count()).select_from(ResourceVersion).where(ResourceVersion.resource_type == rtype)
        )
    return resources, versions


@pytest.fixture
def clients(app):
    token = client_token(app, "system/*.*")
    made = []
    for _ in range(THREADS):
        http = app.test_client()
        http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        made.append(http)
    return made


TYPES = ("Patient", "Condition", "Observation", "Immunization")


@pytest.mark.parametrize("rtype", TYPES)
def test_concurrent_conditional_posts_leave_one_copy(app, clients, rtype):
    for trial in range(TRIALS):
        value = f"post-{trial}-{uuid.uuid4().hex[:8]}"
        body = resource_of(rtype, value)
        header = {"If-None-Exist": f"identifier={SYSTEM}|{value}"}

        def post(n: int, body: dict = body, header: dict = header) -> int:
            return send(clients[n], "POST", f"/fhir/{rtype}", body, header).status_code

        statuses = at_once(post)
        assert sorted(statuses) == [200] * (THREADS - 1) + [201], (trial, statuses)
        assert stored(app, rtype) == (trial + 1, trial + 1)


def bundle(kind: str, rtype: str, value: str, n: int, criteria: str | None = None) -> dict:
    request = {"method": "POST", "url": rtype, "ifNoneExist": criteria or f"identifier={SYSTEM}|{value}"}
    return {
        "resourceType": "Bundle",
        "type": kind,
        # A different identifier per thread: each bundle is new, so no receipt can answer for it.
        "identifier": {"system": "urn:example:bundles", "value": f"{value}-{n}"},
        "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": resource_of(rtype, value), "request": request}
        ],
    }


@pytest.mark.parametrize("kind", ["transaction", "batch"])
@pytest.mark.parametrize("rtype", TYPES)
def test_concurrent_conditional_creates_in_bundles_leave_one_copy(app, clients, rtype, kind):
    for trial in range(TRIALS):
        value = f"{kind}-{trial}-{uuid.uuid4().hex[:8]}"

        def post(n: int, value: str = value) -> tuple[int, str]:
            resp = send(clients[n], "POST", "/fhir", bundle(kind, rtype, value, n))
            return resp.status_code, resp.get_json()["entry"][0]["response"]["status"]

        results = at_once(post)
        assert {code for code, _ in results} == {200}, results
        assert sorted(status for _, status in results) == ["200 OK"] * (THREADS - 1) + ["201 Created"]
        assert stored(app, rtype) == (trial + 1, trial + 1)


def test_equivalent_criteria_spelled_differently_wait_for_each_other(app, clients):
    """Parameter order and percent-encoding do not matter: the criteria are normalised first."""
    spellings = [
        "identifier={s}|{v}&identifier={s}|{v}-b",
        "identifier={s}|{v}-b&identifier={s}|{v}",
        "identifier={s}%7C{v}&identifier={s}%7C{v}-b",
    ]
    for trial in range(TRIALS):
        value = f"spell-{trial}-{uuid.uuid4().hex[:8]}"
        body = resource_of("Observation", value)
        body["identifier"].append({"system": SYSTEM, "value": f"{value}-b"})

        def post(n: int, value: str = value, body: dict = body) -> int:
            criteria = spellings[n % len(spellings)].format(s=SYSTEM, v=value)
            return send(
                clients[n], "POST", "/fhir/Observation", body, {"If-None-Exist": criteria}
            ).status_code

        assert sorted(at_once(post)) == [200] * (THREADS - 1) + [201]
        assert stored(app, "Observation")[0] == trial + 1


@pytest.mark.parametrize("where", ["url", "transaction"])
@pytest.mark.parametrize("rtype", ["Condition", "Immunization"])
def test_concurrent_conditional_updates_leave_one_resource(app, clients, rtype, where):
    for trial in range(TRIALS):
        value = f"put-{trial}-{uuid.uuid4().hex[:8]}"
        url = f"{rtype}?identifier={SYSTEM}|{value}"

        def put(n: int, value: str = value, url: str = url) -> int:
            body = resource_of(rtype, value)
            if where == "url":
                return send(clients[n], "PUT", f"/fhir/{url}", body).status_code
            entry = {"resource": body, "request": {"method": "PUT", "url": url}}
            tx = {
                "resourceType": "Bundle",
                "type": "transaction",
                # A different identifier per thread: each bundle is new, so no receipt answers it.
                "identifier": {"system": "urn:example:bundles", "value": f"{value}-{n}"},
                "entry": [entry],
            }
            return send(clients[n], "POST", "/fhir", tx).status_code

        statuses = at_once(put)
        if where == "url":
            assert sorted(statuses) == [200] * (THREADS - 1) + [201], statuses
        else:
            assert statuses == [200] * THREADS, statuses
        assert stored(app, rtype) == (trial + 1, THREADS * (trial + 1))


def test_search_criteria_in_any_order_wait_for_each_other(app, clients):
    """Criteria other than identifiers serialise on their decoded, sorted parameters."""
    for trial in range(TRIALS):
        family = f"Racer{trial}{uuid.uuid4().hex[:6]}"
        body = {"resourceType": "Patient", "name": [{"family": family}], "birthDate": "1950-01-02"}
        spellings = [f"family={family}&birthdate=1950-01-02", f"birthdate=1950-01-02&family={family}"]

        def post(n: int, body: dict = body, spellings: list = spellings) -> int:
            header = {"If-None-Exist": spellings[n % 2]}
            return send(clients[n], "POST", "/fhir/Patient", body, header).status_code

        assert sorted(at_once(post)) == [200] * (THREADS - 1) + [201]
        assert stored(app, "Patient")[0] == trial + 1


def test_criteria_are_normalised_before_they_are_serialised():
    from sicdoc.services.matching import criteria_keys, lock_id

    assert criteria_keys("Patient", "identifier=a%7C1") == criteria_keys("Patient", "identifier=a|1")
    assert criteria_keys("Patient", "family=X&birthdate=1950") == criteria_keys(
        "Patient", "birthdate=1950&family=X"
    )
    both = criteria_keys("Patient", "identifier=a|1&identifier=b|2")
    assert set(criteria_keys("Patient", "identifier=a|1")) < set(both)  # shares a|1's lock
    assert criteria_keys("Patient", "identifier=a|1") != criteria_keys("Observation", "identifier=a|1")
    assert -(2**63) <= lock_id("Patient?x=\ud800") < 2**63


def _holding_lock(app, rtype: str, criteria: str):
    """A connection of another writer, holding the advisory lock of ``rtype?criteria`` as a bundle
    that could create it does until it commits (PostgreSQL)."""
    conn = app.extensions["sicdoc.engine"].connect()
    conn.begin()
    conn.execute(LOCK, {"keys": sorted(lock_keys([(rtype, criteria)]))})
    return conn


def _started(work) -> tuple[threading.Thread, list]:
    """``work()`` running in a thread; the list receives its result."""
    done: list = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    return thread, done


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_conditional_create_that_matches_waits_for_no_other_writer(app, clients):
    """Every bundle of a feed names the same Organization: a writer holding its criteria must not
    hold up the requests that find it, as a plain POST or in a transaction; a create that may
    happen still waits for the holder."""
    value, fresh = f"shared-{uuid.uuid4().hex[:8]}", f"fresh-{uuid.uuid4().hex[:8]}"
    criteria = f"identifier={SYSTEM}|{value}"
    assert (
        send(clients[0], "POST", "/fhir/Immunization", resource_of("Immunization", value)).status_code == 201
    )
    holders = [_holding_lock(app, "Immunization", f"identifier={SYSTEM}|{v}") for v in (value, fresh)]
    try:
        post, posted = _started(
            lambda: send(
                clients[1],
                "POST",
                "/fhir/Immunization",
                resource_of("Immunization", value),
                {"If-None-Exist": criteria},
            )
        )
        in_bundle, bundled = _started(
            lambda: send(clients[2], "POST", "/fhir", bundle("transaction", "Immunization", value, 2))
        )
        creating, created = _started(
            lambda: send(clients[3], "POST", "/fhir", bundle("transaction", "Immunization", fresh, 3))
        )
        post.join(10)
        in_bundle.join(10)
        assert [r.status_code for r in posted] == [200]
        assert [r.get_json()["entry"][0]["response"]["status"] for r in bundled] == ["200 OK"]
        creating.join(1)
        assert created == []  # it may create: it waits for the holder of its criteria
    finally:
        for holder in holders:
            holder.rollback()
            holder.close()
    creating.join(10)
    assert [r.get_json()["entry"][0]["response"]["status"] for r in created] == ["201 Created"]
    assert stored(app, "Immunization") == (2, 2)
