"""Two app instances on one database behave as one service: data, sessions, roles and rate limits."""

import pytest

from sicdoc.app import create_app
from tests.conftest import PASSWORD, bearer_client, login
from tests.web.fhir_helpers import patient, send, stroke

COOKIE = "sicdoc_session"
POST_PATIENT = {"method": "POST", "url": "Patient"}


@pytest.fixture
def servers(database_url, users):
    """A second server beside the ``app`` fixture's, with the same settings and database."""
    settings = {"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False}
    apps = [create_app({**settings, "LOGIN_RATE_LIMIT": "3/minute"}) for _ in range(2)]
    yield apps
    for app in apps:
        app.extensions["sicdoc.engine"].dispose()


def _same_login(first, second, username="clinician"):
    """Log in on the first server and carry the cookie to the second, as a load balancer would."""
    a, b = first.test_client(), second.test_client()
    assert login(a, username).status_code == 302
    b.set_cookie(COOKIE, a.get_cookie(COOKIE).value)
    return a, b


def test_a_write_through_one_is_on_the_others_worklist_at_once(servers):
    first, second = servers
    _, b = _same_login(first, second)
    assert "Nobody is due" in b.get("/worklist").get_data(as_text=True)  # builds the second's cache
    feed = bearer_client(first, "system/*.*")
    pid = send(feed, "POST", "/fhir/Patient", patient("MRN-TWO", "Brennan")).get_json()["id"]
    assert send(feed, "POST", "/fhir/Condition", stroke(pid)).status_code == 201
    assert f"/patients/{pid}" in b.get("/worklist").get_data(as_text=True)


def test_a_write_through_one_is_in_the_others_dashboard_figures(servers):
    first, second = servers
    scope = "as_of=2025-06-30&from=2025-01-01&to=2025-06-30&cohort=stroke"
    analyst = second.test_client()
    assert login(analyst, "qi_analyst").status_code == 302
    before = analyst.get(f"/api/metrics?{scope}").get_json()["cohorts"]["stroke"]["index_patients"]
    assert analyst.get(f"/dashboards/?{scope}").status_code == 200  # the second's view, built
    # Eleven: fewer would be suppressed in the figures a QI analyst sees.
    entries = []
    for n in range(11):
        ref = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        entries.append({"fullUrl": ref, "resource": patient(f"MRN-DASH-{n}"), "request": POST_PATIENT})
        condition = {**stroke("x"), "subject": {"reference": ref}}
        entries.append({"resource": condition, "request": {"method": "POST", "url": "Condition"}})
    feed = bearer_client(first, "system/*.*")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    assert send(feed, "POST", "/fhir", bundle).status_code == 200
    after = analyst.get(f"/api/metrics?{scope}").get_json()["cohorts"]["stroke"]["index_patients"]
    assert (before, after) == (0, 11)
    # The page shows its last figures marked as old while it rebuilds, then the new ones.
    analyst.get(f"/dashboards/?{scope}")
    second.extensions["sicdoc.analytics"].wait_for_refreshes()
    assert "data-stale" not in analyst.get(f"/dashboards/?{scope}").get_data(as_text=True)


def test_a_logout_on_one_ends_the_session_on_both(servers):
    first, second = servers
    a, b = _same_login(first, second)
    assert b.get("/").status_code == 200
    assert a.post("/logout").status_code == 302
    assert b.get("/").status_code == 302


def test_a_role_change_on_one_ends_the_session_on_the_other(servers):
    first, second = servers
    admin = first.test_client()
    assert login(admin, "admin").status_code == 302
    _, b = _same_login(first, second)
    assert b.get("/worklist").status_code == 200
    assert admin.post("/admin/users/clinician/role", data={"role": "qi_analyst"}).status_code == 302
    assert b.get("/worklist").status_code == 302  # the session ended; a new login gets the new role


def test_log_in_attempts_are_counted_across_both(servers):
    first, second = servers
    a, b = first.test_client(), second.test_client()
    assert login(a, "clinician", "wrong password!!").status_code == 401
    assert login(b, "clinician", "wrong password!!").status_code == 401
    assert login(a, "clinician", "wrong password!!").status_code == 401
    assert login(b, "clinician", PASSWORD).status_code == 429  # the fourth in a minute, on either server
