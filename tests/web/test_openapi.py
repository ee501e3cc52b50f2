"""The OpenAPI description at /api/openapi.json, checked against the app itself by schemathesis.

Every operation gets a bounded number of generated requests, sent with valid credentials (a QI
analyst's session cookie, an integration client's HTTP Basic secret), and every answer must be a
documented status, never a 5xx, and conform to the schema of that status.
"""

from __future__ import annotations

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from sicdoc.db import session_scope
from sicdoc.services import accounts
from tests.conftest import login

# schemathesis leaves out the operation that serves the description itself.
OPERATIONS = ("GET /api/metrics", "POST /auth/token", "GET /.well-known/smart-configuration")
EXAMPLES = 12
# Rules no JSON Schema can state (a cut-off in the future, 'from' after 'to', a scope the client was
# not granted) answer a documented 400 to a request the schema allows; the rest of the checks apply.
BEYOND_SCHEMA = [checks.positive_data_acceptance]


@pytest.fixture
def credentials(app, users):  # type: ignore[no-untyped-def]
    """The headers and cookies a logged-in analyst and a registered client send."""
    from sicdoc.views.guard import cookie_name

    browser = app.test_client()
    assert login(browser, "qi_analyst").status_code == 302
    with app.test_request_context():
        name = cookie_name()
    cookie = browser.get_cookie(name)
    assert cookie is not None
    with session_scope(app) as session:
        client_id, secret = accounts.create_client(
            session, "openapi check", "system/*.read", with_secret=True
        )
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"headers": {"Authorization": f"Basic {basic}"}, "cookies": {name: cookie.value}}


def test_the_description_covers_every_json_route_outside_fhir(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    described = {f"{method.upper()} {path}" for path, operations in paths.items() for method in operations}
    routes = {
        f"{method} {rule.rule}"
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("api", "oauth")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert described == routes == {*OPERATIONS, "GET /api/openapi.json"}


def test_the_description_is_public_and_names_how_to_authenticate(client):
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    description = answer.get_json()
    assert description["openapi"].startswith("3.")
    schemes = description["components"]["securitySchemes"]
    assert schemes["session"] == {
        **schemes["session"],
        "type": "apiKey",
        "in": "cookie",
        "name": "sicdoc_session",
    }
    assert schemes["clientSecretBasic"]["scheme"] == "basic"
    assert description["paths"]["/api/metrics"]["get"]["security"] == [{"session": []}]


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_operation_answers_as_described(app, credentials, label):  # type: ignore[no-untyped-def]
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", app).find_operation_by_label(label)
    assert operation is not None

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def answers_as_described(case):  # type: ignore[no-untyped-def]
        case.call_and_validate(
            headers=credentials["headers"], cookies=credentials["cookies"], excluded_checks=BEYOND_SCHEMA
        )

    answers_as_described()


def test_the_metrics_api_refuses_a_parameter_it_does_not_know(client, users):
    assert login(client, "qi_analyst").status_code == 302
    answer = client.get("/api/metrics?form=2024-01-01&cohort=stroke")
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "bad_request", "message": "form: is not a parameter of this report"}


def test_dates_at_the_ends_of_the_calendar_are_answered_not_a_server_error(client, users):
    assert login(client, "qi_analyst").status_code == 302
    assert client.get("/api/metrics?from=2025-01-01&to=9999-12-15").status_code == 200
    early = client.get("/api/metrics?as_of=0001-01-15")
    assert early.status_code == 400
    assert early.get_json()["message"] == "'as_of' 0001-01-15 is before 1900-01-01"
