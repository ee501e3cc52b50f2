"""Who is acting. The one place the forms ask; log-in will replace the body of ``current_clinician``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app


@dataclass(frozen=True)
class Clinician:
    id: str
    display: str
    # A known ``Practitioner/<id>``; without one, signing creates (or finds) a Practitioner by ``id``.
    practitioner_reference: str | None = None


def current_clinician() -> Clinician:
    """For now the demo clinician named by ``SICDOC_DEMO_CLINICIAN``."""
    display = str(current_app.config.get("DEMO_CLINICIAN") or "Dr Demo").strip() or "Dr Demo"
    return Clinician(id=_slug(display), display=display)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:64] or "clinician"
