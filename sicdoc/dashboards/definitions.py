"""Dashboard definitions: JSON data files naming the panels, their order, targets and thresholds.

    {"id": "qi-overview", "title": "...", "default_period_months": 24, "min_cell": 11,
     "phases": [{"start": "2025-01-01", "label": "QI programme"}],
     "panels": [{"id": "early-referral", "kind": "monthly", "title": "...",
                 "series": "referral_gt30d_before_death", "target": 0.5, "improvement": "increase"}]}

Every file in the folder is read and checked at start; any problem stops the app with the file and
the field at fault, so a typo never reaches an analyst as a broken chart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sicdoc.analytics.phases import Phase
from sicdoc.errors import ConfigurationError
from sicdoc.schemas import Invalid, check
from sicdoc.schemas.dashboards import DashboardSchema


class DefinitionError(ConfigurationError):
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
    # Programme phases: control charts restart their centre line and limits at each start.
    phases: tuple[Phase, ...] = ()

    def panel(self, panel_id: str) -> dict[str, Any] | None:
        return next((p for p in self.panels if p["id"] == panel_id), None)


def _fail(path: Path, where: str, message: str) -> DefinitionError:
    return DefinitionError(f"{path.name}: {where}: {message}")


def parse_definition(path: Path, raw: Any) -> Dashboard:
    """Check one definition's content (already parsed JSON) against ``DashboardSchema``."""
    try:
        checked = check(DashboardSchema(), raw)
    except Invalid as exc:
        raise DefinitionError(f"{path.name}: {exc}") from None
    return Dashboard(
        id=checked["id"],
        title=checked["title"],
        description=checked["description"],
        default_period_months=checked["default_period_months"],
        min_cell=checked["min_cell"],
        panels=tuple(checked["panels"]),
        source=path,
        phases=tuple(Phase(p["start"], p["label"]) for p in checked["phases"]),
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
