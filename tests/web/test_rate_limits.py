"""Rate limits are shared by every worker and every server: counted in the database (the default) or
in Redis, never per process. Behind a trusted proxy the forwarded client address counts; without
one, X-Forwarded-For is ignored."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid

import pytest
import redis
import requests
from sqlalchemy import select

from sicdoc.app import create_app
from sicdoc.config import Config
from sicdoc.models import AuditEvent
from sicdoc.security.ratelimits import DatabaseStorage
from sicdoc.views.limits import storage
from tests.live_server import ROOT, live_server

REDIS_URL = "redis://127.0.0.1:6379/0"
WRONG = {"username": "nobody", "password": "wrong password!!"}

# A second app instance in its own process (as a second gunicorn worker or server would be): it
# reads usernames from stdin, posts one wrong password for each and prints the status code.
OTHER_PROCESS = r"""
import json, sys
from argon2 import PasswordHasher, profiles
from sicdoc.app import create_app
from sicdoc.security import passwords
passwords._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)  # as in tests/conftest.py
app = create_app({"TESTING": True, "DATABASE_URL": sys.argv[1], "WTF_CSRF_ENABLED": False,
                  **json.loads(sys.argv[2])})
http = app.test_client()
print("ready", flush=True)
for line in sys.stdin:
    resp = http.post("/login", data={"username": line.strip(), "password": "wrong password!!"})
    print(resp.status_code, flush=True)
