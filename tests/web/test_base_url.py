"""The public base URL is configuration (SICDOC_BASE_URL), never the request's Host header; the server
refuses to start without it outside demo and test mode; demo mode signs with a fresh key each start."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sicdoc.app import create_app
from sicdoc.cli import main
from sicdoc.serve import demo_banner, use_demo_address
from tests.conftest import PATIENT_JSON, bearer_client

FHIR = {"Content-Type": "application/fhir+json"}
EVIL = {"Host": "other-ehr.example"}


def _create(http, headers=None, mrn="MRN-7"):
    body = PATIENT_JSON.replace("MRN-7", mrn)
    return http.post("/fhir/Patient", data=body, headers={**FHIR, **(headers or {})})


def test_location_headers_and_links_do_not_follow_the_host_header(app):
    http = bearer_client(app, "system/*.*")
    created = _create(http, EVIL)
    assert created.status_code == 201
    assert created.headers["Location"].startswith("http://localhost/fhir/Patient/")
    assert _create(http, mrn="MRN-8").status_code == 201
    bundle = http.get("/fhir/Patient?_count=1", headers=EVIL).get_json()
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["self"].startswith("http://localhost/fhir/Patient")
    assert links["next"].startswith("http://localhost/fhir/Patient?")
    assert bundle["entry"][0]["fullUrl"].startswith("http://localhost/fhir/Patient/")
    meta = http.get("/fhir/metadata", headers=EVIL).get_json()
    assert meta["implementation"]["url"] == "http://localhost/fhir"
    assert "other-ehr" not in str(bundle) + str(meta) + created.headers["Location"]


def test_every_public_url_derives_from_the_configured_base(database_url):
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "WTF_CSRF_ENABLED": False,
            "BASE_URL": "https://sicdoc.example.org/",
        }
    )
    try:
        http = bearer_client(app, "system/*.*")
        created = _create(http, EVIL)
        assert created.headers["Location"].startswith("https://sicdoc.example.org/fhir/Patient/")
        bundle = http.get("/fhir/Patient", headers=EVIL).get_json()
        assert bundle["link"][0]["url"].startswith("https://sicdoc.example.org/fhir/Patient")
        conf = http.get("/.well-known/smart-configuration", headers=EVIL).get_json()
        assert conf["token_endpoint"] == "https://sicdoc.example.org/auth/token"
    finally:
        app.extensions["sicdoc.engine"].dispose()


def _production(database_url, **overrides):
    return create_app(
        {"DATABASE_URL": database_url, "SECRET_KEY": "s" * 32, "AUDIT_KEY": "a" * 32, **overrides}
    )


def test_outside_demo_and_test_mode_the_server_refuses_to_start_without_a_base_url(database_url):
    with pytest.raises(RuntimeError, match="SICDOC_BASE_URL must be set"):
        _production(database_url)
    for old in ("FHIR_BASE_URL", "TOKEN_URL"):
        with pytest.raises(RuntimeError, match=f"SICDOC_{old} .*SICDOC_BASE_URL"):
            _production(database_url, BASE_URL="https://sicdoc.example.org", **{old: "https://x/fhir"})
    for bad in ("sicdoc.example.org", "ftp://sicdoc.example.org", "https://sicdoc.example.org/?a=1"):
        with pytest.raises(RuntimeError, match="SICDOC_BASE_URL must be an http"):
            _production(database_url, BASE_URL=bad)
    app = _production(database_url, BASE_URL="https://sicdoc.example.org/ehr/")
    assert app.config["BASE_URL"] == "https://sicdoc.example.org/ehr"
    app.extensions["sicdoc.engine"].dispose()


def test_the_base_url_comes_from_the_environment(database_url, monkeypatch):
    monkeypatch.setenv("SICDOC_BASE_URL", "https://ehr.example.net")
    app = _production(database_url)
    assert app.config["BASE_URL"] == "https://ehr.example.net"
    app.extensions["sicdoc.engine"].dispose()


def test_sicdoc_serve_stops_with_a_clear_message_without_a_base_url(database_url):
    result = CliRunner().invoke(
        main,
        ["--database-url", database_url, "serve"],
        obj={"overrides": {"SECRET_KEY": "s" * 32, "AUDIT_KEY": "a" * 32}},
    )
    assert result.exit_code == 1 and "SICDOC_BASE_URL must be set" in result.output


def test_demo_mode_serves_on_its_own_address_with_a_fresh_secret_key_each_start(database_url):
    def demo(**extra):
        return create_app({"DEMO": True, "DATABASE_URL": database_url, "AUDIT_KEY": "a" * 32, **extra})

    first, second = demo(), demo()
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32 and "demo" not in first.config["SECRET_KEY"]
    assert first.config["BASE_URL"] is None  # until it is served
    use_demo_address(first, "127.0.0.1", 8123)
    assert first.config["BASE_URL"] == "http://127.0.0.1:8123"
    assert "http://127.0.0.1:8123/" in demo_banner(first, "127.0.0.1", 8123)
    use_demo_address(second, "::1", 8000)
    assert second.config["BASE_URL"] == "http://[::1]:8000"
    explicit = demo(BASE_URL="https://demo.example.org")
    use_demo_address(explicit, "127.0.0.1", 8000)
    assert explicit.config["BASE_URL"] == "https://demo.example.org"
    for app in (first, second, explicit):
        app.extensions["sicdoc.engine"].dispose()
    tests = [create_app({"TESTING": True, "DATABASE_URL": database_url}) for _ in range(2)]
    assert tests[0].config["SECRET_KEY"] == tests[1].config["SECRET_KEY"]
    for app in tests:
        app.extensions["sicdoc.engine"].dispose()
