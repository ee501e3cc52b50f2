"""Who is acting on the clinician pages: the logged-in person, as the forms and notes name them."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

from sicdoc.db import get_session
from sicdoc.services import practitioners


@dataclass(frozen=True)
class Clinician:
    id: str
    display: str
    # A known ``Practitioner/<id>``; without one, signing creates (or finds) a Practitioner by ``id``.
    practitioner_reference: str | None = None


def current_clinician() -> Clinician:
    """The logged-in clinician (the access rules admit only clinicians to these pages), named as their
    Practitioner is: "Ada Okafor, MD (Palliative care)", or the login name until one is recorded."""
    username = g.user.username
    reference, display = practitioners.identity(get_session(), username)
    return Clinician(
        id=practitioners.clinician_key(username), display=display, practitioner_reference=reference
    )
