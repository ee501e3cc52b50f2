"""Instance and type interactions: update with If-Match, delete, history, conditional writes, search."""

import itertools

import pytest

from sicdoc.store import search as store_search
from tests.web.fhir_helpers import every_page, patient, send, table_counts


@pytest.fixture
def client(fhir_client):
    """Every request in this module carries a bearer token with every FHIR scope."""
    return fhir_client


def create(client, resource, headers=None):
    resp = send(client, "POST", f"/fhir/{resource['resourceType']}", resource, headers)
    assert resp.status_code in (200, 201), resp.get_json()
    return resp


def test_update_honours_if_match_and_keeps_history(client):
    created = create(client, patient("U-1")).get_json()
    pid = created["id"]
    body = {**created, "gender": "male"}
    ok = send(client, "PUT", f"/fhir/Patient/{pid}", body, {"If-Match": 'W/"1"'})
    assert ok.status_code == 200
    assert ok.headers["ETag"] == 'W/"2"'
    assert ok.get_json()["meta"]["versionId"] == "2"
    stale = send(client, "PUT", f"/fhir/Patient/{pid}", {**body, "gender": "other"}, {"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert stale.get_json()["resourceType"] == "OperationOutcome"
    assert send(client, "GET", f"/fhir/Patient/{pid}").get_json()["gender"] == "male"
    hist = send(client, "GET", f"/fhir/Patient/{pid}/_history").get_json()
    assert hist["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in hist["entry"]] == ["2", "1"]


def test_update_with_mismatched_id_is_refused(client):
    pid = create(client, patient("U-2")).get_json()["id"]
    resp = send(client, "PUT", f"/fhir/Patient/{pid}", {**patient("U-2"), "id": "other"})
    assert resp.status_code == 400


def test_delete_is_soft_read_gives_410_and_history_stays(client):
    pid = create(client, patient("D-1")).get_json()["id"]
    assert send(client, "DELETE", f"/fhir/Patient/{pid}").status_code == 204
    assert send(client, "GET", f"/fhir/Patient/{pid}").status_code == 410
    assert send(client, "GET", f"/fhir/Patient/{pid}/_history/1").status_code == 200
    hist = send(client, "GET", f"/fhir/Patient/{pid}/_history").get_json()
    assert hist["entry"][0]["request"]["method"] == "DELETE"
    search = send(client, "GET", "/fhir/Patient?identifier=urn:oid:1.2.3|D-1").get_json()
    assert search["total"] == 0


def test_conditional_create_finds_the_existing_resource(client, app):
    first = create(client, patient("C-1"), {"If-None-Exist": "identifier=urn:oid:1.2.3|C-1"})
    assert first.status_code == 201
    second = create(client, patient("C-1"), {"If-None-Exist": "identifier=urn:oid:1.2.3|C-1"})
    assert second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"]
    assert table_counts(app)["resource"] == 1


def test_conditional_create_with_two_matches_is_412(client):
    create(client, patient("M-1", family="Same"))
    create(client, patient("M-2", family="Same"))
    resp = send(client, "POST", "/fhir/Patient", patient("M-3"), {"If-None-Exist": "family=Same"})
    assert resp.status_code == 412


def test_plain_create_of_a_taken_identifier_is_409(client, app):
    """In a system configured unique (the sample MRN system is, by default)."""
    mrn = patient("X-1", identifier=[{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "X-1"}])
    create(client, mrn)
    resp = send(client, "POST", "/fhir/Patient", mrn)
    assert resp.status_code == 409
    assert "If-None-Exist" in resp.get_json()["issue"][0]["diagnostics"]
    assert table_counts(app)["resource"] == 1


def test_conditional_update_creates_then_updates(client):
    url = "/fhir/Patient?identifier=urn:oid:1.2.3|P-9"
    made = send(client, "PUT", url, patient("P-9"))
    assert made.status_code == 201
    again = send(client, "PUT", url, patient("P-9", gender="male"))
    assert again.status_code == 200
    assert again.get_json()["id"] == made.get_json()["id"]
    assert again.get_json()["meta"]["versionId"] == "2"


@pytest.mark.parametrize(
    ("choice", "check"),
    [
        ("return=minimal", lambda r: r.data == b""),
        ("return=representation", lambda r: r.get_json()["resourceType"] == "Patient"),
        ("return=OperationOutcome", lambda r: r.get_json()["resourceType"] == "OperationOutcome"),
    ],
)
def test_prefer_return(client, choice, check):
    resp = send(client, "POST", "/fhir/Patient", patient("R-1"), {"Prefer": choice})
    assert resp.status_code == 201
    assert resp.headers["Location"]
    assert check(resp)


def test_search_by_identifier_name_birthdate_and_paging(client):
    for i in range(7):
        create(client, patient(f"S-{i}", family=f"Fam{i % 2}", birthDate=f"19{50 + i}-06-01"))
    by_id = send(client, "GET", "/fhir/Patient?identifier=urn:oid:1.2.3|S-3").get_json()
    assert by_id["total"] == 1
    fam = send(client, "GET", "/fhir/Patient?family=fam1").get_json()
    assert fam["total"] == 3
    born = send(client, "GET", "/fhir/Patient?birthdate=ge1953-01-01&birthdate=lt1956").get_json()
    assert born["total"] == 3
    seen, url, pages = [], "/fhir/Patient?_count=3", 0
    while url:
        page = send(client, "GET", url).get_json()
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        url = nxt[0].split("http://localhost", 1)[-1] if nxt else None
        pages += 1
        if pages == 1:
            # A patient created between pages must not shift the next page.
            create(client, patient("S-late"))
    assert pages >= 3
    assert len(seen) == len(set(seen))
    assert len(seen) >= 7
    # Paging a search with a criterion: the matches go first, each page past the last id.
    ids = every_page(client, "/fhir/Patient?family=fam1&_count=1")
    assert len(ids) == 3 and ids == sorted(set(ids))


def test_search_sort_and_summary_count(client):
    for i, year in enumerate((1960, 1940, 1950)):
        create(client, patient(f"O-{i}", birthDate=f"{year}-01-01"))
    asc = send(client, "GET", "/fhir/Patient?_sort=birthdate").get_json()
    assert [e["resource"]["birthDate"][:4] for e in asc["entry"]] == ["1940", "1950", "1960"]
    desc = send(client, "GET", "/fhir/Patient?_sort=-birthdate&_count=2").get_json()
    assert [e["resource"]["birthDate"][:4] for e in desc["entry"]] == ["1960", "1950"]
    count = send(client, "GET", "/fhir/Patient?_summary=count").get_json()
    assert count["total"] == 3
    assert "entry" not in count


def test_unknown_search_parameters_are_reported_or_refused(client):
    lenient = send(client, "GET", "/fhir/Patient?shoe-size=9").get_json()
    outcomes = [e for e in lenient.get("entry", []) if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    strict = send(client, "GET", "/fhir/Patient?shoe-size=9", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


def test_post_search_equals_get_search(client):
    create(client, patient("PS-1", family="Postsearch"))
    resp = client.post(
        "/fhir/Patient/_search", data="family=postsearch", content_type="application/x-www-form-urlencoded"
    )
    assert resp.status_code == 200
    assert resp.get_json()["total"] == 1


def test_everything_returns_the_patients_compartment(client):
    pid = create(client, patient("E-1")).get_json()["id"]
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.9"}]},
    }
    create(client, condition)
    body = send(client, "GET", f"/fhir/Patient/{pid}/$everything").get_json()
    assert sorted(e["resource"]["resourceType"] for e in body["entry"]) == ["Condition", "Patient"]


def test_a_total_past_the_counted_limit_is_left_out_unless_asked_for(client, monkeypatch):
    """Counting every match of a broad search (half the patients for ``birthdate=ge``) took seconds
    at a hospital's size: past the limit the total is left out, and ``_total=accurate`` counts."""
    monkeypatch.setattr(store_search, "TOTAL_COUNTED_UP_TO", 2)
    for i in range(3):
        create(client, patient(f"T-{i}", family="Counted"))
    broad = send(client, "GET", "/fhir/Patient?family=Counted").get_json()
    assert "total" not in broad and len(broad["entry"]) == 3
    paged = send(client, "GET", "/fhir/Patient?family=Counted&_count=1").get_json()
    assert "total" not in paged and any(link["relation"] == "next" for link in paged["link"])
    assert send(client, "GET", "/fhir/Patient?family=Counted&_total=accurate").get_json()["total"] == 3
    assert send(client, "GET", "/fhir/Patient?family=Counted&_summary=count").get_json()["total"] == 3
    assert "total" not in send(client, "GET", "/fhir/Patient?family=Counted&_total=none").get_json()
    monkeypatch.setattr(store_search, "TOTAL_COUNTED_UP_TO", 3)  # at the limit it is still counted
    assert send(client, "GET", "/fhir/Patient?family=Counted").get_json()["total"] == 3


def _ways(windows: list[tuple[int, tuple[list, bool]]]) -> set[str]:
    """How each page of a broad search was read, from its windows in turn (how widened, what came
    back): a first window whole, one widened after it whole, or else the index."""
    ways = set()
    for n, (widened, (_, whole)) in enumerate(windows):
        if widened > 1:
            ways.add("widened window" if whole else "index")
        elif whole:
            ways.add("window")
        elif n + 1 == len(windows) or windows[n + 1][0] == 1:
            ways.add("index")  # short, and not worth widening
    return ways


def test_a_broad_search_pages_from_a_window_in_id_order_and_falls_back_where_matches_thin(
    client, monkeypatch
):
    """A search matching many resources fills its pages by probing the first resources in id order;
    where matches thin out past the window it tries one wider, and past that it reads them from the
    index. Every way, every live match comes once, in id order, deleted ones never."""
    monkeypatch.setattr(store_search, "TOTAL_COUNTED_UP_TO", 3)
    monkeypatch.setattr(store_search, "WINDOW_PER_ROW", 2)
    monkeypatch.setattr(store_search, "WINDOW_WIDENED", 4)
    windows = []
    real = store_search._in_window

    def recorded(*args, **kwargs):  # type: ignore[no-untyped-def]
        windows.append((kwargs.get("widened", 1), found := real(*args, **kwargs)))
        return found

    monkeypatch.setattr(store_search, "_in_window", recorded)
    # Dense at first (every other patient born after 1960), thin after (one in six), a few deleted.
    made = []
    for i in range(40):
        born = "1970-05-06" if (i % 2 == 0 if i < 16 else i % 6 == 0) else "1940-05-06"
        sex = "male" if i % 4 < 2 else "female"
        made.append(
            (create(client, patient(f"W-{i}", birthDate=born, gender=sex)).get_json()["id"], born, sex)
        )
    for pid, _, _ in made[8:40:9]:
        assert send(client, "DELETE", f"/fhir/Patient/{pid}").status_code in (200, 204)
    gone = {pid for pid, _, _ in made[8:40:9]}
    young = sorted(pid for pid, born, _ in made if born > "1960" and pid not in gone)
    assert every_page(client, "/fhir/Patient?birthdate=ge1960-01-01&_count=2") == young
    assert _ways(windows) >= {"window", "widened window", "index"}  # every way was taken
    # Widened only after a window that saw enough matches for the wider one to hold two pages' worth.
    pairs = itertools.pairwise(windows)
    assert all(len(found) * 4 >= 2 * 3 for (w, (found, _)), (then, _) in pairs if w == 1 and then > 1)
    first = send(client, "GET", "/fhir/Patient?birthdate=ge1960-01-01&_count=2").get_json()
    assert "total" not in first
    accurate = "/fhir/Patient?birthdate=ge1960-01-01&_total=accurate&_count=2"
    assert send(client, "GET", accurate).get_json()["total"] == len(young)
    young_men = sorted(pid for pid, born, sex in made if born > "1960" and sex == "male" and pid not in gone)
    assert every_page(client, "/fhir/Patient?birthdate=ge1960-01-01&gender=male&_count=3") == young_men
    # A criterion with few index rows goes to the index at once.
    windows.clear()
    only = send(client, "GET", "/fhir/Patient?identifier=urn:oid:1.2.3|W-2,urn:oid:1.2.3|W-4").get_json()
    assert sorted(e["resource"]["id"] for e in only["entry"]) == sorted([made[2][0], made[4][0]])
    assert windows == [] and only["total"] == 2


def test_a_search_on_one_code_pages_in_id_order_each_match_once(client):
    """A one-code search is read along its index in id order; a resource carrying the code twice
    (two codings) still comes once, and the other criteria still filter."""
    owner = create(client, patient("C-1")).get_json()["id"]
    other = create(client, patient("C-2")).get_json()["id"]
    twice = {
        "coding": [
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.9"},
            {"system": "urn:example:local-codes", "code": "I50.9"},
        ]
    }
    ids = set()
    for subject in (owner, owner, other, owner):
        condition = {
            "resourceType": "Condition",
            "code": twice,
            "subject": {"reference": f"Patient/{subject}"},
        }
        ids.add(create(client, condition).get_json()["id"])
    assert every_page(client, "/fhir/Condition?code=I50.9&_count=1") == sorted(ids)
    whole = send(client, "GET", "/fhir/Condition?code=I50.9").get_json()
    assert [e["resource"]["id"] for e in whole["entry"]] == sorted(ids)
    assert whole["total"] == len(ids)
    # Counted from the code's index rows alone: a deleted resource has none left to count.
    extra = {"resourceType": "Condition", "code": twice, "subject": {"reference": f"Patient/{other}"}}
    gone = create(client, extra).get_json()["id"]
    assert send(client, "GET", "/fhir/Condition?code=I50.9").get_json()["total"] == len(ids) + 1
    assert send(client, "DELETE", f"/fhir/Condition/{gone}").status_code in (200, 204)
    after = send(client, "GET", "/fhir/Condition?code=I50.9").get_json()
    assert after["total"] == len(ids) and gone not in [e["resource"]["id"] for e in after["entry"]]
    mine = send(client, "GET", f"/fhir/Condition?code=I50.9&subject=Patient/{owner}").get_json()
    assert mine["total"] == 3 and len(mine["entry"]) == 3
    by_system = send(client, "GET", "/fhir/Condition?code=urn:example:local-codes|I50.9&_count=2").get_json()
    assert [e["resource"]["id"] for e in by_system["entry"]] == sorted(ids)[:2]


def test_a_code_search_beside_a_token_criterion_many_resources_match(client, monkeypatch):
    """``Condition?code=I10&clinical-status=active``: walked along the code, with the status, which
    matches many, probed on each condition met. Both read the token index, and the probe once lost its
    own table to the walk's (a 500)."""
    monkeypatch.setattr(store_search, "TOTAL_COUNTED_UP_TO", 2)
    owner = create(client, patient("K-1")).get_json()["id"]

    def condition(code: str, status: str) -> str:
        made = {
            "resourceType": "Condition",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}
                ]
            },
            "subject": {"reference": f"Patient/{owner}"},
        }
        return str(create(client, made).get_json()["id"])

    active = sorted(condition("I10", "active") for _ in range(3))
    condition("I10", "resolved")
    condition("E11.9", "active")
    url = "/fhir/Condition?code=I10&clinical-status=active"
    assert every_page(client, url + "&_count=2") == active
    assert send(client, "GET", url + "&_total=accurate").get_json()["total"] == 3
    assert send(client, "GET", url + "&_summary=count").get_json()["total"] == 3
    both = send(client, "GET", "/fhir/Condition?code=I10&clinical-status=active,resolved").get_json()
    assert len(both["entry"]) == 4


@pytest.mark.parametrize(("limit", "total"), [(2, None), (3, 3), (10, 3)])
def test_a_one_code_search_counts_each_resource_once_up_to_the_limit(client, monkeypatch, limit, total):
    """Counted along the code's index, a resource carrying the code in two codings still counts once,
    at, below and past the limit."""
    monkeypatch.setattr(store_search, "TOTAL_COUNTED_UP_TO", limit)
    owner = create(client, patient("D-1")).get_json()["id"]
    twice = {
        "coding": [
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C34.90"},
            {"system": "urn:example:local-codes", "code": "C34.90"},
        ]
    }
    for _ in range(3):
        create(
            client, {"resourceType": "Condition", "code": twice, "subject": {"reference": f"Patient/{owner}"}}
        )
    found = send(client, "GET", "/fhir/Condition?code=C34.90").get_json()
    assert found.get("total") == total and len(found["entry"]) == 3
