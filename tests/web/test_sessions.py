"""Logging in and out: server-side sessions, rotation, timeouts, revocation, rate limits, CSRF and headers."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select

from sicdoc.db import session_scope
from sicdoc.fhir.dates import as_utc
from sicdoc.locking import WRITE_OPTION
from sicdoc.models import AuditEvent, User, UserSession
from sicdoc.services import accounts
from sicdoc.views.auth import clock_time
from tests.conftest import PASSWORD, login

COOKIE = "sicdoc_session"  # the name when cookies are not Secure (tests and demo); "__Host-sicdoc" otherwise


def _cookie(http):
    cookie = http.get_cookie(COOKIE)
    return cookie.value if cookie else None


def _audit(app, **where):
    with app.extensions["sicdoc.sessionmaker"]() as s:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return s.scalars(query).all()


def test_login_sets_an_httponly_samesite_cookie_with_a_random_id(app, users, client):
    resp = login(client, "clinician")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/")
    set_cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    raw = _cookie(client)
    with app.extensions["sicdoc.sessionmaker"]() as s:
        stored = s.scalars(select(UserSession.id_hash)).all()
    assert len(raw) >= 40 and raw not in stored  # only a digest is stored
    assert client.get("/").status_code == 200
    [event] = _audit(app, action="login")
    assert (event.actor_id, event.actor_role, event.outcome) == ("clinician", "clinician", "success")


def test_cookies_are_secure_by_default(database_url):
    from sicdoc.app import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "k" * 32,
            "AUDIT_KEY": "a" * 32,
            "BASE_URL": "https://localhost",
            "WTF_CSRF_ENABLED": False,
        }
    )
    with session_scope(app) as s:
        accounts.create_user(s, "nurse", PASSWORD, "clinician")
    http = app.test_client()
    resp = http.post("/login", data={"username": "nurse", "password": PASSWORD}, base_url="https://localhost")
    cookies = resp.headers.getlist("Set-Cookie")
    [session_cookie] = [c for c in cookies if c.startswith("__Host-sicdoc=")]
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie and "Path=/" in session_cookie
    assert all("Secure" in c for c in cookies)
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    app.extensions["sicdoc.engine"].dispose()


def test_session_id_rotates_at_login_and_the_old_one_dies(app, users, client):
    login(client, "clinician")
    first = _cookie(client)
    login(client, "clinician")
    second = _cookie(client)
    assert first != second
    replay = app.test_client()
    replay.set_cookie(COOKIE, first)
    assert replay.get("/").status_code == 302


def test_a_cookie_replayed_after_logout_is_refused(app, users, client):
    login(client, "admin")
    copied = _cookie(client)
    assert client.get("/admin/audit").status_code == 200
    resp = client.post("/logout")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    replay = app.test_client()
    replay.set_cookie(COOKIE, copied)
    resp = replay.get("/admin/audit")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?")
    assert [e.outcome for e in _audit(app, action="logout")] == ["success"]


def test_idle_timeout_and_absolute_lifetime(app, users, client, monkeypatch):
    login(client, "clinician")
    start = datetime.now(UTC)
    monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(minutes=14))
    assert client.get("/").status_code == 200  # activity keeps it alive
    monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(minutes=14 + 16))
    assert client.get("/").status_code == 302  # idle for more than 15 minutes
    monkeypatch.undo()
    app.config["SESSION_IDLE_MINUTES"] = 24 * 60
    login(client, "clinician")
    start = datetime.now(UTC)
    monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(hours=11, minutes=59))
    assert client.get("/").status_code == 200
    monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(hours=12, minutes=1))
    assert client.get("/").status_code == 302  # absolute lifetime


def test_a_page_only_reads_its_login_and_touches_it_at_most_once_a_minute(app, users, client, monkeypatch):
    """On SQLite a write waits behind any other writer: a page that reads no patient data must not
    take the write lock just to note that its login is still in use."""
    login(client, "admin")
    engine = app.extensions["sicdoc.engine"]
    begins: list[bool] = []

    def on_begin(conn):
        begins.append(bool(conn.get_execution_options().get(WRITE_OPTION, False)))

    def seen():
        with session_scope(app) as s:
            return s.scalar(select(UserSession.last_seen).where(UserSession.revoked.is_(False)))

    start, first = datetime.now(UTC), seen()
    event.listen(engine, "begin", on_begin)
    try:
        assert client.get("/admin/users").status_code == 200
        assert begins == [False] and seen() == first
        begins.clear()
        monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(minutes=2))
        assert client.get("/admin/users").status_code == 200
        assert begins == [False, True, False]  # the login read, last_seen moved, the page read
        assert as_utc(seen()) == start + timedelta(minutes=2)
        begins.clear()
        monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(minutes=2, seconds=50))
        assert client.get("/admin/users").status_code == 200
        assert begins == [False]
    finally:
        event.remove(engine, "begin", on_begin)


def test_role_change_and_disable_end_sessions(app, users, client):
    login(client, "clinician")
    with session_scope(app) as s:
        accounts.set_role(s, "clinician", "admin")
    assert client.get("/").status_code == 302
    login(client, "clinician")
    assert client.get("/admin/audit").status_code == 200  # the new role applies from the next login
    with session_scope(app) as s:
        accounts.disable_user(s, "clinician")
    assert client.get("/").status_code == 302
    resp = login(client, "clinician")
    assert resp.status_code == 401 and b"Wrong username or password" in resp.data


def test_failed_logins_are_audited_without_the_password(app, users, client):
    assert login(client, "clinician", "wrong password!!").status_code == 401
    assert login(client, "my-secret-typed-as-username", PASSWORD).status_code == 401
    events = _audit(app, action="login")
    assert [(e.actor_id, e.outcome, e.detail) for e in events] == [
        ("clinician", "failure", "wrong password"),
        ("(unknown user)", "failure", "unknown user"),
    ]
    with app.extensions["sicdoc.sessionmaker"]() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "clinician"))
        texts = " ".join(str(v) for e in s.scalars(select(AuditEvent)) for v in vars(e).values())
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in texts and "wrong password!!" not in texts and "my-secret" not in texts


def test_login_attempts_are_rate_limited(app, users, client):
    for _ in range(10):
        assert login(client, "clinician", "wrong password!!").status_code == 401
    resp = login(client, "clinician", PASSWORD)
    assert resp.status_code == 429
    assert b"Too many log-in attempts" in resp.data
    assert resp.headers["Retry-After"]
    assert _audit(app, action="login", outcome="denied")


def test_a_form_post_without_its_csrf_token_changes_nothing(app, users, client):
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data).group(1).decode()
    assert client.post("/login", data={"username": "clinician", "password": PASSWORD}).status_code == 400
    forged = {"username": "clinician", "password": PASSWORD, "csrf_token": token[:-4] + "AAAA"}
    assert client.post("/login", data=forged).status_code == 400
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.scalar(select(func.count()).select_from(UserSession)) == 0
    assert len(_audit(app, action="access", outcome="denied")) == 2
    good = {"username": "clinician", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=good).status_code == 302
    home = client.get("/")
    token = re.search(rb'name="csrf_token" value="([^"]+)"', home.data).group(1).decode()
    assert client.post("/logout").status_code == 400  # logging out is a form too
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_security_headers_on_pages_errors_and_fhir(app, users, client):
    for resp in (
        client.get("/login"),
        client.get("/nope"),
        client.get("/fhir/metadata"),
        client.get("/fhir/Patient/1"),
    ):
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Cache-Control"] == "no-store"
        assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])
        assert "Strict-Transport-Security" not in resp.headers  # plain http here
    assert "no-store" not in client.get("/static/css/app.css").headers.get("Cache-Control", "")


LOCKED = "This account is locked after repeated failed log-ins"


def test_repeated_wrong_passwords_lock_the_account_even_against_the_right_one(app, users, client):
    for _ in range(4):
        resp = login(client, "clinician", "wrong password!!")
        assert resp.status_code == 401 and b"Wrong username or password" in resp.data
    fifth = login(client, "clinician", "wrong password!!")
    assert fifth.status_code == 401 and LOCKED.encode() in fifth.data
    right = login(client, "clinician", PASSWORD)
    assert right.status_code == 401 and LOCKED.encode() in right.data
    # HH:MM, with the date in front when the lock ends on another day (a test run just before midnight)
    until = r"(\d{4}-\d\d-\d\d )?\d\d:\d\d"
    assert re.search(rf"try again after {until} or ask an administrator", right.get_data(as_text=True))
    assert _cookie(client) is None
    assert [e.detail for e in _audit(app, action="login", outcome="failure")][-1] == "locked"
    [lock] = _audit(app, action="lockout")
    assert lock.actor_id == "clinician" and "locked until" in lock.detail
    assert login(client, "admin").status_code == 302  # other accounts are not affected


def test_the_lock_ends_after_its_period_and_a_good_login_resets_the_count(app, users, client, monkeypatch):
    app.config["LOGIN_RATE_LIMIT"] = "100/minute"
    for _ in range(5):
        login(client, "clinician", "wrong password!!")
    start = datetime.now(UTC)
    monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(minutes=14))
    assert login(client, "clinician").status_code == 401
    monkeypatch.setattr(accounts, "_now", lambda: start + timedelta(minutes=16))
    assert login(client, "clinician").status_code == 302
    for _ in range(4):
        assert b"Wrong username" in login(client, "clinician", "wrong password!!").data
    assert login(client, "clinician").status_code == 302  # the count started again at the good login
    for _ in range(4):
        assert b"Wrong username" in login(client, "clinician", "wrong password!!").data


def test_an_administrator_can_lift_a_lock_and_a_new_password_lifts_it_too(app, users, client):
    app.config["LOGIN_RATE_LIMIT"] = "100/minute"
    for _ in range(5):
        login(client, "clinician", "wrong password!!")
    with session_scope(app) as s:
        accounts.unlock_user(s, "clinician")
    assert login(client, "clinician").status_code == 302
    for _ in range(5):
        login(client, "qi_analyst", "wrong password!!")
    with session_scope(app) as s:
        accounts.set_password(s, "qi_analyst", "a brand new passphrase here")
    assert login(client, "qi_analyst", "a brand new passphrase here").status_code == 302
    assert [e.detail for e in _audit(app, action="user-unlock")] == ["clinician"]


def test_the_lockout_is_counted_in_the_database_across_app_instances(database_url, users, app):
    from sicdoc.app import create_app

    other = create_app(
        {"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False, "LOCKOUT_FAILURES": "3"}
    )
    app.config["LOCKOUT_FAILURES"] = 3
    try:
        first, second = app.test_client(), other.test_client()
        assert b"Wrong username" in login(first, "clinician", "wrong password!!").data
        assert b"Wrong username" in login(second, "clinician", "wrong password!!").data
        assert LOCKED.encode() in login(first, "clinician", "wrong password!!").data
        assert LOCKED.encode() in login(second, "clinician").data
    finally:
        other.extensions["sicdoc.engine"].dispose()


def test_lockout_settings_must_be_whole_numbers(database_url):
    from sicdoc.app import create_app

    for bad in ("-1", "five", 2.5):
        try:
            create_app({"TESTING": True, "DATABASE_URL": database_url, "LOCKOUT_FAILURES": bad})
        except RuntimeError as exc:
            assert "SICDOC_LOCKOUT_FAILURES" in str(exc)
        else:
            raise AssertionError(f"LOCKOUT_FAILURES={bad!r} was accepted")


def test_the_lock_end_is_shown_as_a_wall_clock_time_with_the_date_when_it_is_not_today():
    zone = ZoneInfo("Europe/London")
    now = datetime(2026, 12, 4, 23, 50, tzinfo=zone)
    assert clock_time(datetime(2026, 12, 4, 23, 55, 0, tzinfo=zone), zone, now) == "23:55"
    assert clock_time(datetime(2026, 12, 4, 23, 55, 1, tzinfo=zone), zone, now) == "23:56"  # rounded up
    assert clock_time(datetime(2026, 12, 4, 23, 59, 30, tzinfo=zone), zone, now) == "2026-12-05 00:00"
    assert clock_time(datetime(2026, 12, 5, 0, 5, tzinfo=UTC), zone, now) == "2026-12-05 00:05"
    # an instant given in UTC is shown on the site's clock, and "today" is the site's day
    new_york = ZoneInfo("America/New_York")
    assert clock_time(datetime(2026, 12, 5, 3, 0, tzinfo=UTC), new_york, now) == "22:00"
