"""What a ``--jobs`` worker makes of a bundle read from a load file (``check_raw``)."""

from __future__ import annotations

import orjson

from sicdoc.services.raw_bundles import RawBundle, check_raw, patients_in, reread
from tests.web.fhir_helpers import patient


def _bundle(*resources: dict, ident: str | None = None) -> dict:
    bundle: dict = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000000{n}",
                "resource": resource,
                "request": {
                    "method": "POST",
                    "url": resource["resourceType"],
                    "ifNoneExist": "identifier=urn:oid:1.2.3|M-1",
                },
            }
            for n, resource in enumerate(resources)
        ],
    }
    if ident:
        bundle["identifier"] = {"system": "urn:example:extract", "value": ident}
    return bundle


def test_a_valid_bundle_comes_back_checked_with_its_criteria_and_receipt_key():
    raw = RawBundle("a.ndjson:1", orjson.dumps(_bundle(patient("M-1"), ident="run-7")))
    checked = check_raw(raw, max_entries=10)
    assert checked.checked and checked.problem is None and checked.data == raw.data
    assert checked.key is not None and checked.key[0] == "identifier:urn:example:extract|run-7"
    assert checked.criteria is not None and checked.criteria.plain
    assert checked.criteria.wanted == {"Patient": {("urn:oid:1.2.3", "M-1")}}
    assert patients_in(reread(checked)["entry"]) == 1


def test_a_bundle_that_cannot_load_comes_back_with_its_reason_and_nothing_else():
    not_json = check_raw(RawBundle("a.ndjson:2", b"{not json"), max_entries=10)
    assert not_json.checked and not_json.problem == "Body is not valid JSON"
    invalid = check_raw(RawBundle("a.ndjson:3", orjson.dumps(_bundle(patient("M-1", gender="F")))), 10)
    assert invalid.checked and "'F' is not an allowed code" in (invalid.problem or "")
    assert invalid.criteria is None and invalid.key is None
    too_many = check_raw(RawBundle("a.ndjson:4", orjson.dumps(_bundle(patient("M-1"), patient("M-2")))), 1)
    assert too_many.problem == "A bundle may hold at most 1 entries"


def test_a_bundle_already_refused_when_read_is_passed_through_unchecked():
    unreadable = RawBundle("gone.json", b"", problem="no such file or folder")
    assert check_raw(unreadable, max_entries=10) is unreadable
