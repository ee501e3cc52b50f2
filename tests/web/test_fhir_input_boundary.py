"""One input boundary: every malformed value is a 4xx OperationOutcome that changes nothing, never a 5xx."""

import base64
import json
import uuid

import pytest
from sqlalchemy import func, select

from sicdoc.models import AuditEvent
from tests.conftest import bearer_client
from tests.web.fhir_helpers import FHIR, patient, send, table_counts


@pytest.fixture
def client(app):
    """Every request in this module carries a bearer token with every FHIR scope, audit search included."""
    return bearer_client(app, "system/*.* system/AuditEvent.read")


def refused(resp, status=400):
    assert resp.status_code == status, (resp.status_code, resp.get_data()[:400])
    assert resp.mimetype == FHIR, resp.mimetype
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    return resp.get_json()


def cursor(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def batch(*entries, kind="batch"):
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post_entry(resource, full_url=None):
    entry = {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


# ---- numbers in query strings ----------------------------------------------------------------------


def test_count_takes_ascii_digits_only(client, app):
    before = table_counts(app)
    for path in ("/fhir/Patient", "/fhir/Patient/_history", "/fhir/_history", "/fhir/AuditEvent"):
        for count in ("²", "٣", "１", "-1", "1.0", "", " 5", "5 "):
            refused(client.get(path, query_string={"_count": count}))
    assert table_counts(app) == before


def test_count_of_ascii_digits_still_works(client):
    send(client, "POST", "/fhir/Patient", patient("N-1"))
    for path in ("/fhir/Patient", "/fhir/_history", "/fhir/Patient/_history"):
        for count in ("0001", "9" * 5000):
            resp = client.get(path, query_string={"_count": count})
            assert resp.status_code == 200, (path, resp.get_json())


# ---- cursors -----------------------------------------------------------------------------------


SEARCH_CURSORS = [
    {"id": 5},
    {"id": None},
    {"id": ["x"]},
    {"id": "a", "key": 5},
    {"id": "a", "key": {"x": 1}},
    {"id": "a", "key": "not a date"},
    {"id": "x" * 65},
    {"id": "a\u0000b"},
    [],
    "x",
    5,
]
HISTORY_CURSORS = [
    {"at": "2026-01-01T00:00:00+00:00", "type": "Patient", "id": "a", "v": None},
    {"at": "2026-01-01T00:00:00+00:00", "type": "Patient", "id": "a", "v": "x"},
    {"at": "2026-01-01T00:00:00+00:00", "type": "Patient", "id": "a", "v": 2**70},
    {"at": "2026-01-01T00:00:00+00:00", "type": "Patient", "id": "a", "v": 1.5},
    {"at": "2026-01-01T00:00:00+00:00", "type": "Patient", "id": {}, "v": 1},
    {"at": "2026-01-01T00:00:00+00:00", "type": ["Patient"], "id": "a", "v": 1},
    {"at": 5, "type": "Patient", "id": "a", "v": 1},
    {"at": None, "type": "Patient", "id": "a", "v": 1},
    {"at": "soon", "type": "Patient", "id": "a", "v": 1},
    {"type": "Patient", "id": "a", "v": 1},
    {"at": "2026-01-01T00:00:00+00:00", "type": "Patient", "id": "a\u0000", "v": 1},
]


def test_search_cursors_are_checked_field_by_field(client):
    send(client, "POST", "/fhir/Patient", patient("C-1"))
    for data in SEARCH_CURSORS:
        for query in ({}, {"_sort": "birthdate"}, {"_sort": "-_id"}, {"_sort": "_lastUpdated"}):
            refused(client.get("/fhir/Patient", query_string={**query, "_cursor": cursor(data)}))
    refused(client.get("/fhir/Patient", query_string={"_cursor": "not base64!"}))
    refused(client.get("/fhir/Patient", query_string={"_cursor": "x" * 5000}))


def test_history_cursors_are_checked_field_by_field(client):
    send(client, "POST", "/fhir/Patient", patient("C-2"))
    for data in HISTORY_CURSORS + SEARCH_CURSORS[-3:]:
        for path in ("/fhir/_history", "/fhir/Patient/_history"):
            refused(client.get(path, query_string={"_cursor": cursor(data)}))


def test_everything_cursors_are_checked_field_by_field(client):
    send(client, "PUT", "/fhir/Patient/e1", {**patient("E-1"), "id": "e1"})
    for data in [
        {"type": "Patient", "id": None},
        {"type": 5, "id": "e1"},
        {"type": "Patient"},
        *SEARCH_CURSORS,
    ]:
        refused(client.get("/fhir/Patient/e1/$everything", query_string={"_cursor": cursor(data)}))


def test_cursors_still_page(client):
    for i in range(5):
        send(client, "POST", "/fhir/Patient", patient(f"P-{i}"))
    for path, query in (
        ("/fhir/Patient", {"_count": "2"}),
        ("/fhir/Patient", {"_count": "2", "_sort": "birthdate"}),
        ("/fhir/Patient", {"_count": "2", "_sort": "-_id"}),
        ("/fhir/_history", {"_count": "2"}),
    ):
        seen, url = 0, f"{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
        while url:
            page = client.get(url.replace("http://localhost", "")).get_json()
            assert page["resourceType"] == "Bundle", page
            seen += len(page.get("entry", []))
            url = next((lnk["url"] for lnk in page["link"] if lnk["relation"] == "next"), None)
            if url:
                url = url[url.index("/fhir") :]
        assert seen == 5, (path, query)


# ---- numbers, Unicode and structure in bodies --------------------------------------------------


def _observation(value: str) -> bytes:
    return (
        '{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, '
        f'"valueQuantity": {{"value": {value}}}}}'
    ).encode()


BAD_NUMBERS = [
    "9" * 5000,
    str(2**64 + 1),
    str(2**63),
    str(-(2**63) - 1),
    "1e999",
    "-1e999",
    "1e-999",
    "0.1234567890123456789",
]


def test_numbers_that_cannot_be_stored_exactly_are_refused(client, app):
    before = table_counts(app)
    for number in BAD_NUMBERS:
        refused(send(client, "POST", "/fhir/Observation", _observation(number)))
    assert table_counts(app) == before


def test_fhir_integers_are_32_bit(client, app):
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert send(client, "POST", "/fhir/Observation", {**obs, "valueInteger": 2**31 - 1}).status_code == 201
    refused(send(client, "POST", "/fhir/Observation", {**obs, "valueInteger": 2**31}))
    refused(send(client, "POST", "/fhir/Observation", {**obs, "valueInteger": -(2**31) - 1}))


def test_ordinary_numbers_are_stored(client):
    for number in ("1", "-3", "0.1", "1.5e3", "72.25", str(2**31 - 1), "1.0E-7"):
        resp = send(client, "POST", "/fhir/Observation", _observation(number))
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["valueQuantity"]["value"] == json.loads(number)


BAD_TEXT = [
    b'{"resourceType": "Patient", "name": [{"family": "\\ud800"}]}',
    b'{"resourceType": "Patient", "name": [{"family": "a\\udfffb"}]}',
    b'{"resourceType": "Patient", "\\ud800": 1}',
    b'{"resourceType": "Patient", "name": [{"family": "a\\u0000b"}]}',
    b'{"resourceType": "Patient", "name": [{"family": "a\x00b"}]}',
    b'{"resourceType": "Patient", "a\\u0000": 1}',
]


def test_lone_surrogates_and_nul_are_refused(client, app):
    before = table_counts(app)
    for body in BAD_TEXT:
        refused(send(client, "POST", "/fhir/Patient", body))
        refused(
            send(client, "PUT", "/fhir/Patient/u1", body.replace(b'"Patient",', b'"Patient", "id": "u1",'))
        )
        entry = b'{"request": {"method": "POST", "url": "Patient"}, "resource": ' + body + b"}"
        refused(
            send(
                client,
                "POST",
                "/fhir",
                b'{"resourceType": "Bundle", "type": "transaction", "entry": [' + entry + b"]}",
            )
        )
        refused(
            send(
                client,
                "POST",
                "/fhir",
                b'{"resourceType": "Bundle", "type": "batch", "entry": [' + entry + b"]}",
            )
        )
    assert table_counts(app) == before


def test_a_surrogate_pair_is_text(client):
    body = b'{"resourceType": "Patient", "name": [{"family": "\\ud83d\\ude00"}]}'
    resp = send(client, "POST", "/fhir/Patient", body)
    assert resp.status_code == 201
    assert resp.get_json()["name"][0]["family"] == "\U0001f600"


def test_a_search_value_of_only_separators_is_400(client):
    for query in ("name=,", "name=%5C", "birthdate=,,", "identifier=,"):
        refused(client.get(f"/fhir/Patient?{query}"))


def test_nul_in_a_search_value_or_url_id_is_400(client, app):
    refused(client.get("/fhir/Patient?name=a%00b"))
    refused(client.get("/fhir/Patient?identifier=a%00|b"))
    refused(client.get("/fhir/Patient?_id=a%00b"))
    refused(
        client.post(
            "/fhir/Patient/_search", data="name=a%00b", content_type="application/x-www-form-urlencoded"
        )
    )
    refused(client.get("/fhir/Patient/a%00b"))
    refused(client.get("/fhir/Patient/a%00b/_history"))
    refused(send(client, "PUT", "/fhir/Patient/a%00b", {"resourceType": "Patient", "id": "a\u0000b"}))
    refused(client.delete("/fhir/Patient/a%00b"))
    refused(client.get("/fhir/Patient/a%00b/$everything"))
    refused(client.get("/fhir/Pat%00ient"))


# ---- dates ---------------------------------------------------------------------------------------


def test_the_last_date_fhir_allows_is_stored_and_searchable(client):
    resp = send(client, "POST", "/fhir/Patient", patient("D-1", birthDate="9999-12-31"))
    assert resp.status_code == 201, resp.get_json()
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "effectiveDateTime": "9999-12-31T23:59:59-05:00",
    }
    assert send(client, "POST", "/fhir/Observation", obs).status_code == 201
    early = {**obs, "effectiveDateTime": "0001-01-01T00:00:00+05:00"}
    assert send(client, "POST", "/fhir/Observation", early).status_code == 201
    for query in (
        "birthdate=9999-12-31",
        "birthdate=9999",
        "birthdate=ge9999-12",
        "birthdate=ge9999-12-31T23:59:59Z",
    ):
        found = client.get(f"/fhir/Patient?{query}")
        assert found.status_code == 200, (query, found.get_json())
        assert found.get_json()["total"] == 1, query
    for query in ("date=9999-12-31", "date=ge0001-01-01", "date=lt0001-01-02", "_lastUpdated=le9999"):
        assert client.get(f"/fhir/Observation?{query}").status_code == 200, query
    assert client.get("/fhir/_history?_since=9999-12-31").status_code == 200


def test_impossible_dates_are_refused(client):
    for value in ("0000-01-01", "10000-01-01", "2026-13-01", "2026-02-30", "2026-01-01T25:00Z", "٢٠٢٦"):
        refused(client.get(f"/fhir/Patient?birthdate={value}"))
        refused(send(client, "POST", "/fhir/Patient", patient("D-2", birthDate=value)))


# ---- ids -----------------------------------------------------------------------------------------


def _records(app) -> int:
    with app.extensions["sicdoc.sessionmaker"]() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent))


