"""OAuth 2.0 client credentials (SMART Backend Services) and bearer-only, scope-checked FHIR routes."""

import base64
import hashlib
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from sicdoc.db import session_scope
from sicdoc.services import accounts
from tests.conftest import PATIENT_JSON, bearer_client, client_token, login
from tests.sql_statements import selects, sent

TOKEN_URL = "http://localhost/auth/token"
AUTHENTICATION_FAILED = {"error": "invalid_client", "error_description": "Client authentication failed"}


@pytest.fixture(params=["RS384", "ES384"])
def keyed_client(request, app):
    """A client registered with a public JWK set; yields (client_id, private key, alg)."""
    alg = request.param
    key = (
        RSAKey.generate_key(2048, parameters={"kid": "k1"})
        if alg == "RS384"
        else ECKey.generate_key("P-384", parameters={"kid": "k1"})
    )
    with session_scope(app) as s:
        client_id, _ = accounts.create_client(
            s, "ehr", "system/*.read system/Patient.write", jwks={"keys": [key.as_dict(private=False)]}
        )
    return client_id, key, alg


def assertion(client_id, key, alg, kid="k1", **overrides):
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 240, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])


def ask(client, signed, headers=None, **extra):
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
        **extra,
    }
    return client.post("/auth/token", data=form, headers=headers or {})


def test_a_signed_assertion_gets_a_short_lived_token(client, keyed_client):
    client_id, key, alg = keyed_client
    resp = ask(client, assertion(client_id, key, alg), scope="system/Patient.read")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 300 and "refresh_token" not in body
    assert body["scope"] == "system/Patient.read"
    assert resp.headers["Cache-Control"] == "no-store"


def test_a_replayed_assertion_is_refused(client, keyed_client):
    client_id, key, alg = keyed_client
    signed = assertion(client_id, key, alg)
    assert ask(client, signed).status_code == 200
    again = ask(client, signed)
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_client"
    assert "already used" in again.get_json()["error_description"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"exp": -10}, "expired"),  # ints here are seconds from now, added when the test runs
        ({"exp": 3600}, "5 minutes"),
        ({"exp": None}, "exp"),
        ({"jti": None}, "jti"),
        ({"aud": "https://elsewhere/token"}, "aud"),
        ({"sub": "someone-else"}, "iss and sub"),
        ({"kid": "unknown"}, "authentication failed"),
        ({"nbf": 600}, "nbf"),
        ({"nbf": "soon"}, "nbf"),
        ({"exp": "far"}, "exp"),
    ],
)
def test_bad_assertions_are_invalid_client(client, keyed_client, change, fragment):
    client_id, key, alg = keyed_client
    # Times are taken now, not when the tests were collected: a long run must not age them.
    now = int(time.time())
    change = {k: now + v if isinstance(v, int) else v for k, v in change.items()}
    change = {k: 10**20 if v == "far" else v for k, v in change.items()}
    resp = ask(client, assertion(client_id, key, alg, **change))
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "invalid_client"
    assert fragment in resp.get_json()["error_description"]


def test_a_foreign_key_signature_and_wrong_parameters_are_refused(client, keyed_client):
    client_id, _key, alg = keyed_client
    other = (
        RSAKey.generate_key(2048, parameters={"kid": "k1"})
        if alg == "RS384"
        else ECKey.generate_key("P-384", parameters={"kid": "k1"})
    )
    assert ask(client, assertion(client_id, other, alg)).get_json()["error"] == "invalid_client"
    good = assertion(client_id, _key, alg)
    resp = ask(client, good, grant_type="password")
    assert resp.status_code == 400 and resp.get_json()["error"] == "unsupported_grant_type"
    resp = ask(client, good, client_assertion_type="urn:other")
    assert resp.status_code == 401 and resp.get_json()["error"] == "invalid_client"
    resp = ask(client, assertion(client_id, _key, alg), scope="system/*.*")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_scope"
    assert ask(client, "not.a.jwt").get_json()["error"] == "invalid_client"
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": int(time.time()) + 60, "jti": "j"}
    remote = jwt.encode(
        {"alg": alg, "kid": "k1", "jku": "https://attacker.example/jwks"}, claims, _key, algorithms=[alg]
    )
    resp = ask(client, remote)
    assert resp.status_code == 401 and "registered JWK set" in resp.get_json()["error_description"]


