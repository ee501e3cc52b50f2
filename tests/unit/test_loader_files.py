"""``sicdoc load`` reads every file once: the progress bar is sized from the file system in bytes."""

import json
from pathlib import Path

from sicdoc.errors import SicdocError
from sicdoc.loader import bundle_files, iter_bundles, total_bytes

BUNDLE = {"resourceType": "Bundle", "type": "transaction", "entry": []}


def test_each_file_is_read_once_and_progress_adds_up_to_its_size(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    line = json.dumps(BUNDLE) + "\n"
    (folder / "many.ndjson").write_text(line + "\n" + line, encoding="utf-8")
    (folder / "one.json").write_text(json.dumps(BUNDLE), encoding="utf-8")
    (folder / "notes.txt").write_text("not a bundle", encoding="utf-8")
    opened = []
    real_open = Path.open  # read_bytes opens through it too
    monkeypatch.setattr(
        Path, "open", lambda self, *a, **k: opened.append(self.name) or real_open(self, *a, **k)
    )

    files = bundle_files([folder])
    assert [p.name for p in files] == ["many.ndjson", "one.json"]
    assert opened == []  # sizing the bar reads nothing
    seen: list[int] = []
    bundles = list(iter_bundles(files, progress=seen.append))
    assert [label.rsplit("/", 1)[-1] for label, _ in bundles] == [
        "many.ndjson:1",
        "many.ndjson:3",
        "one.json",
    ]
    assert all(bundle == BUNDLE for _, bundle in bundles)
    assert sorted(opened) == ["many.ndjson", "one.json"]
    assert sum(seen) == total_bytes(files) == sum(p.stat().st_size for p in files)


def test_an_unreadable_file_is_reported_and_counts_no_bytes(tmp_path):
    missing = tmp_path / "gone.json"
    assert total_bytes([missing]) == 0
    [(label, error)] = list(iter_bundles([missing]))
    assert label == str(missing) and isinstance(error, SicdocError) and "cannot read file" in str(error)