def test_bad_url_ids_are_400_and_audited(client, app):
    before = table_counts(app)
    for rid in ("x" * 65, "..", ".", "a b", "a_b", "é", "y" * 1000):
        for method in ("GET", "DELETE"):
            records = _records(app)
            refused(client.open(f"/fhir/Patient/{rid}", method=method))
            assert _records(app) == records + 1, (method, rid)
        refused(send(client, "PUT", f"/fhir/Patient/{rid}", {"resourceType": "Patient", "id": rid}))
        refused(client.get(f"/fhir/Patient/{rid}/_history"))
        refused(client.get(f"/fhir/Patient/{rid}/_history/1"))
        refused(client.get(f"/fhir/Patient/{rid}/$everything"))
    assert table_counts(app) == before


def test_an_anonymous_request_with_a_long_id_is_401_and_audited(app):
    anonymous = app.test_client()
    resp = anonymous.get("/fhir/Patient/" + "x" * 300)
    refused(resp, 401)
    with app.extensions["sicdoc.sessionmaker"]() as s:
        denied = s.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert len(denied) == 1 and len(denied[0].resource_id or "") <= 64


def test_bad_body_ids_are_refused(client, app):
    before = table_counts(app)
    for rid in ("x" * 65, "..", ".", "a b", 5, None, "", "a\n"):
        refused(send(client, "POST", "/fhir/Patient", patient("I-1", id=rid)))
        refused(send(client, "PUT", "/fhir/Patient?identifier=urn:oid:1.2.3|I-1", patient("I-1", id=rid)))
        refused(send(client, "POST", "/fhir", batch(post_entry(patient("I-2", id=rid)), kind="transaction")))
    assert table_counts(app) == before


