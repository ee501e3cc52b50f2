"""Every route of the app, for every kind of caller, is decided by the one rule table (deny by default)."""

from urllib.parse import urlsplit

import pytest
from flask import url_for
from sqlalchemy import func, select

from sicdoc.models import AuditEvent
from sicdoc.security.rules import ANONYMOUS, RULES, Principal, decide
from tests.conftest import bearer_client, login

ARGS = {
    "resource_type": "Patient",
    "resource_id": "p1",
    "version_id": "1",
    "filename": "css/app.css",
    "username": "clinician",
    "client_id": "no-such-client",
    "patient_id": "p1",
    "draft_id": "1",
    "procedure_id": "c1",
    "board_id": "qi-overview",
    "panel_id": "overview",
}
FULL, NARROW = "system/*.*", "system/Device.read"
CALLERS = ("anonymous", "clinician", "qi_analyst", "admin", "client-with-scope", "client-without-scope")


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def _principal(caller):
    if caller == "anonymous":
        return ANONYMOUS
    if caller.startswith("client"):
        return Principal(
            "client", "c", "client", frozenset({FULL if caller == "client-with-scope" else NARROW})
        )
    return Principal("user", caller, caller)


def _denials(app):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        return s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "access", AuditEvent.outcome == "denied")
        )


def test_every_route_has_a_rule(app):
    missing = sorted({rule.endpoint for rule, _ in _routes(app)} - set(RULES))
    assert not missing, f"routes without an access rule (add them to sicdoc.security.rules.RULES): {missing}"


@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_gets_what_the_rule_table_says(app, users, caller):
    app.config["LOGIN_RATE_LIMIT"] = "10000/minute"
    tokens = {
        "client-with-scope": bearer_client(app, FULL),
        "client-without-scope": bearer_client(app, NARROW),
    }
    checked = 0
    for rule, method in _routes(app):
        with app.test_request_context():
            url = url_for(rule.endpoint, **{a: ARGS[a] for a in rule.arguments})
        if caller in tokens:
            http = tokens[caller]
        else:
            http = app.test_client()
            if caller != "anonymous":
                assert login(http, caller).status_code == 302
        expected = decide(RULES.get(rule.endpoint), _principal(caller), "Patient")
        before = _denials(app)
        resp = http.open(url, method=method)
        refused = _denials(app) == before + 1
        where = f"{caller} {method} {url} ({rule.endpoint})"
        assert refused is not expected.allowed, f"{where}: expected {expected}, got {resp.status_code}"
        if not expected.allowed:
            if expected.status == 401 and not url.startswith("/fhir"):
                location = urlsplit(resp.headers["Location"])
                assert resp.status_code == 302 and location.path == "/login", where
            else:
                assert resp.status_code == expected.status, where
            if url.startswith("/fhir"):
                assert resp.get_json()["resourceType"] == "OperationOutcome", where
        checked += 1
    assert checked >= len(RULES)


def test_a_route_without_a_rule_is_refused(app, users):
    app.add_url_rule("/unruled", "unruled", lambda: "should never run")
    http = app.test_client()
    login(http, "admin")
    resp = http.get("/unruled")
    assert resp.status_code == 403
    assert b"should never run" not in resp.data
