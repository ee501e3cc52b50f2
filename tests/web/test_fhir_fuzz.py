"""Generated requests thrown at the FHIR API: never a 5xx, every 4xx an OperationOutcome, a refusal changes nothing.

Two generators share the properties. A seeded one sends SICDOC_FUZZ_REQUESTS requests (10,000 by
default) per database: bodies, headers, search parameters, ids, cursors, bundle entries and Unicode.
Hypothesis mutates valid bodies and shrinks what it finds. Both take their seed from SICDOC_FUZZ_SEED
(by default the day's date, so each day's run differs and a failure can be replayed the same day);
the seed is printed and is in every assertion message:

    SICDOC_FUZZ_SEED=20261202 .venv/bin/pytest -q tests/web/test_fhir_fuzz.py -s
"""

import base64
import json
import os
import random
import time
from datetime import date
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import bearer_client
from tests.web.fhir_helpers import patient, table_counts

SEED = int(os.environ.get("SICDOC_FUZZ_SEED") or date.today().strftime("%Y%m%d"))
REQUESTS = int(os.environ.get("SICDOC_FUZZ_REQUESTS") or 10_000)
FHIR = "application/fhir+json"


@pytest.fixture
def app(database_url):
    """The usual test app; on PostgreSQL without waiting for each commit's flush to disk.

    Durability after a crash is all that changes (transactions, locks and errors are as ever), and
    the audit record of every refused request is a commit, so this keeps 10,000 requests quick.
    """
    from sicdoc.app import create_app

    url = database_url
    if url.startswith("postgresql"):
        url += ("&" if "?" in url else "?") + "options=-csynchronous_commit%3Doff"
    app = create_app({"TESTING": True, "DATABASE_URL": url, "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["sicdoc.engine"].dispose()


@pytest.fixture
def client(app):
    """Every request in this module carries a bearer token with every FHIR scope, audit search included."""
    return bearer_client(app, "system/*.* system/AuditEvent.read")


# ---- the seeded generator ----------------------------------------------------------------------

# Characters that have broken servers: NUL and controls, Unicode digits, right-to-left marks, astral
# characters, combining marks, and the separators FHIR search gives meaning to.
CHARS = "aZ09-._~ \x00\x01\x1f\x7f²٣１é\u0301\u202e\u2028\ufeff\U0001f600|,\\$:?&=/%#+'\"<>{}[]"
RAW_NUMBERS = [
    "9" * 5000,
    str(2**64 + 1),
    str(2**63),
    str(-(2**63) - 1),
    "1e999",
    "-1e999",
    "1e-999",
    "0.12345678901234567890",
    "1E400",
    "-0",
    "0.0",
    str(2**31),
    "1.5e3",
]
RAW_STRINGS = ['"\\ud800"', '"a\\udfffb"', '"\\u0000"', '"x\\u0000y"', '"\\ud83d\\ude00"', '"\\\\u0000"']
DATES = [
    "9999-12-31",
    "9999",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01",
    "0001-01-01T00:00:00+05:00",
    "0000-01-01",
    "10000-01-01",
    "2026-02-30",
    "2026-13-01",
    "2026-01-01T25:00:00Z",
    "2026-01-01T10:00:00+99:99",
    "2026-11-20",
    "2026",
    "٢٠٢٦-01-01",
    "2026-01-01T10:00:00.123456789Z",
    "",
]
IDS = [
    "fz-1",
    "fz-2",
    "A.b-3",
    "x" * 64,
    "x" * 65,
    "y" * 400,
    ".",
    "..",
    "a b",
    "a_b",
    "é",
    "a\x00b",
    "\x00",
    "²",
    "a/b",
    "%",
    "-",
]
VERSIONS = ["1", "2", "0", "²", "٣", "１", "-1", "x", "9" * 12, "9" * 5000, "2147483648", ""]
ETAGS = [
    'W/"1"',
    '"1"',
    "1",
    'W/"²"',
    'W/"٣"',
    "garbage",
    'W/"999999999999"',
    "",
    "*",
    'W/""',
    'W/"1", W/"2"',
]
TYPES = [
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "Immunization",
    "Bundle",
    "Nope",
    "patient",
]
SEARCH_NAMES = [
    "name",
    "family",
    "name:exact",
    "name:contains",
    "name:bogus",
    "birthdate",
    "date",
    "identifier",
    "code",
    "subject",
    "patient",
    "_id",
    "_lastUpdated",
    "_count",
    "_sort",
    "_total",
    "_summary",
    "_include",
    "_revinclude",
    "_cursor",
    "_since",
    "_type",
    "_format",
    "x",
    "",
    "a\x00",
]


class Fuzz:
    """Cheap, seeded generation of whole requests."""

    def __init__(self, rnd: random.Random):
        self.r = rnd
        self.raw: dict[str, str] = {}

    def pick(self, items):
        return items[self.r.randrange(len(items))]

    def text(self, most=12) -> str:
        return "".join(self.pick(CHARS) for _ in range(self.r.randrange(most + 1)))

    def number_text(self) -> str:
        r = self.r.random()
        if r < 0.4:
            return self.pick(VERSIONS)
        if r < 0.7:
            return str(self.r.randrange(-(10**6), 10**6))
        return self.text(4)

    def cursor(self) -> str:
        r = self.r.random()
        if r < 0.15:
            return self.text(20)
        if r < 0.3:
            return base64.urlsafe_b64encode(self.r.randbytes(self.r.randrange(1, 40))).decode()
        fields = self.pick(
            [("id", "key"), ("at", "type", "id", "v"), ("id",), ("key",), ("at", "type", "id"), ()]
        )
        data = {name: self.value() for name in fields}
        if self.r.random() < 0.5:
            plausible = {
                "id": "fz-1",
                "key": "2026-01-01T00:00:00+00:00",
                "at": "2026-01-01T00:00:00+00:00",
                "type": "Patient",
                "v": 1,
            }
            for name in fields:
                if self.r.random() < 0.7:
                    data[name] = plausible[name]
        doc = data if self.r.random() < 0.9 else self.value()
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    def value(self, depth: int = 0):
        """A JSON value, sometimes a placeholder for raw text JSON cannot otherwise hold."""
        r = self.r.random()
        if r < 0.12:
            token = f"@@raw{len(self.raw)}@@"
            self.raw[f'"{token}"'] = self.pick(RAW_NUMBERS + RAW_STRINGS)
            return token
        if r < 0.3:
            return self.text()
        if r < 0.4:
            return self.pick(DATES)
        if r < 0.5:
            return self.pick(IDS)
        if r < 0.6:
            return self.pick([None, True, False, 0, -1, 1.5, 2**31 - 1, 2**31, 10**18, "", [], {}])
        if r < 0.7:
            return self.r.randrange(-(10**9), 10**9)
        if depth < 3 and r < 0.85:
            return [self.value(depth + 1) for _ in range(self.r.randrange(3))]
        if depth < 3:
            return {self.pick(FIELDS): self.value(depth + 1) for _ in range(self.r.randrange(3))}
        return self.text()

    def mutate(self, doc):
        for _ in range(self.r.randrange(1, 4)):
            node = doc
            while isinstance(node, dict | list) and node and self.r.random() < 0.6:
                keys = list(node) if isinstance(node, dict) else range(len(node))
                child = node[self.pick(list(keys))]
                if not isinstance(child, dict | list):
                    break
                node = child
            if isinstance(node, dict):
                key = self.pick(list(node) or FIELDS) if self.r.random() < 0.6 else self.pick(FIELDS)
                node[key] = self.value()
            elif isinstance(node, list):
                node.append(self.value())
        return doc

    def resource(self) -> dict:
        kind = self.r.random()
        if kind < 0.5:
            doc = patient(f"FZ-{self.r.randrange(50)}", birthDate=self.pick([*DATES[:6], "1950-01-02"]))
        elif kind < 0.8:
            doc = {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "x"},
                "subject": {
                    "reference": self.pick(
                        [
                            f"Patient/{self.pick(IDS)}",
                            f"Patient?{self.params()}",
                            "Patient?identifier=urn:fz|1",
                        ]
                    )
                },
                "valueQuantity": {"value": 1.5},
                "effectiveDateTime": self.pick(DATES),
            }
        else:
            doc = {
                "resourceType": "Condition",
                "subject": {"reference": "Patient/fz-1"},
                "code": {"text": "y"},
                "identifier": [{"system": "urn:fz", "value": str(self.r.randrange(20))}],
            }
        if self.r.random() < 0.3:
            doc["id"] = self.pick(IDS)
        return self.mutate(doc) if self.r.random() < 0.8 else doc

    def entry(self) -> dict:
        resource = self.resource()
        method = self.pick(["POST", "PUT", "DELETE", "GET", "HEAD", "PATCH", "post", {}, [], None, 5])
        rtype = resource.get("resourceType") if isinstance(resource.get("resourceType"), str) else "Patient"
        url = self.pick(
            [
                rtype,
                f"{rtype}/{self.pick(IDS)}",
                f"{rtype}/{self.pick(IDS)}/_history/{self.pick(VERSIONS)}",
                f"{rtype}?identifier=urn:fz|{self.r.randrange(20)}",
                f"{rtype}?{self.params()}",
                self.text(),
                5,
                None,
            ]
        )
        request: dict = {"method": method, "url": url}
        if self.r.random() < 0.3:
            request["ifMatch"] = self.pick([*ETAGS, {}, 5, None])
        if self.r.random() < 0.2:
            request["ifNoneExist"] = self.pick(["identifier=urn:fz|1", "", "=|", {}, self.params()])
        entry: dict = {"request": request}
        if self.r.random() < 0.85:
            entry["resource"] = resource
        if self.r.random() < 0.7:
            entry["fullUrl"] = self.pick(
                [f"urn:uuid:{self.r.randbytes(16).hex()}", [], {}, 5, "", "Patient/x y", "urn:uuid:dup"]
            )
        return self.mutate(entry) if self.r.random() < 0.2 else entry

    def bundle(self) -> dict:
        doc = {
            "resourceType": "Bundle",
            "type": self.pick(["transaction", "batch", "batch", "collection", 5]),
            "entry": [self.entry() for _ in range(self.r.randrange(4))],
        }
        return self.mutate(doc) if self.r.random() < 0.15 else doc

    def params(self) -> str:
        pairs = []
        for _ in range(self.r.randrange(4)):
            name = self.pick(SEARCH_NAMES)
            r = self.r.random()
            if name in ("_count", "_summary", "_total"):
                value = self.number_text() if r < 0.8 else self.pick(["count", "none", "accurate", "x"])
            elif name == "_cursor":
                value = self.cursor()
            elif name in ("birthdate", "date", "_lastUpdated", "_since"):
                value = self.pick(["", "eq", "ge", "lt", "ne", "sa", "xx"]) + self.pick(DATES)
            elif name in ("_sort",):
                value = self.pick(["birthdate", "-birthdate", "_id", "-_id", "_lastUpdated", "name", "x"])
            elif name in ("_include", "_revinclude"):
                value = self.pick(
                    ["Observation:subject", "Patient:x", "Observation:subject:Patient", "a:b:c:d"]
                )
            elif name in ("_id", "subject", "patient"):
                value = self.pick(IDS) if r < 0.7 else f"Patient/{self.pick(IDS)}"
            else:
                value = self.text()
            pairs.append((name, value))
        return urlencode(pairs)

    def body_bytes(self, doc) -> bytes:
        self.raw = {}
        text = json.dumps(doc, ensure_ascii=self.r.random() < 0.5)
        for token, raw in self.raw.items():
            text = text.replace(token, raw)
        return text.encode("utf-8", "surrogatepass")

    def request(self) -> tuple[str, str, bytes | None, dict[str, str]]:
        """(method, path, body, headers)."""
        rid = quote(self.pick(IDS), safe="")
        rtype = quote(self.pick(TYPES), safe="")
        headers: dict[str, str] = {}
        body: bytes | None = None
        kind = self.r.random()
        if kind < 0.25:
            method, path = "POST", "/fhir"
            body = self.body_bytes(self.bundle())
        elif kind < 0.42:
            method, path = "POST", f"/fhir/{rtype}"
            body = self.body_bytes(self.resource())
        elif kind < 0.5:
            method = "PUT"
            path = self.pick(
                [f"/fhir/{rtype}/{rid}", f"/fhir/Patient?identifier=urn:oid:1.2.3|FZ-{self.r.randrange(9)}"]
            )
            doc = self.resource()
            if self.r.random() < 0.5:
                doc["id"] = self.pick(IDS)
            body = self.body_bytes(doc)
        elif kind < 0.75:
            # The audit log grows with every refusal, so its search is asked rarely.
            searched = self.pick(["Patient", "Observation", rtype] if kind < 0.74 else ["AuditEvent"])
            method, path = "GET", f"/fhir/{searched}?{self.params()}"
        elif kind < 0.82:
            method = "GET"
            path = self.pick(["/fhir/_history", f"/fhir/{rtype}/_history", f"/fhir/Patient/{rid}/_history"])
            path += f"?{self.params()}"
        elif kind < 0.9:
            method = "GET"
            path = self.pick(
                [
                    f"/fhir/{rtype}/{rid}",
                    f"/fhir/{rtype}/{rid}/_history/{quote(self.pick(VERSIONS), safe='')}",
                    f"/fhir/Patient/{rid}/$everything?{self.params()}",
                    "/fhir/metadata",
                ]
            )
        elif kind < 0.94:
            method, path = "POST", f"/fhir/{rtype}/_search"
            body = self.params().encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif kind < 0.97:
            method, path = "DELETE", f"/fhir/{rtype}/{rid}"
        else:
            method = "OPTIONS"
            path = self.pick(["/fhir", "/fhir/", f"/fhir/{rtype}", f"/fhir/{rtype}/{rid}", "/fhir/metadata"])
        if body is not None and "Content-Type" not in headers:
            headers["Content-Type"] = (
                FHIR if self.r.random() < 0.9 else self.pick(["application/json", "text/plain", ""])
            )
        if method in ("PUT", "POST") and self.r.random() < 0.15:
            headers["If-Match"] = self.pick(ETAGS)
        if method == "POST" and self.r.random() < 0.1:
            headers["If-None-Exist"] = self.pick(
                ["identifier=urn:oid:1.2.3|FZ-1", "bogus", "", "=|", self.params()]
            )
        if self.r.random() < 0.1:
            headers["Prefer"] = self.pick(
                ["return=minimal", "return=OperationOutcome", "handling=strict", "x"]
            )
        if body is not None and self.r.random() < 0.05:
            body = body[: self.r.randrange(len(body) + 1)]  # cut short
        return method, path, body, headers


FIELDS = [
    "resourceType",
    "type",
    "entry",
    "id",
    "gender",
    "birthDate",
    "name",
    "identifier",
    "request",
    "resource",
    "fullUrl",
    "method",
    "url",
    "ifMatch",
    "valueQuantity",
    "value",
    "meta",
    "contained",
    "text",
    "extension",
    "x",
    "\x00",
    "é",
]


def _seed_some(client) -> None:
    for rid in ("fz-1", "fz-2", "A.b-3"):
        client.put(
            f"/fhir/Patient/{rid}",
            data=json.dumps({**patient(rid), "id": rid}),
            headers={"Content-Type": FHIR},
        )


def _check(resp, method: str, path: str, body: bytes | None, headers: dict, where: str) -> None:
    shown = f"{where}: {method} {path} {headers} {(body or b'')[:300]!r} -> {resp.status_code} {resp.get_data()[:300]!r}"
    assert resp.status_code < 500, shown
    if resp.status_code >= 400:
        assert resp.mimetype == FHIR, shown
        assert resp.get_json()["resourceType"] == "OperationOutcome", shown
    elif method == "POST" and path == "/fhir" and resp.status_code == 200:
        for entry in resp.get_json().get("entry") or []:
            status = str((entry or {}).get("response", {}).get("status", ""))
            assert not status.startswith("5"), shown


@pytest.mark.parametrize("fuzz_seed", [SEED], ids=lambda s: f"seed={s}")
def test_generated_requests(app, client, fuzz_seed):
    """The seed is in the test's id, its output and every assertion message."""
    print(f"\nFHIR fuzz: SICDOC_FUZZ_SEED={fuzz_seed}, {REQUESTS} requests")
    rnd = random.Random(fuzz_seed)
    fuzz = Fuzz(rnd)
    _seed_some(client)
    counts = table_counts(app)
    started = time.monotonic()
    for i in range(REQUESTS):
        method, path, body, headers = fuzz.request()
        resp = client.open(path, method=method, data=body, headers=headers)
        where = f"SICDOC_FUZZ_SEED={fuzz_seed} request {i}"
        _check(resp, method, path, body, headers, where)
        if resp.status_code >= 400:
            assert table_counts(app) == counts, f"{where}: a refused {method} {path} changed the database"
        elif method not in ("GET", "OPTIONS"):
            counts = table_counts(app)
    print(f"FHIR fuzz: {REQUESTS} requests in {time.monotonic() - started:.1f} s")


# ---- Hypothesis: mutated valid documents, shrunk when something fails -----------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
VALID_PATIENT = patient("FZ-1")
VALID_BUNDLE = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {
            "fullUrl": "urn:uuid:6f1e4c2a-1b7d-4c1e-9a57-3d6f0c9a1f00",
            "resource": patient("FZ-2"),
            "request": {"method": "POST", "url": "Patient"},
        }
    ],
}