def test_the_longest_id_is_accepted(client):
    rid = "A-." + "x" * 61
    resp = send(client, "PUT", f"/fhir/Patient/{rid}", {"resourceType": "Patient", "id": rid})
    assert resp.status_code == 201, resp.get_json()
    assert client.get(f"/fhir/Patient/{rid}").status_code == 200


def test_bad_version_ids_are_400(client):
    created = send(client, "POST", "/fhir/Patient", patient("V-1")).get_json()
    for version in ("²", "٣", "x", "0x1", "9" * 20, "-1", "0"):
        refused(client.get(f"/fhir/Patient/{created['id']}/_history/{version}"))


# ---- bundles -------------------------------------------------------------------------------------


def test_bad_if_match_and_version_inside_bundles(client, app):
    created = send(client, "POST", "/fhir/Patient", patient("B-1")).get_json()
    rid = created["id"]
    for kind in ("transaction", "batch"):
        put = {
            "resource": {**created, "gender": "male"},
            "request": {"method": "PUT", "url": f"Patient/{rid}", "ifMatch": 'W/"²"'},
        }
        read = {"request": {"method": "GET", "url": f"Patient/{rid}/_history/²"}}
        for entry in (put, read, {**put, "request": {**put["request"], "ifMatch": {}}}):
            before = table_counts(app)
            resp = send(client, "POST", "/fhir", batch(entry, kind=kind))
            assert resp.status_code < 500, resp.get_json()
            if kind == "transaction":
                refused(resp)
            else:
                [answer] = resp.get_json()["entry"]
                assert answer["response"]["status"].startswith("400"), answer
            assert table_counts(app) == before


