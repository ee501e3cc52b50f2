"""Dashboard definitions: JSON data files naming the panels, their order, targets and thresholds.

    {"id": "qi-overview", "title": "...", "default_period_months": 24, "min_cell": 11,
     "panels": [{"id": "early-referral", "kind": "monthly", "title": "...",
                 "series": "referral_gt30d_before_death", "target": 0.5, "improvement": "increase"}]}

Every file in the folder is read and checked at start; any problem stops the app with the file and
the field at fault, so a typo never reaches an analyst as a broken chart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
IMPROVEMENT = ("increase", "decrease", "neutral")
# The panel kinds of sicdoc.analytics.panels, named here so that reading the definitions at start
# does not import the statistics stack (a test keeps the two lists equal).
KINDS = (
    "headline",
    "incidence",
    "bands",
    "bands_by_year",
    "monthly",
    "interval",
    "unit_funnel",
    "clinician_funnel",
    "strata",
    "quality",
)
PANEL_OPTIONS: dict[str, dict[str, Any]] = {
    "incidence": {"measure": ("referral", "sic")},
    "monthly": {"series": ("referred_within_90d", "referral_gt30d_before_death", "sic_gt30d_before_death")},
}
OPTIONAL = {"description", "target", "improvement", "run_chart_below", "hours", "days"}


class DefinitionError(ValueError):
    """A dashboard definition that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    description: str
    default_period_months: int
    min_cell: int
    panels: tuple[dict[str, Any], ...]
    source: Path

    def panel(self, panel_id: str) -> dict[str, Any] | None:
        return next((p for p in self.panels if p["id"] == panel_id), None)


def _fail(path: Path, where: str, message: str) -> DefinitionError:
    return DefinitionError(f"{path.name}: {where}: {message}")


def _int(path: Path, where: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(path, where, f"must be a whole number from {low} to {high}")
    return value


def _panel(path: Path, where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(path, where, "must be an object")
    for key in ("id", "kind", "title"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, f"{where}.{key}", "is required text")
    if not ID_RE.match(raw["id"]):
        raise _fail(path, f"{where}.id", "use lower-case letters, digits and hyphens")
    if raw["kind"] not in KINDS:
        raise _fail(
            path, f"{where}.kind", f"unknown kind {raw['kind']!r}; expected one of {', '.join(KINDS)}"
        )
    required = PANEL_OPTIONS.get(raw["kind"], {})
    for key, allowed in required.items():
        if raw.get(key) not in allowed:
            raise _fail(path, f"{where}.{key}", f"must be one of {', '.join(allowed)}")
    unknown = set(raw) - {"id", "kind", "title"} - set(required) - OPTIONAL
    if unknown:
        raise _fail(path, where, f"unknown fields {sorted(unknown)}")
    target = raw.get("target")
    if target is not None and (not isinstance(target, int | float) or isinstance(target, bool) or target < 0):
        raise _fail(path, f"{where}.target", "must be a non-negative number (a proportion for rates)")
    if raw.get("improvement", "increase") not in IMPROVEMENT:
        raise _fail(path, f"{where}.improvement", f"must be one of {', '.join(IMPROVEMENT)}")
    if "run_chart_below" in raw:
        _int(path, f"{where}.run_chart_below", raw["run_chart_below"], 2, 1000)
    if "hours" in raw and raw["hours"] not in (24, 48, 72):
        raise _fail(path, f"{where}.hours", "must be 24, 48 or 72")
    if "days" in raw and raw["days"] not in (30, 90, 180, 365):
        raise _fail(path, f"{where}.days", "must be 30, 90, 180 or 365")
    return dict(raw)


def parse_definition(path: Path, raw: Any) -> Dashboard:
    """Check one definition's content (already parsed JSON)."""
    if not isinstance(raw, dict):
        raise _fail(path, "top level", "must be an object")
    for key in ("id", "title"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, key, "is required text")
    if not ID_RE.match(raw["id"]):
        raise _fail(path, "id", "use lower-case letters, digits and hyphens")
    panels = raw.get("panels")
    if not isinstance(panels, list) or not panels:
        raise _fail(path, "panels", "must be a non-empty list")
    parsed = tuple(_panel(path, f"panels[{i}]", p) for i, p in enumerate(panels))
    ids = [p["id"] for p in parsed]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise _fail(path, "panels", f"panel ids repeat: {duplicates}")
    return Dashboard(
        id=raw["id"],
        title=raw["title"],
        description=str(raw.get("description", "")),
        default_period_months=_int(
            path, "default_period_months", raw.get("default_period_months", 12), 1, 600
        ),
        min_cell=_int(path, "min_cell", raw.get("min_cell", 11), 11, 1000),
        panels=parsed,
        source=path,
    )


def load_definitions(folder: Path) -> dict[str, Dashboard]:
    """Every ``*.json`` definition in ``folder`` by id; panel ids must be unique across them all
    (CSV downloads are addressed by panel id)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DefinitionError(f"dashboard folder {folder} does not exist")
    out: dict[str, Dashboard] = {}
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DefinitionError(f"{path.name}: not readable JSON ({exc})") from None
        board = parse_definition(path, raw)
        if board.id in out:
            raise _fail(path, "id", f"{board.id!r} is also the id of {out[board.id].source.name}")
        for panel in board.panels:
            if panel["id"] in seen:
                raise _fail(path, "panels", f"panel id {panel['id']!r} is also used in {seen[panel['id']]}")
            seen[panel["id"]] = path.name
        out[board.id] = board
    if not out:
        raise DefinitionError(f"no dashboard definitions (*.json) in {folder}")
    return out
