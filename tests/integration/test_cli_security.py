"""``sicdoc users``, ``sicdoc clients`` and ``sicdoc audit verify`` against the test database."""

import json
import re

from joserfc.jwk import RSAKey
from sqlalchemy import text

from sicdoc.db import make_engine
from tests.cli_runner import sicdoc
from tests.conftest import PASSWORD, audit_triggers_off, login


def test_users_create_set_role_and_disable(app, database_url):
    result = sicdoc(
        database_url,
        "users",
        "create",
        "dr.ada",
        "--role",
        "clinician",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    http = app.test_client()
    assert login(http, "dr.ada").status_code == 302
    again = sicdoc(
        database_url,
        "users",
        "create",
        "dr.ada",
        "--role",
        "admin",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert again.exit_code == 1 and "already exists" in again.output
    short = sicdoc(
        database_url, "users", "create", "bob", "--role", "admin", "--password-stdin", input="short\n"
    )
    assert short.exit_code == 1 and "at least 12" in short.output
    prompted = sicdoc(
        database_url, "users", "create", "carol", "--role", "admin", input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert sicdoc(database_url, "users", "set-role", "dr.ada", "admin").exit_code == 0
    assert http.get("/").status_code == 302  # the role change ended the session
    assert sicdoc(database_url, "users", "disable", "dr.ada").exit_code == 0
    assert login(http, "dr.ada").status_code == 401
    assert sicdoc(database_url, "users", "disable", "nobody").exit_code == 1


def test_clients_create_with_a_secret_or_keys_and_revoke(app, database_url, tmp_path):
    result = sicdoc(database_url, "clients", "create", "ehr feed", "--scopes", "system/*.read", "--secret")
    assert result.exit_code == 0, result.output
    client_id = re.search(r"client_id: (\S+)", result.output).group(1)
    secret = re.search(r"client_secret: (\S+)", result.output).group(1)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert app.test_client().post("/auth/token", data=form).status_code == 200
    assert sicdoc(database_url, "clients", "revoke", client_id).exit_code == 0
    assert app.test_client().post("/auth/token", data=form).status_code == 401

    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    keyed = sicdoc(
        database_url,
        "clients",
        "create",
        "keyed",
        "--scopes",
        "system/Patient.write",
        "--jwks-file",
        str(jwks),
    )
    assert keyed.exit_code == 0 and "client_secret" not in keyed.output
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
    private = sicdoc(
        database_url, "clients", "create", "leaky", "--scopes", "system/*.read", "--jwks-file", str(jwks)
    )
    assert private.exit_code == 1 and "private key" in private.output
    bad = sicdoc(database_url, "clients", "create", "x", "--scopes", "patient/*.read", "--secret")
    assert bad.exit_code == 1 and "not a supported SMART system scope" in bad.output


def test_audit_verify_finds_tampering_done_with_triggers_lifted(app, database_url):
    for name in ("a1", "a2", "a3"):
        sicdoc(
            database_url,
            "users",
            "create",
            name,
            "--role",
            "clinician",
            "--password-stdin",
            input=PASSWORD + "\n",
        )
    ok = sicdoc(database_url, "audit", "verify")
    assert ok.exit_code == 0 and "intact: 3 records" in ok.output
    engine = make_engine(database_url)
    with engine.begin() as conn, audit_triggers_off(conn):
        conn.execute(text("UPDATE audit_event SET detail = 'a2 as admin' WHERE seq = 2"))
    engine.dispose()
    broken = sicdoc(database_url, "audit", "verify")
    assert broken.exit_code == 1
    assert "broken at seq 2" in broken.output


def test_demo_mode_creates_one_person_per_role_with_fresh_passwords(app):
    from sicdoc.cli.serving import _demo_logins
    from sicdoc.serve import demo_banner

    _demo_logins(app)
    first = app.extensions["sicdoc.demo_logins"]
    assert [(role, user) for role, user, _ in first] == [
        ("clinician", "clinician"),
        ("qi_analyst", "analyst"),
        ("admin", "admin"),
    ]
    _demo_logins(app)  # a restart: same people, new passwords
    second = app.extensions["sicdoc.demo_logins"]
    assert all(a[2] != b[2] for a, b in zip(first, second, strict=True))
    http = app.test_client()
    role, user, password = second[2]
    assert login(http, user, password).status_code == 302
    assert http.get("/admin/audit").status_code == 200
    assert f"{role:<11} {user} / {password}" in demo_banner(app, "127.0.0.1", 8000)