"""


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis, started if it is not running (never skipped)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        try:
            subprocess.run(
                ["redis-server", "--daemonize", "yes", "--port", "6379", "--save", "", "--appendonly", "no"],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.fail(f"Redis is not running at {REDIS_URL} and could not be started: {exc}", pytrace=False)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail(f"Redis did not come up at {REDIS_URL}", pytrace=False)
    return REDIS_URL


@pytest.fixture(params=["database", "redis"])
def limit_storage(request) -> dict[str, str]:
    """Overrides choosing the rate-limit storage; Redis keys get a prefix of their own per test."""
    if request.param == "database":
        return {}
    return {
        "RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url"),
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }


def _app(database_url: str, **overrides):
    return create_app({"TESTING": True, "DATABASE_URL": database_url, "WTF_CSRF_ENABLED": False, **overrides})


def test_the_default_storage_is_the_database_not_each_process_memory(app):
    assert Config.RATELIMIT_STORAGE_URI == "database://"
    assert isinstance(storage(app), DatabaseStorage)


def test_two_processes_on_one_database_share_the_login_limit(database_url):
    """Two app instances, each in its own process, take wrong passwords in turn: the 11th is refused."""
    here = _app(database_url)
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, database_url, "{}"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "ready"
        http = here.test_client()
        statuses = []
        for i in range(12):
            if i % 2 == 0:
                statuses.append(http.post("/login", data=WRONG).status_code)
            else:
                other.stdin.write("nobody\n")
                other.stdin.flush()
                statuses.append(int(other.stdout.readline()))
        assert statuses == [401] * 10 + [429, 429]
    finally:
        other.stdin.close()
        other.wait(timeout=30)
        here.extensions["sicdoc.engine"].dispose()


def test_two_app_instances_share_the_login_limit(database_url, limit_storage):
    first = _app(database_url, **limit_storage)
    second = _app(database_url, **limit_storage)
    try:
        clients = [first.test_client(), second.test_client()]
        statuses = [clients[i % 2].post("/login", data=WRONG).status_code for i in range(12)]
        assert statuses == [401] * 10 + [429, 429]
    finally:
        for one in (first, second):
            one.extensions["sicdoc.engine"].dispose()


def test_two_app_instances_share_the_token_limit(database_url, limit_storage):
    first = _app(database_url, TOKEN_RATE_LIMIT="3/minute", **limit_storage)
    second = _app(database_url, TOKEN_RATE_LIMIT="3/minute", **limit_storage)
    try:
        form = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
        clients = [first.test_client(), second.test_client()]
        statuses = [clients[i % 2].post("/auth/token", data=form).status_code for i in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        refused = clients[0].post("/auth/token", data=form)
        assert refused.get_json()["error"] == "temporarily_unavailable"
        assert 0 < int(refused.headers["Retry-After"]) <= 61
        assert refused.headers["X-RateLimit-Limit"] == "3" and refused.headers["X-RateLimit-Remaining"] == "0"
    finally:
        for one in (first, second):
            one.extensions["sicdoc.engine"].dispose()


def test_the_database_counter_is_atomic_under_concurrent_hits(app):
    counter = storage(app)
    key = f"race-{uuid.uuid4().hex}"
    seen: list[int] = []
    errors: list[BaseException] = []

    def hit() -> None:
        try:
            for _ in range(10):
                seen.append(counter.incr(key, 60))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(seen) == list(range(1, 41))  # every hit saw its own count: none was lost
    assert counter.get(key) == 40 and counter.get_expiry(key) > time.time()


def test_a_window_that_ended_starts_again_and_is_swept(app, monkeypatch):
    from sicdoc.security import ratelimits

    counter = storage(app)
    now = [1_000_000_000_000]
    monkeypatch.setattr(ratelimits, "_now_ms", lambda: now[0])
    assert [counter.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    now[0] += 59_000
    assert counter.incr("k", 60) == 4
    now[0] += 1_000
    assert counter.get("k") == 0 and counter.incr("k", 60) == 1  # a new window
    now[0] += 60_000
    assert counter.sweep() == 1 and counter.get("k") == 0
    long_key = "x" * 400
    assert counter.incr(long_key, 60) == 1 and counter.incr(long_key, 60) == 2
    counter.clear(long_key)
    assert counter.get(long_key) == 0 and counter.check()


def test_an_unknown_storage_uri_stops_the_start(database_url):
    with pytest.raises(RuntimeError, match="SICDOC_RATELIMIT_STORAGE_URI"):
        _app(database_url, RATELIMIT_STORAGE_URI="nosuch://here")


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(app, users):
    app.config["LOGIN_RATE_LIMIT"] = "2/minute"
    http = app.test_client()
    statuses = [
        http.post("/login", data=WRONG, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
        for i in range(1, 4)
    ]
    assert statuses == [401, 401, 429]  # different forwarded addresses, one bucket: the peer's
    with app.extensions["sicdoc.sessionmaker"]() as s:
        sources = set(s.scalars(select(AuditEvent.source_address).where(AuditEvent.action == "login")))
    assert sources == {"127.0.0.1"}


def test_behind_a_trusted_proxy_the_forwarded_address_counts_and_is_audited(database_url, users):
    proxied = _app(database_url, PROXY_FIX="1", LOGIN_RATE_LIMIT="2/minute")
    try:
        http = proxied.test_client()

        def attempt(address: str) -> int:
            headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
            return http.post("/login", data=WRONG, headers=headers).status_code

        assert [attempt("203.0.113.7") for _ in range(3)] == [401, 401, 429]
        assert attempt("198.51.100.9") == 401  # another client behind the same proxy has its own bucket
        with proxied.extensions["sicdoc.sessionmaker"]() as s:
            sources = set(s.scalars(select(AuditEvent.source_address).where(AuditEvent.action == "login")))
        assert sources == {"203.0.113.7", "198.51.100.9"}
        page = http.get("/login", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" in page.headers  # the proxy said the client used https
    finally:
        proxied.extensions["sicdoc.engine"].dispose()


def test_proxy_fix_must_be_a_whole_number(database_url):
    with pytest.raises(RuntimeError, match="SICDOC_PROXY_FIX"):
        _app(database_url, PROXY_FIX="yes")


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # both backends: see above
def test_the_served_app_with_two_workers_refuses_the_eleventh_wrong_password(database_url):
    """`sicdoc serve` as the README runs it (gunicorn, 2 workers): of 12 wrong passwords, 10 get through."""
    with live_server(database_url) as base:
        statuses = []
        for _ in range(12):
            browser = requests.Session()  # a new connection each time, so both workers take requests
            page = browser.get(f"{base}/login", timeout=10).text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            resp = browser.post(f"{base}/login", data={**WRONG, "csrf_token": token}, timeout=10)
            statuses.append(resp.status_code)
            browser.close()
    assert statuses == [401] * 10 + [429] * 2
