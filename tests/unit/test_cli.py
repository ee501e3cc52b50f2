"""The command line's face of failures: one ``Error:`` line and exit status 1, no traceback."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sicdoc.cli import main


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/sicdoc", "Connection refused"),
        ("sqlite:///{tmp}/never-migrated.db", "no such table"),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_and_exit_1(tmp_path: Path, url: str, reason: str):
    """A server that is not there, or a database never migrated, once ended ``sicdoc load`` in a
    SQLAlchemy traceback."""
    url = url.format(tmp=tmp_path)
    bundles = tmp_path / "one.ndjson"
    patient = {"resourceType": "Patient", "name": [{"family": "Rivera"}]}
    entry = {"resource": patient, "request": {"method": "POST", "url": "Patient"}}
    bundles.write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": [entry]}) + "\n")
    result = CliRunner().invoke(
        main, ["--database-url", url, "load", "--quiet", str(bundles)], obj={"overrides": {"TESTING": True}}
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: database: "), result.output
    assert reason in lines[0] and "sqlalche.me" not in lines[0]
