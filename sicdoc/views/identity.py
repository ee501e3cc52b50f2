"""Who is acting on the clinician pages: the logged-in person, as the forms and notes name them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g


@dataclass(frozen=True)
class Clinician:
    id: str
    display: str
    # A known ``Practitioner/<id>``; without one, signing creates (or finds) a Practitioner by ``id``.
    practitioner_reference: str | None = None


def current_clinician() -> Clinician:
    """The logged-in clinician (the access rules admit only clinicians to these pages)."""
    user = g.user
    display = getattr(user, "display_name", None) or user.username
    return Clinician(id=user.username[:64], display=display)