def test_a_bad_entry_method_is_refused(client, app):
    before = table_counts(app)
    for method in ({}, [], None, 5, "post", "PATCH", ["POST"]):
        entry = {"resource": patient("M-1"), "request": {"method": method, "url": "Patient"}}
        refused(send(client, "POST", "/fhir", batch(entry, kind="transaction")))
        resp = send(client, "POST", "/fhir", batch(entry))
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["entry"][0]["response"]["status"].startswith("400")
    assert table_counts(app) == before


def test_a_transaction_with_a_bad_full_url_is_refused_whole(client, app):
    before = table_counts(app)
    for full_url in ([], {}, 5, True, "", "Patient/x y"):
        body = batch(
            post_entry(patient("F-1"), urn()), post_entry(patient("F-2"), full_url), kind="transaction"
        )
        refused(send(client, "POST", "/fhir", body))
    assert table_counts(app) == before


def test_a_batch_answers_each_entry_whatever_it_holds(client, app):
    for i, full_url in enumerate(([], {}, 5)):
        body = batch(post_entry(patient(f"G-{i}"), urn()), post_entry(patient("G-x"), full_url))
        resp = send(client, "POST", "/fhir", body)
        assert resp.status_code == 200, resp.get_json()
        first, second = resp.get_json()["entry"]
        assert first["response"]["status"].startswith("201")
        assert second["response"]["status"].startswith("400")
        assert second["response"]["outcome"]["resourceType"] == "OperationOutcome"
        assert table_counts(app)["resource"] == i + 1


