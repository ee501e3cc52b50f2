"""Real EHR-shaped records: every Synthea bundle loads through POST /fhir, and again changes nothing."""

import json
from collections import Counter

import pytest
from sqlalchemy import func, select

from sicdoc.models import Resource
from tests.conftest import synthea_bundles
from tests.web.fhir_helpers import send, table_counts


@pytest.fixture
def client(fhir_client):
    """Every request in this module carries a bearer token with every FHIR scope."""
    return fhir_client


@pytest.mark.slow
def test_synthea_bundles_load_through_the_api_and_reload_changes_nothing(app, client):
    expected: Counter[str] = Counter()
    for path in synthea_bundles():
        bundle = json.loads(path.read_text())
        expected.update(e["resource"]["resourceType"] for e in bundle["entry"])
        resp = send(client, "POST", "/fhir", bundle)
        assert resp.status_code == 200, resp.get_json()
        statuses = {e["response"]["status"] for e in resp.get_json()["entry"]}
        assert statuses == {"201 Created"}
    with app.extensions["sicdoc.sessionmaker"]() as s:
        stored = Counter(
            dict(
                s.execute(select(Resource.resource_type, func.count()).group_by(Resource.resource_type)).all()
            )
        )
    assert stored == expected
    before = table_counts(app)
    for path in synthea_bundles():
        again = send(client, "POST", "/fhir", json.loads(path.read_text()))
        assert again.status_code == 200
    assert table_counts(app) == before
