"""Who signs the test conversations and what a complete one answers."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Doctor:
    id: str
    display: str
    practitioner_reference: str | None = None


ANA = Doctor("ana-lopez", "Dr Ana Lopez")
BEN = Doctor("ben-okafor", "Dr Ben Okafor")


def full_answers(**extra):
    return {
        "participants": ["patient", "family"],
        "permission": "agreed",
        "illness-understanding": ["knows-serious", "She says 'my heart is tired'"],
        "prognosis-shared": True,
        "prognosis-framing": "uncertain",
        "prognosis-comment": "Told her time may be short.",
        "goals": "Be at home with her dog",
        "recommendation": "Focus on comfort at home",
        "code-status": "dnr",
        "duration-minutes": 35,
        **extra,
    }
