"""The synthetic population generator: determinism, valid FHIR, file layout and the command."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sicdoc import codes
from sicdoc.errors import InvalidInput
from sicdoc.fhir.validation import CONDITIONAL_REF_RE, validate_resource
from sicdoc.sample import generate, iter_patients, read_output, writer
from sicdoc.sample.command import generate_command

URN = re.compile(r'"(urn:uuid:[^"]+)"')
COND_REF = re.compile(r'"reference":"([A-Z][A-Za-z]+\?identifier=[^"]+)"')


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["bundles", "ndjson"])
def test_same_seed_gives_identical_bytes(tmp_path, fmt):
    first = generate(30, 7, tmp_path / "a", fmt)
    generate(30, 7, tmp_path / "b", fmt)
    assert hashes(tmp_path / "a") == hashes(tmp_path / "b")
    assert first.patients == 30 and first.bundles == 30 + first.duplicates
    assert len(list(read_output(tmp_path / "a"))) == first.bundles


def test_different_seed_differs(tmp_path):
    generate(30, 7, tmp_path / "a", "ndjson")
    generate(30, 8, tmp_path / "b", "ndjson")
    assert hashes(tmp_path / "a") != hashes(tmp_path / "b")


def test_every_resource_validates_and_every_reference_resolves():
    failures = []
    for _, bundle, _ in iter_patients(100, 3):
        assert bundle["type"] == "transaction"
        urls = {e["fullUrl"] for e in bundle["entry"]}
        text = json.dumps(bundle, separators=(",", ":"))
        assert set(URN.findall(text)) <= urls
        created = {f"{e['resource']['resourceType']}?{e['request']['ifNoneExist']}" for e in bundle["entry"]}
        # Conditional references to the shared world point at conditional creates in the same bundle.
        assert set(COND_REF.findall(text)) <= created
        for entry in bundle["entry"]:
            resource = entry["resource"]
            try:
                validate_resource(resource)
            except InvalidInput as exc:
                failures.append((resource["resourceType"], str(exc)))
            request = entry["request"]
            assert request["method"] == "POST" and request["url"] == resource["resourceType"]
            system, value = request["ifNoneExist"].removeprefix("identifier=").split("|", 1)
            identifiers = (
                resource["identifier"]
                if isinstance(resource["identifier"], list)
                else [resource["identifier"]]
            )
            assert {"system": system, "value": value} in [
                {k: i[k] for k in ("system", "value")} for i in identifiers
            ]
    assert failures == []


def test_patients_are_keyed_by_mrn_and_reference_shared_resources_conditionally():
    _, bundle, _ = next(iter_patients(1, 12))
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    assert patient["request"]["ifNoneExist"] == f"identifier={codes.MRN_SYSTEM}|12-0000000"
    org = patient["resource"]["managingOrganization"]
    assert CONDITIONAL_REF_RE.match(org["reference"]) and org["display"]
    shared = [
        e
        for e in bundle["entry"]
        if e["resource"]["resourceType"] in ("Organization", "Location", "Practitioner")
    ]
    assert shared and all(not e["fullUrl"].startswith("Organization?") for e in shared)


def test_bundle_folders_hold_at_most_the_configured_number_of_files(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "FILES_PER_FOLDER", 10)
    report = generate(25, 1, tmp_path / "out", "bundles")
    folders = sorted(p for p in (tmp_path / "out").iterdir())
    assert [p.name for p in folders][:3] == ["0000", "0001", "0002"]
    assert all(len(list(f.iterdir())) <= 10 for f in folders)
    assert sum(len(list(f.iterdir())) for f in folders) == report.files == report.bundles


def test_ndjson_files_hold_at_most_the_configured_number_of_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "LINES_PER_FILE", 7)
    report = generate(25, 1, tmp_path / "out", "ndjson")
    files = sorted((tmp_path / "out").iterdir())
    lines = [len(f.read_bytes().splitlines()) for f in files]
    assert max(lines) == 7 and sum(lines) == report.bundles and len(files) == report.files
    assert all(json.loads(line)["resourceType"] == "Bundle" for line in files[0].read_bytes().splitlines())


def test_refuses_a_non_empty_output_directory(tmp_path):
    (tmp_path / "old.json").write_text("{}")
    with pytest.raises(ValueError, match="not empty"):
        generate(5, 1, tmp_path, "bundles")


def test_command_prints_one_line_and_rejects_bad_arguments(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        generate_command,
        ["--patients", "5", "--seed", "2", "--out", str(tmp_path / "o"), "--format", "ndjson"],
    )
    assert ok.exit_code == 0, ok.output
    assert len(ok.output.strip().splitlines()) == 1 and "Generated 5 patients" in ok.output
    for args, fragment in (
        (["--patients", "0", "--out", str(tmp_path / "x")], "--patients"),
        (["--patients", "5", "--out", str(tmp_path / "x"), "--format", "xml"], "--format"),
        (["--patients", "5", "--out", str(tmp_path / "o")], "not empty"),
    ):
        bad = runner.invoke(generate_command, args)
        assert bad.exit_code != 0 and fragment in bad.output
