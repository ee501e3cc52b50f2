"""Plotly figures from the suppressed panel tables: one builder per chart module, ``panels`` to turn a
dashboard panel into its figures, ``html`` for self-contained pages. No web or database.

The package itself imports nothing heavy, so the web app can find plotly.js without loading plotly.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path


def plotly_js_path() -> Path:
    """The plotly.js bundle that ships with the plotly package (same version as the figures)."""
    return plotly_data("plotly.min.js")


def plotly_data(*parts: str) -> Path:
    """A file of the plotly package's own data (its scripts, its templates), found without importing it."""
    spec = find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the plotly package is not installed")
    return Path(spec.origin).parent.joinpath("package_data", *parts)
