"""The audit key comes from configuration, never from the database; demo mode keeps its own in the instance folder."""

import os
import stat

import pytest
from flask import Flask

from sicdoc.config import load_config

PRODUCTION = {"SECRET_KEY": "s" * 40, "BASE_URL": "https://sicdoc.example.org"}


@pytest.fixture(autouse=True)
def _no_sicdoc_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SICDOC_"):
            monkeypatch.delenv(name)


def _config(tmp_path, overrides=None):
    app = Flask("sicdoc", instance_path=str(tmp_path / "instance"))
    load_config(app, overrides)
    return app.config


def test_outside_demo_and_test_mode_the_key_is_required(tmp_path, monkeypatch):
    with pytest.raises(RuntimeError, match="SICDOC_AUDIT_KEY must be set outside demo and test mode"):
        _config(tmp_path, PRODUCTION)
    with pytest.raises(RuntimeError, match="at least 32 characters"):
        _config(tmp_path, {**PRODUCTION, "AUDIT_KEY": "short"})
    monkeypatch.setenv("SICDOC_AUDIT_KEY", "7" * 40)  # read as a number by from_prefixed_env
    assert _config(tmp_path, PRODUCTION)["AUDIT_KEY"] == "7" * 40
    assert not (tmp_path / "instance").exists()  # nothing is written outside demo mode


def test_tests_use_a_fixed_key(tmp_path):
    assert (
        _config(tmp_path, {"TESTING": True})["AUDIT_KEY"] == _config(tmp_path, {"TESTING": True})["AUDIT_KEY"]
    )


def test_demo_mode_makes_one_private_key_file_and_reuses_it(tmp_path):
    first = _config(tmp_path, {"DEMO": True})["AUDIT_KEY"]
    path = tmp_path / "instance" / "audit-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert _config(tmp_path, {"DEMO": True})["AUDIT_KEY"] == first  # the demo database outlives a restart
    assert [p.name for p in path.parent.iterdir()] == ["audit-key"]
    other = tmp_path / "other"
    assert _config(other, {"DEMO": True})["AUDIT_KEY"] != first
    configured = _config(tmp_path, {"DEMO": True, "AUDIT_KEY": "c" * 32})["AUDIT_KEY"]
    assert configured == "c" * 32
    path.write_text("\n")
    with pytest.raises(RuntimeError, match="does not hold an audit key"):
        _config(tmp_path, {"DEMO": True})
