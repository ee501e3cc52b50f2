"""Folders kept at the top of the repository that a wheel carries inside the package.

The migrations and the default dashboard definitions are edited where Alembic and operators expect
them (``migrations/``, ``dashboards/``); ``pyproject.toml`` maps them to ``sicdoc/_migrations`` and
``sicdoc/_dashboards`` in the wheel, so one rule finds them in a checkout and in an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_folder(name: str) -> Path:
    """``sicdoc/_<name>`` of an installed wheel, else ``<name>/`` beside the package in a checkout."""
    installed = _PACKAGE / f"_{name}"
    # The installed copy wins: beside a wheel's package is site-packages, where any "name" may exist.
    return installed if installed.is_dir() else _PACKAGE.parent / name