def test_a_batch_answers_an_entry_that_fails_unexpectedly(client, app, monkeypatch):
    from sicdoc.services import bundles

    real = bundles.plan_entries
    calls = []

    def flaky(uow, entries):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(uow, entries)

    monkeypatch.setattr(bundles, "plan_entries", flaky)
    body = batch(post_entry(patient("H-1")), post_entry(patient("H-2")), post_entry(patient("H-3")))
    resp = send(client, "POST", "/fhir", body)
    assert resp.status_code == 200
    statuses = [e["response"]["status"][:3] for e in resp.get_json()["entry"]]
    assert statuses == ["201", "500", "201"]
    assert table_counts(app)["resource"] == 2


def test_the_last_resort_handler_only_claims_nothing_changed_after_a_rollback(client, app, monkeypatch):
    from sicdoc.services import resources

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(resources, "create_resource", broken)
    resp = send(client, "POST", "/fhir/Patient", patient("L-1"))
    assert resp.status_code == 500
    assert "changed nothing" in resp.get_json()["issue"][0]["diagnostics"]

    monkeypatch.undo()
    from sicdoc.views import fhir_api

    def after_write(*args, **kwargs):
        created = real(*args, **kwargs)
        raise RuntimeError(f"boom after {created}")

    real = fhir_api.resource_service.create_resource
    monkeypatch.setattr(fhir_api.resource_service, "create_resource", after_write)
    resp = send(client, "POST", "/fhir/Patient", patient("L-2"))
    assert resp.status_code == 500
    diagnostics = resp.get_json()["issue"][0]["diagnostics"]
    assert "changed nothing" not in diagnostics and "may have" in diagnostics
    assert table_counts(app)["resource"] == 1


# ---- other faces ---------------------------------------------------------------------------------


def test_nul_in_the_login_form_is_a_normal_failure(app, users):
    http = app.test_client()
    for name in ("clini\x00cian", "\x00", "admin\x00"):
        resp = http.post("/login", data={"username": name, "password": "x\x00y"})
        assert resp.status_code in (400, 401), resp.status_code
        assert resp.mimetype == "text/html"


TOKEN_FORMS = [
    {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "s"},
    {"grant_type": "client_credentials", "client_id": "a", "client_secret": "s\x00"},
    {"grant_type": "client_credentials\x00", "client_id": "a", "client_secret": "s"},
    {"grant_type": "client_credentials", "client_id": "a", "client_secret": "s", "scope": "system/\x00"},
    {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "a\x00b",
    },
]


def test_nul_at_the_token_endpoint_is_invalid_request(app):
    for form in TOKEN_FORMS:
        resp = app.test_client().post("/auth/token", data=form)
        assert resp.status_code == 400, resp.get_data()
        assert resp.get_json()["error"] == "invalid_request"


def test_nul_in_basic_credentials_is_invalid_request(app):
    raw = base64.b64encode(b"a\x00b:secret").decode()
    resp = app.test_client().post(
        "/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {raw}"}
    )
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_request"


def _database_down(*_args, **_kwargs):
    from sqlalchemy.exc import OperationalError

    raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_the_token_endpoint_answers_json_when_the_database_is_down(app, monkeypatch):
    from sicdoc.services import accounts

    monkeypatch.setattr(accounts, "issue_token", _database_down)
    form = {"grant_type": "client_credentials", "client_id": "a", "client_secret": "s"}
    resp = app.test_client().post("/auth/token", data=form)
    assert resp.status_code == 503 and resp.headers["Retry-After"]
    assert resp.get_json()["error"] == "temporarily_unavailable"


