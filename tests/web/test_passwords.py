"""The password rule: common passwords, simple patterns and passwords built from the username are
refused, with a clear message, wherever a password is set (CLI, admin page, set-password)."""

import secrets

import pytest
from sqlalchemy import select

from sicdoc.cli.serving import _demo_logins
from sicdoc.db import session_scope
from sicdoc.errors import InvalidInput
from sicdoc.models import User
from sicdoc.security.passwords import WeakPassword, check_password
from sicdoc.services import accounts
from tests.cli_runner import sicdoc
from tests.conftest import PASSWORD, login

WEAK = [
    ("password1234", "clinician"),
    ("aaaaaaaaaaaa", "clinician"),
    ("clinician2026", "clinician"),
    ("qwertyuiop123", "admin"),
    ("Dr.Ada-19601231", "dr.ada"),
]
MESSAGE = "too easy to guess"


@pytest.mark.parametrize(("password", "username"), WEAK)
def test_weak_passwords_are_refused_with_a_clear_message(password, username):
    with pytest.raises(WeakPassword, match=MESSAGE):
        check_password(password, [username])


def test_the_username_counts_against_a_password_that_is_otherwise_fair():
    check_password("clinician2026", ["someone"])  # not guessable in itself...
    with pytest.raises(WeakPassword):
        check_password("clinician2026", ["clinician"])  # ...but it is for the user "clinician"


def test_strong_passwords_pass_including_the_demo_ones():
    check_password(PASSWORD, ["clinician"])
    check_password("velvet hammock orbit " * 20, ["clinician"])  # long ones are judged by their start
    for _ in range(50):
        check_password(secrets.token_urlsafe(12), ["clinician"])  # how `sicdoc demo` makes its log-ins
    with pytest.raises(WeakPassword, match="at least 12"):
        check_password("Zq8#vL2!", [])


def test_demo_logins_are_accepted_by_the_rule(app):
    _demo_logins(app)
    _demo_logins(app)  # a second start sets fresh passwords through set_password
    http = app.test_client()
    for _role, username, password in app.extensions["sicdoc.demo_logins"]:
        assert login(http, username, password).status_code == 302


def test_services_refuse_weak_passwords_and_change_nothing(app, users):
    with session_scope(app) as s:
        with pytest.raises(InvalidInput, match=MESSAGE):
            accounts.create_user(s, "nurse", "password1234", "clinician")
        with pytest.raises(InvalidInput, match=MESSAGE):
            accounts.set_password(s, "clinician", "clinician2026")
        assert s.scalar(select(User).where(User.username == "nurse")) is None
    assert login(app.test_client(), "clinician").status_code == 302  # the old password still works


def test_the_cli_refuses_a_weak_password(app, database_url):
    create = ("users", "create", "dr.ada", "--role", "clinician", "--password-stdin")
    result = sicdoc(database_url, *create, input="aaaaaaaaaaaa\n")
    assert result.exit_code == 1 and MESSAGE in result.output
    ok = sicdoc(database_url, *create, input=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output


def test_the_admin_page_refuses_a_weak_password(app, users):
    admin = app.test_client()
    login(admin, "admin")
    resp = admin.post(
        "/admin/users", data={"username": "dr.lee", "role": "clinician", "password": "password1234"}
    )
    assert resp.status_code == 400 and MESSAGE in resp.get_data(as_text=True)
    with app.extensions["sicdoc.sessionmaker"]() as s:
        assert s.scalar(select(User).where(User.username == "dr.lee")) is None


def test_a_process_hashes_one_password_at_a_time(monkeypatch):
    """Each argon2id hash holds 64 MiB while it runs: a burst of logins on one worker's threads must
    queue for hashing rather than hold that many times over."""
    import threading
    import time

    from sicdoc.security import passwords

    class Watched:
        running = most = 0
        lock = threading.Lock()

        def _work(self) -> None:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            time.sleep(0.02)
            with self.lock:
                self.running -= 1

        def hash(self, _password: str) -> str:
            self._work()
            return "hashed"

        def verify(self, _stored: str, _password: str) -> bool:
            self._work()
            return True

    watched = Watched()
    monkeypatch.setattr(passwords, "_hasher", watched)
    calls = [
        lambda: passwords.verify_password("stored", "a password"),
        lambda: passwords.verify_password(None, "an unknown user's try"),
        lambda: passwords.hash_password("a new long password"),
        lambda: passwords.rehash("a password"),
    ] * 3
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert watched.most == 1
