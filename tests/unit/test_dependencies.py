"""The runtime dependencies are what the package imports, and every one is under a permissive licence."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
# Declared though never imported by name: reached through a URL or a setting, not an import statement.
INDIRECT = {
    "psycopg": "the PostgreSQL driver SQLAlchemy loads for postgresql+psycopg:// URLs",
    "redis": "the client limits loads for a redis:// rate-limit storage",
}
# Weak copyleft accepted by name: used unmodified as a separately installed library.
ALLOWED = {
    "psycopg": "LGPL-3.0",
    "psycopg-binary": "LGPL-3.0 (with libpq under the PostgreSQL licence)",
}
# Licences a dependency of an Apache-2.0 product may carry (SPDX ids and the common spellings).
PERMISSIVE = re.compile(
    r"\b(MIT|BSD|Apache|ISC|PSF|Python Software Foundation|MPL-2\.0|Mozilla Public License 2\.0|"
    r"Unlicense|Zlib|CC0)\b",
    re.IGNORECASE,
)


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {_name(r) for r in project["dependencies"]}


def _imported() -> set[str]:
    modules = set()
    for path in (ROOT / "sicdoc").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    owners = packages_distributions()
    third_party = modules - set(sys.stdlib_module_names) - {"sicdoc"}
    return {_name(dist) for module in third_party for dist in owners.get(module, [module])}


def test_every_import_is_declared_and_every_declaration_imported():
    declared, imported = _declared(), _imported()
    assert not imported - declared, (
        f"imported by sicdoc but not declared in pyproject.toml: {imported - declared}"
    )
    unused = declared - imported - set(INDIRECT)
    assert not unused, f"declared in pyproject.toml but never imported: {unused}"


def _licence(dist_name: str) -> str:
    """The licence a distribution declares; else the first line of the licence file it ships."""
    dist = distribution(dist_name)
    meta = dist.metadata
    texts = [meta.get("License-Expression") or "", (meta.get("License") or "")[:200]]
    texts += [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if not any(texts):
        for file in dist.files or ():
            if "LICEN" in file.name.upper():
                texts.append((file.read_text(encoding="utf-8").strip().splitlines() or [""])[0])
                break
    return " | ".join(t for t in texts if t)


def _runtime_closure() -> set[str]:
    """Every distribution the runtime dependencies pull in, with the extras they ask for."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    seen: set[str] = set()
    todo = [Requirement(r) for r in project["dependencies"]]
    while todo:
        req = todo.pop()
        name = _name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.update({key, name})
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for raw in requires:
            dep = Requirement(raw)
            wanted = not dep.marker or any(dep.marker.evaluate({"extra": e}) for e in req.extras or {""})
            if wanted:
                todo.append(dep)
    return {n for n in seen if "[" not in n}


def test_every_runtime_dependency_has_a_permissive_licence():
    refused = {}
    for name in sorted(_runtime_closure()):
        try:
            licence = _licence(name)
        except PackageNotFoundError:
            continue  # a marker excluded it on this platform
        if name in ALLOWED:
            continue
        if not PERMISSIVE.search(licence) or re.search(r"\b(A|L)?GPL", licence):
            refused[name] = licence or "(no licence metadata)"
    assert not refused, f"runtime dependencies without a permissive licence: {refused}"


def _locked(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / f"{name}.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            dist, _, version = line.partition("==")
            pins[_name(dist)] = version.strip()
    return pins


def test_the_lock_files_pin_every_declared_dependency_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for lock, requirements in (
        ("runtime", project["dependencies"]),
        ("test", project["dependencies"] + project["optional-dependencies"]["test"]),
    ):
        pins = _locked(lock)
        for raw in requirements:
            req = Requirement(raw)
            name = _name(req.name)
            assert name in pins, f"{name} is declared but not in requirements/{lock}.lock: recompile it"
            assert req.specifier.contains(pins[name]), (
                f"requirements/{lock}.lock pins {name}=={pins[name]}, outside {req.specifier}: recompile it"
            )