def test_the_token_endpoint_answers_json_when_the_audit_log_is_down(app, monkeypatch):
    from sicdoc.security import audit

    def broken(*_args, **_kwargs):
        raise audit.AuditUnavailable()

    monkeypatch.setattr(audit, "append", broken)
    monkeypatch.setattr(audit, "append_many", broken)
    resp = app.test_client().post("/auth/token", data={"grant_type": "password"})
    assert resp.status_code == 503
    assert resp.get_json()["error"] == "temporarily_unavailable"


def test_the_metrics_api_answers_json_when_the_database_or_audit_log_is_down(app, users, monkeypatch):
    from sicdoc.security import audit
    from sicdoc.services import accounts
    from tests.conftest import login

    analyst = app.test_client()
    assert login(analyst, "qi_analyst").status_code == 302
    monkeypatch.setattr(accounts, "current_user", _database_down)
    resp = analyst.get("/api/metrics")
    assert resp.status_code == 503 and resp.mimetype == "application/json", resp.get_data()[:200]
    assert resp.get_json()["error"]
    monkeypatch.undo()

    def broken(*_args, **_kwargs):
        raise audit.AuditUnavailable()

    clinician = app.test_client()
    assert login(clinician, "clinician").status_code == 302
    monkeypatch.setattr(audit, "append", broken)
    monkeypatch.setattr(audit, "append_many", broken)
    resp = clinician.get("/api/metrics")  # refused, and the refusal cannot be audited
    assert resp.status_code == 503 and resp.mimetype == "application/json", resp.get_data()[:200]
    assert resp.get_json()["error"]


def test_options_answers_fhir_json(client):
    for path in ("/fhir", "/fhir/", "/fhir/metadata", "/fhir/Patient", "/fhir/Patient/p1", "/fhir/_history"):
        resp = client.open(path, method="OPTIONS")
        assert resp.status_code == 200, resp.get_data()[:200]
        assert resp.mimetype == FHIR, path
        assert "GET" in resp.headers["Allow"] or "POST" in resp.headers["Allow"]
        body = resp.get_json()
        assert body["resourceType"] in ("CapabilityStatement", "OperationOutcome")
        if path in ("/fhir", "/fhir/"):
            assert body["resourceType"] == "CapabilityStatement"


def test_nul_in_conditional_criteria_is_400(client, app):
    before = table_counts(app)
    nul = "identifier=urn:x|a%00b"
    refused(send(client, "PUT", f"/fhir/Patient?{nul}", patient("Q-1")))
    refused(send(client, "POST", "/fhir/Patient", patient("Q-2"), headers={"If-None-Exist": nul}))
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": f"Patient?{nul}"},
    }
    refused(send(client, "POST", "/fhir", batch(post_entry(obs), kind="transaction")))
    entries = [
        post_entry(obs),
        {"resource": patient("Q-4"), "request": {"method": "POST", "url": "Patient", "ifNoneExist": nul}},
        {"resource": patient("Q-5"), "request": {"method": "PUT", "url": f"Patient?{nul}"}},
        {"request": {"method": "DELETE", "url": f"Patient?{nul}"}},
        {"request": {"method": "GET", "url": "Patient?name=a%00b"}},
    ]
    resp = send(client, "POST", "/fhir", batch(*entries))
    assert [e["response"]["status"][:3] for e in resp.get_json()["entry"]] == ["400"] * 5
    assert table_counts(app) == before


def test_a_value_the_database_refuses_is_400(client, app, monkeypatch):
    from sqlalchemy.exc import DataError

    from sicdoc.services import resources

    def refuses(*_args, **_kwargs):
        raise DataError("INSERT", {}, Exception("value out of range"))

    monkeypatch.setattr(resources, "create_resource", refuses)
    refused(send(client, "POST", "/fhir/Patient", patient("R-1")))
