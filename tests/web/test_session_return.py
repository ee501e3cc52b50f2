"""An expired session sends a clinician to the login page with the reason, then back to the page they were on."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import PASSWORD, bearer_client, login
from tests.web.forms_helpers import answers, new_patient

COOKIE = "sicdoc_session"


@pytest.fixture
def clinician(app, users):
    http = bearer_client(app, "system/*.*")
    assert login(http, "clinician").status_code == 302
    return http


def _expire(app, http):
    """End the session on the server, as the idle timeout or a logout elsewhere would."""
    from sicdoc.db import session_scope
    from sicdoc.services import accounts

    with session_scope(app) as s:
        accounts.forget_session(s, http.get_cookie(COOKIE).value)


def _login_target(resp):
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    return parse_qs(location.query)


def test_signing_after_the_session_expired_returns_to_the_form_with_the_reason(app, clinician):
    pid = new_patient(clinician)
    _expire(app, clinician)
    resp = clinician.post(f"/patients/{pid}/conversations/new", data=answers(pid, action="sign"))
    query = _login_target(resp)
    assert query == {"next": [f"/patients/{pid}/conversations/new"], "reason": ["expired"]}

    page = clinician.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Your session has ended" in page
    assert f'name="next" value="/patients/{pid}/conversations/new"' in page

    back = clinician.post("/login", data={"username": "clinician", "password": PASSWORD, **query})
    assert back.status_code == 302 and back.headers["Location"] == f"/patients/{pid}/conversations/new"
    assert clinician.get(back.headers["Location"]).status_code == 200
    history = clinician.get(f"/fhir/Procedure?patient={pid}").get_json()
    assert history["total"] == 0  # the post that met the expired session stored nothing


def test_a_page_opened_without_a_session_says_to_log_in_and_keeps_the_query(app, users):
    http = app.test_client()
    query = _login_target(http.get("/patients?q=Rivera"))
    assert query == {"next": ["/patients?q=Rivera"]}  # no cookie: not an expiry
    page = http.get("/login?next=/patients%3Fq%3DRivera").get_data(as_text=True)
    assert "Log in to open that page" in page and "Your session has ended" not in page
    back = http.post(
        "/login", data={"username": "clinician", "password": PASSWORD, "next": "/patients?q=Rivera"}
    )
    assert back.headers["Location"] == "/patients?q=Rivera"


def test_a_referral_post_returns_to_the_patient_page_it_came_from(app, clinician):
    pid = new_patient(clinician)
    _expire(app, clinician)
    resp = clinician.post(
        f"/patients/{pid}/referrals",
        data={"reason": "Pain", "authored_on": "2026-01-02"},
        headers={"Referer": f"http://localhost/patients/{pid}"},
    )
    assert _login_target(resp)["next"] == [f"/patients/{pid}"]


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/logout",  # a post-only URL is no page to come back to
        "/login",
        "/no/such/page",
        "javascript:alert(1)",
        "/patients\r\nSet-Cookie: x=1",
    ],
)
def test_next_never_leaves_the_site_or_lands_on_an_action(app, users, target):
    http = app.test_client()
    page = http.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert 'name="next"' not in page
    back = http.post("/login", data={"username": "clinician", "password": PASSWORD, "next": target})
    assert back.status_code == 302 and back.headers["Location"] == "/"