@st.composite
def mutated(draw, base):
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        node = doc
        while isinstance(node, dict | list) and draw(st.booleans()):
            keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            child = node[draw(st.sampled_from(keys))]
            if not isinstance(child, dict | list):
                break
            node = child
        if isinstance(node, dict):
            node[draw(st.sampled_from(FIELDS))] = draw(json_values)
        elif isinstance(node, list):
            node.append(draw(json_values))
    return doc


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated(VALID_PATIENT).map(lambda v: json.dumps(v).encode()),
    mutated(VALID_BUNDLE).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"[" * 3000 + b"]" * 3000, b'{"a": NaN}', b'{"a":1,"a":2}', b"\xff\xfe\x00"]),
)
headers = st.fixed_dictionaries(
    {"Content-Type": st.sampled_from(["application/fhir+json", "application/json", "text/plain", "", "x/y"])},
    optional={
        "If-Match": st.sampled_from(['W/"1"', "1", "garbage", 'W/"999999999999"', "", 'W/"²"']),
        "If-None-Exist": st.sampled_from(["identifier=urn:oid:1.2.3|FZ-1", "family=x", "bogus", "", "=|"]),
        "Prefer": st.sampled_from(["return=minimal", "return=OperationOutcome", "handling=strict", "x"]),
    },
)
targets = st.sampled_from(
    [
        ("POST", "/fhir"),
        ("POST", "/fhir/Patient"),
        ("POST", "/fhir/Observation"),
        ("PUT", "/fhir/Patient/fz-fixed"),
        ("PUT", "/fhir/Patient?identifier=urn:oid:1.2.3|FZ-3"),
        ("POST", "/fhir/Patient/_search"),
    ]
)


@seed(SEED)
@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(target=targets, body=bodies, head=headers)
def test_no_5xx_and_refusals_change_nothing(app, client, target, body, head):
    method, path = target
    before = table_counts(app)
    resp = client.open(path, method=method, data=body, headers=head)
    _check(resp, method, path, body, head, f"SICDOC_FUZZ_SEED={SEED}")
    if resp.status_code >= 400:
        assert table_counts(app) == before, f"SICDOC_FUZZ_SEED={SEED}: a refused request changed the database"
