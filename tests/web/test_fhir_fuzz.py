"""Generated bodies and headers thrown at the write endpoints: never a 5xx, and a refusal changes nothing."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from sicdoc.models import Base
from tests.conftest import AUDIT_TABLES
from tests.web.fhir_helpers import patient

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)

VALID_PATIENT = patient("FZ-1")
VALID_BUNDLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": "urn:uuid:6f1e4c2a-1b7d-4c1e-9a57-3d6f0c9a1f00",
            "resource": patient("FZ-2"),
            "request": {"method": "POST", "url": "Patient"},
        }
    ],
}
FIELD_NAMES = [
    "resourceType",
    "type",
    "entry",
    "gender",
    "birthDate",
    "name",
    "id",
    "request",
    "resource",
    "x",
]


@pytest.fixture
def client(fhir_client):
    """Every request in this module carries a bearer token with every FHIR scope."""
    return fhir_client


@st.composite
def mutated(draw, base):
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while isinstance(node, dict | list) and draw(st.booleans()):
            keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            child = node[draw(st.sampled_from(keys))]
            if not isinstance(child, dict | list):
                break
            node = child
        if isinstance(node, dict):
            node[draw(st.sampled_from(FIELD_NAMES))] = draw(json_values)
        elif isinstance(node, list):
            node.append(draw(json_values))
    return doc


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated(VALID_PATIENT).map(lambda v: json.dumps(v).encode()),
    mutated(VALID_BUNDLE).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"[" * 3000 + b"]" * 3000, b'{"a": NaN}', b'{"a":1,"a":2}', b"\xff\xfe\x00"]),
)
headers = st.fixed_dictionaries(
    {"Content-Type": st.sampled_from(["application/fhir+json", "application/json", "text/plain", "", "x/y"])},
    optional={
        "If-Match": st.sampled_from(['W/"1"', "1", "garbage", 'W/"999999999999"', ""]),
        "If-None-Exist": st.sampled_from(["identifier=urn:oid:1.2.3|FZ-1", "family=x", "bogus", "", "=|"]),
        "Prefer": st.sampled_from(["return=minimal", "return=OperationOutcome", "handling=strict", "x"]),
    },
)
targets = st.sampled_from(
    [
        ("POST", "/fhir"),
        ("POST", "/fhir/Patient"),
        ("POST", "/fhir/Observation"),
        ("PUT", "/fhir/Patient/fz-fixed"),
        ("PUT", "/fhir/Patient?identifier=urn:oid:1.2.3|FZ-3"),
        ("POST", "/fhir/Patient/_search"),
    ]
)


def snapshot(app) -> tuple:
    # The audit log records refused attempts too; every other table must stay as it was.
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in AUDIT_TABLES]
    query = "SELECT " + ", ".join(f"(SELECT count(*) FROM {name})" for name in tables)
    with app.extensions["sicdoc.engine"].connect() as conn:
        return tuple(conn.execute(text(query)).one())


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(target=targets, body=bodies, head=headers)
def test_no_5xx_and_refusals_change_nothing(app, client, target, body, head):
    method, path = target
    before = snapshot(app)
    resp = client.open(path, method=method, data=body, headers=head)
    assert resp.status_code < 500, (resp.status_code, resp.get_data()[:300])
    if resp.status_code >= 400:
        assert resp.mimetype == "application/fhir+json"
        assert resp.get_json()["resourceType"] == "OperationOutcome"
        assert snapshot(app) == before