def test_client_secret_basic_and_post(app, client):
    with session_scope(app) as s:
        client_id, secret = accounts.create_client(s, "simple", "system/*.read", with_secret=True)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    ok = client.post(
        "/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert ok.status_code == 200
    posted = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert client.post("/auth/token", data=posted).status_code == 200
    wrong = client.post("/auth/token", data={**posted, "client_secret": "guess"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    with session_scope(app) as s:
        accounts.revoke_client(s, client_id)
    assert client.post("/auth/token", data=posted).status_code == 401


def test_a_client_secret_is_stored_as_its_digest_and_checked_without_a_password_hash(
    app, client, monkeypatch
):
    """256 random bits need no memory-hard hash: argon2id held 64 MiB of a web worker per token request."""
    from sicdoc.models import IntegrationClient
    from sicdoc.security import tokens

    with session_scope(app) as s:
        client_id, secret = accounts.create_client(s, "simple", "system/*.read", with_secret=True)
        stored = s.get(IntegrationClient, client_id).secret_hash
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    hashed = []
    monkeypatch.setattr(tokens, "verify_password", lambda *args: hashed.append(args) or False)
    posted = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert client.post("/auth/token", data=posted).status_code == 200
    wrong = client.post("/auth/token", data={**posted, "client_secret": secret[:-1] + "x"})
    assert wrong.status_code == 401 and wrong.get_json() == AUTHENTICATION_FAILED
    assert hashed == []


def test_a_client_registered_with_an_argon2_hash_keeps_working_and_its_digest_replaces_it(app, client):
    from sicdoc.models import IntegrationClient
    from sicdoc.security.passwords import hash_password

    with session_scope(app) as s:
        client_id, secret = accounts.create_client(s, "older", "system/*.read", with_secret=True)
        s.get(IntegrationClient, client_id).secret_hash = hash_password(secret)  # as registered before
        s.commit()

    def stored() -> str:
        with session_scope(app) as s:
            return s.get(IntegrationClient, client_id).secret_hash

    argon2 = stored()
    posted = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert client.post("/auth/token", data={**posted, "client_secret": "a guess"}).status_code == 401
    assert stored() == argon2  # a wrong secret changes nothing
    assert client.post("/auth/token", data=posted).status_code == 200
    assert stored() == hashlib.sha256(secret.encode()).hexdigest()
    assert client.post("/auth/token", data=posted).status_code == 200


def test_fhir_takes_bearer_tokens_only_and_checks_scopes(app, users, client, monkeypatch):
    login(client, "clinician")
    resp = client.get("/fhir/Patient/p1")  # a session cookie is not accepted on the FHIR API
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    reader = bearer_client(app, "system/*.read")
    resp = reader.post("/fhir/Patient", data=PATIENT_JSON, headers={"Content-Type": "application/fhir+json"})
    assert resp.status_code == 403 and resp.get_json()["issue"][0]["code"] == "forbidden"
    writer = bearer_client(app, "system/Patient.write")
    created = writer.post(
        "/fhir/Patient", data=PATIENT_JSON, headers={"Content-Type": "application/fhir+json"}
    )
    assert created.status_code == 201
    new_id = created.headers["Location"].split("/Patient/")[1].split("/")[0]
    assert writer.get(f"/fhir/Patient/{new_id}").status_code == 403  # write is not read
    assert reader.get(f"/fhir/Patient/{new_id}").status_code == 200
    bogus = app.test_client()
    bogus.environ_base["HTTP_AUTHORIZATION"] = "Bearer forged-token"
    assert bogus.get("/fhir/Patient/p1").status_code == 401


def test_an_expired_access_token_is_refused(app, monkeypatch):
    raw = client_token(app, "system/*.read")
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    assert http.get("/fhir/Patient/p1").status_code == 404
    later = accounts._now() + accounts.tokens.timedelta(seconds=301)
    monkeypatch.setattr(accounts, "_now", lambda: later)
    resp = http.get("/fhir/Patient/p1")
    assert resp.status_code == 401 and resp.get_json()["resourceType"] == "OperationOutcome"


def test_a_revoked_clients_token_is_refused_at_once_and_the_check_is_one_statement(app):
    with session_scope(app) as s:
        client_id, secret = accounts.create_client(s, "lab feed", "system/*.read", with_secret=True)
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    raw = app.test_client().post("/auth/token", data=form).get_json()["access_token"]
    with (
        app.extensions["sicdoc.sessionmaker"]() as session,
        sent(app.extensions["sicdoc.engine"]) as statements,
    ):
        grant = accounts.bearer_grant(session, raw)
    assert grant is not None and grant.client_id == client_id
    assert selects(statements) == 1
    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    assert http.get("/fhir/Patient/p1").status_code == 404  # allowed: there is no such patient
    with session_scope(app) as s:
        accounts.revoke_client(s, client_id)
    refused = http.get("/fhir/Patient/p1")
    assert refused.status_code == 401 and refused.get_json()["resourceType"] == "OperationOutcome"


def test_smart_configuration(client):
    body = client.get("/.well-known/smart-configuration").get_json()
    assert body["token_endpoint"] == TOKEN_URL
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
    assert set(body["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}


def test_token_requests_are_rate_limited(app, client):
    app.config["TOKEN_RATE_LIMIT"] = "2/minute"
    form = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    assert [client.post("/auth/token", data=form).status_code for _ in range(3)] == [401, 401, 429]
    assert client.post("/auth/token", data=form).get_json()["error"] == "temporarily_unavailable"


def test_nbf_within_the_clock_skew_or_in_the_past_is_accepted(client, keyed_client):
    client_id, key, alg = keyed_client
    now = int(time.time())
    assert ask(client, assertion(client_id, key, alg, nbf=now - 30)).status_code == 200
    assert ask(client, assertion(client_id, key, alg, nbf=now + 30)).status_code == 200
    late = ask(client, assertion(client_id, key, alg, nbf=now + 120))
    assert late.status_code == 401 and "nbf" in late.get_json()["error_description"]


def _audited_token_failures(app):
    from sqlalchemy import select

    from sicdoc.models import AuditEvent

    with app.extensions["sicdoc.sessionmaker"]() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "token", AuditEvent.outcome == "failure")
        ).all()
        return [r.detail for r in rows]


def test_an_unknown_client_and_a_wrong_signature_get_the_same_answer_after_the_same_work(
    app, client, keyed_client, monkeypatch
):
    from sicdoc.security import tokens

    client_id, _key, alg = keyed_client
    stranger = (
        RSAKey.generate_key(2048, parameters={"kid": "k1"})
        if alg == "RS384"
        else ECKey.generate_key("P-384", parameters={"kid": "k1"})
    )
    checked = []
    real_decode = tokens.jwt.decode
    monkeypatch.setattr(tokens.jwt, "decode", lambda *a, **kw: checked.append(a[1]) or real_decode(*a, **kw))
    known = ask(client, assertion(client_id, stranger, alg))
    unknown_id = "f" * 32
    unknown = ask(client, assertion(unknown_id, stranger, alg, iss=unknown_id, sub=unknown_id))
    assert known.status_code == unknown.status_code == 401
    assert known.get_json() == unknown.get_json() == AUTHENTICATION_FAILED
    assert known.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert len(checked) == 2  # the unknown client's signature was checked too (against a stand-in key)
    details = _audited_token_failures(app)  # the audit log keeps the real reasons
    assert any("signature" in d for d in details) and any("unknown" in d for d in details)


def test_an_unknown_client_and_a_wrong_secret_get_the_same_answer_after_the_same_work(
    app, client, monkeypatch
):
    from sicdoc.security import tokens

    with session_scope(app) as s:
        client_id, _secret = accounts.create_client(s, "simple", "system/*.read", with_secret=True)
        jwks_only, _ = accounts.create_client(
            s,
            "keys only",
            "system/*.read",
            jwks={"keys": [ECKey.generate_key("P-384", parameters={"kid": "k"}).as_dict(private=False)]},
        )
    hashes = []
    real_check = tokens.check_secret
    monkeypatch.setattr(
        tokens, "check_secret", lambda stored, pw: hashes.append(stored) or real_check(stored, pw)
    )
    answers = []
    for cid in (client_id, "0" * 32, jwks_only):
        form = {"grant_type": "client_credentials", "client_id": cid, "client_secret": "a guess"}
        resp = client.post("/auth/token", data=form)
        basic = base64.b64encode(f"{cid}:a guess".encode()).decode()
        resp2 = client.post(
            "/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        answers += [(resp.status_code, resp.get_json()), (resp2.status_code, resp2.get_json())]
    assert len({str(a) for a in answers}) == 1
    assert answers[0] == (401, AUTHENTICATION_FAILED)
    assert len(hashes) == 6  # one secret check per attempt, whether the client exists or not


def test_the_token_audience_and_discovery_do_not_follow_the_host_header(client, keyed_client):
    client_id, key, alg = keyed_client
    foreign = "http://other-ehr.example/auth/token"
    resp = ask(client, assertion(client_id, key, alg, aud=foreign), headers={"Host": "other-ehr.example"})
    assert resp.status_code == 401 and TOKEN_URL in resp.get_json()["error_description"]
    conf = client.get("/.well-known/smart-configuration", headers={"Host": "other-ehr.example"}).get_json()
    assert conf["token_endpoint"] == TOKEN_URL


def test_the_configured_base_url_is_the_only_audience(database_url, keyed_client):
    from sicdoc.app import create_app

    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
            "BASE_URL": "https://sicdoc.example.org/",
        }
    )
    try:
        http = app.test_client()
        client_id, key, alg = keyed_client
        public = "https://sicdoc.example.org/auth/token"
        conf = http.get("/.well-known/smart-configuration", headers={"Host": "evil.example"}).get_json()
        assert conf["token_endpoint"] == public
        assert ask(http, assertion(client_id, key, alg)).status_code == 401  # signed for http://localhost
        resp = ask(http, assertion(client_id, key, alg, aud=public), headers={"Host": "evil.example"})
        assert resp.status_code == 200, resp.get_json()
    finally:
        app.extensions["sicdoc.engine"].dispose()


@pytest.mark.parametrize("value", ["!!not-base64!!", base64.b64encode(b"no-colon").decode(), "/w=="])
def test_malformed_basic_credentials_are_refused_with_a_challenge(client, value):
    resp = client.post(
        "/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {value}"}
    )
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"] == 'Basic realm="sicdoc"'
    assert resp.get_json() == {"error": "invalid_client", "error_description": "Malformed Basic credentials"}


def test_basic_credentials_are_form_decoded(app, client):
    with session_scope(app) as s:
        client_id, secret = accounts.create_client(s, "encoded", "system/*.read", with_secret=True)
    encoded = f"%{ord(secret[0]):02X}{secret[1:]}"  # RFC 6749 2.3.1: form-encoded before base64
    basic = base64.b64encode(f"{client_id}:{encoded}".encode()).decode()
    ok = client.post(
        "/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert ok.status_code == 200
