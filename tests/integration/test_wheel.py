"""The wheel is enough to run sicdoc: built from the checkout and installed into a fresh virtual
environment, it migrates a database, loads bundles and starts with its default dashboards, run from a
folder that is not the checkout."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from sicdoc.migrate import alembic_config
from sicdoc.sample.writer import generate

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 3


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_the_package_list_names_every_package_of_the_checkout():
    """The packages are listed by hand, so a new subpackage must be added there or the wheel lacks it."""
    config = _setuptools_config()
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "sicdoc").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    for name, folder in config["package-dir"].items():
        found.add(name)
        found |= {
            ".".join((name, *sub.relative_to(ROOT / folder).parts))
            for sub in (ROOT / folder).rglob("*")
            if sub.is_dir() and "__pycache__" not in sub.parts and any(sub.glob("*.py"))
        }
    assert sorted(config["packages"]) == sorted(found)


def _pip(*args: str | Path, **env: str) -> None:
    """pip of this environment, offline."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--no-input", *map(str, args), "--no-index", "-q"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"pip {' '.join(map(str, args))}: {done.stdout}\n{done.stderr[-3000:]}"


def _build_wheel(tmp_path: Path) -> Path:
    # Build artefacts go to tmp_path, not build/ in the checkout, where stale files would outlive
    # their sources and reach later wheels.
    extra = tmp_path / "setup.cfg"
    (tmp_path / "egg").mkdir()
    extra.write_text(
        f"[build]\nbuild_base = {tmp_path / 'build'}\n[egg_info]\negg_base = {tmp_path / 'egg'}\n"
    )
    out = tmp_path / "dist"
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", out, ROOT, DIST_EXTRA_CONFIG=str(extra))
    (wheel,) = out.glob("sicdoc-*.whl")
    return wheel


def _install(wheel: Path, venv: Path) -> Path:
    """A fresh environment holding the wheel, which sees this environment's dependencies only."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Installed before the dependencies are made visible, so pip never sees (nor offers to replace)
    # the editable sicdoc of this environment.
    _pip("--python", python, "install", "--no-deps", wheel)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Plain path lines: the .pth files in those folders (the editable sicdoc's among them) are not run.
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    Path(site, "test-environment.pth").write_text("".join(f"{p}\n" for p in ours), encoding="utf-8")
    return python


@pytest.mark.slow
def test_a_wheel_install_migrates_loads_and_starts(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    # Every file of the package (code, value sets, the Questionnaire, templates, static files) ships...
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "sicdoc").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert source - names == set()
    # ...and so do the migrations and the default dashboards kept at the top of the checkout.
    assert {"sicdoc/_migrations/env.py", "sicdoc/_migrations/script.py.mako"} <= names
    dashboards = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("sicdoc/_dashboards/")) == dashboards
    migrations = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert (
        sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("sicdoc/_migrations/versions/"))
        == migrations
    )

    venv = tmp_path / "venv"
    python = _install(wheel, venv)
    work = tmp_path / "elsewhere"
    work.mkdir()
    database = tmp_path / "sicdoc.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SICDOC_") and k != "PYTHONPATH"}
    env.update(
        SICDOC_DATABASE_URL=f"sqlite:///{database}",
        SICDOC_BASE_URL="https://sicdoc.example.org",
        SICDOC_SECRET_KEY="wheel-test-secret-key-" + "s" * 16,
        SICDOC_AUDIT_KEY="wheel-test-audit-key-" + "a" * 16,
        PYTHONNOUSERSITE="1",
    )

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(a) for a in args], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr[-3000:]}"
        return done

    # The wheel's sicdoc, not the editable one of this environment.
    where = run(python, "-c", "import sicdoc; print(sicdoc.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(venv)

    assert "database is up to date" in run(venv / "bin" / "sicdoc", "migrate").stdout
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

    bundles = tmp_path / "bundles"
    generate(PATIENTS, 7, bundles, "ndjson")
    loaded = run(venv / "bin" / "sicdoc", "load", "--quiet", bundles)
    assert f"loaded {PATIENTS} bundles" in loaded.stdout and "0 rejected" in loaded.stdout

    with closing(sqlite3.connect(database)) as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(head,)]
        assert db.execute("select count(*) from patient_fact").fetchone() == (PATIENTS,)
        questionnaires = db.execute("select count(*) from resource where resource_type = 'Questionnaire'")
        assert questionnaires.fetchone() == (1,)

    started = run(
        python,
        "-c",
        "import json; from sicdoc.app import create_app; from sicdoc.migrate import MIGRATIONS; "
        "app = create_app(); boards = sorted(app.extensions['sicdoc.analytics'].definitions); "
        "print(json.dumps([str(MIGRATIONS), app.config['DASHBOARDS_DIR'], boards]))",
    )
    migrations_folder, dashboards_folder, boards = json.loads(started.stdout.splitlines()[-1])
    assert Path(migrations_folder).is_relative_to(venv) and Path(dashboards_folder).is_relative_to(venv)
    assert boards == sorted(json.loads(p.read_text())["id"] for p in (ROOT / "dashboards").glob("*.json"))
