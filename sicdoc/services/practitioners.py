"""The person behind a clinician account, as FHIR knows them: a Practitioner and its PractitionerRole.

Each account is linked to one Practitioner by an identifier in sicdoc's clinician system whose value
is the username (the same identifier signing has always used to find or create the author), so
notes signed before a name was recorded point at the Practitioner that later gets one.

- Practitioner: the name, the credentials (``name.suffix`` for display, as US Core does, and
  ``qualification`` coded from HL7 v2 table 0360 where the degree is in it), the NPI.
- PractitionerRole: the service or department, as ``specialty`` text. R4 has no Practitioner
  element for it: a department is where a person works, which is what a role records.

Both are written through the unit of work, so every change is audited and served by the FHIR API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sicdoc import codes
from sicdoc.errors import InvalidInput, Issue, NotFound
from sicdoc.fhir.validation import validate_resource
from sicdoc.models import User
from sicdoc.security import audit
from sicdoc.services.matching import serialise
from sicdoc.services.unit import UnitOfWork
from sicdoc.store import Stored, find_by_identifier
from sicdoc.store.reads import read_optional

CLINICIAN_SYSTEM = f"{codes.CANONICAL_BASE}/sid/clinician"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
DEGREE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0360"
# Degrees and licences of HL7 v2 table 0360 that clinicians here hold; others are kept as text.
DEGREES = frozenset({"MD", "DO", "RN", "NP", "PA", "PHD", "PHARMD", "BSN", "MSN", "LPN", "CNS", "MSW"})
NAME_MAX = 120
SERVICE_MAX = 120
_CREDENTIAL = re.compile(r"^[A-Za-z][A-Za-z0-9.\-]{0,11}$")
# The key is cut as signing cuts it, so both find the same Practitioner.
KEY_MAX = 64


@dataclass(frozen=True)
class Profile:
    """What an administrator records about a clinician: "Ada Okafor", "MD", an NPI, "Palliative care"."""

    name: str
    credentials: str = ""
    npi: str = ""
    service: str = ""

    def shown(self) -> str:
        return display(self.name, _credentials(self.credentials), self.service)

    def cleaned(self) -> Profile:
        return Profile(
            " ".join(self.name.split()),
            ", ".join(_credentials(self.credentials)),
            self.npi.strip(),
            " ".join(self.service.split()),
        )


class ProfileRefused(InvalidInput):
    """A profile that cannot be stored; ``errors`` maps a field name to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__([Issue("invalid", message, key) for key, message in errors.items()])


def clinician_key(username: str) -> str:
    return username[:KEY_MAX]


def npi_is_valid(npi: str) -> bool:
    """Ten digits whose last is the Luhn check digit of the other nine behind the prefix 80840
    (the NPI's issuer prefix, part of the check though never written)."""
    if not re.fullmatch(r"[12]\d{9}", npi):
        return False
    total = 0
    for position, char in enumerate(reversed("80840" + npi)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _credentials(text: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", text) if part]


def check_profile(profile: Profile) -> dict[str, str]:
    """Field messages for a profile (already cleaned); empty when it may be stored."""
    errors: dict[str, str] = {}
    if not profile.name:
        errors["name"] = "Enter the person's full name, e.g. Ada Okafor."
    elif len(profile.name) > NAME_MAX or not profile.name.isprintable():
        errors["name"] = f"A name is up to {NAME_MAX} printable characters."
    elif not any(c.isalpha() for c in profile.name):
        errors["name"] = "A name needs letters."
    parts = _credentials(profile.credentials)
    if len(parts) > 4 or not all(_CREDENTIAL.match(p) for p in parts):
        errors["credentials"] = "Credentials are up to four short abbreviations, e.g. MD or RN, MSN."
    if profile.npi and not npi_is_valid(profile.npi):
        errors["npi"] = "An NPI is 10 digits starting with 1 or 2, and its last digit must check out."
    if len(profile.service) > SERVICE_MAX or not profile.service.isprintable():
        errors["service"] = f"A service is up to {SERVICE_MAX} printable characters."
    return errors


def display(name: str, credentials: list[str], service: str | None) -> str:
    """How notes name a clinician: "Ada Okafor, MD (Palliative care)"."""
    text = ", ".join([name, *credentials]) if credentials else name
    return f"{text} ({service})" if service else text


# ---- reading ---------------------------------------------------------------------------------


def _login(practitioner: dict[str, Any]) -> str | None:
    for ident in practitioner.get("identifier") or ():
        if isinstance(ident, dict) and ident.get("system") == CLINICIAN_SYSTEM:
            return ident.get("value")
    return None


def _npi(practitioner: dict[str, Any]) -> str:
    return next(
        (i.get("value", "") for i in practitioner.get("identifier") or () if i.get("system") == NPI_SYSTEM),
        "",
    )


def _name(practitioner: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The person's name and credentials; no name when only the login name was ever recorded."""
    names = [n for n in practitioner.get("name") or () if isinstance(n, dict)]
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    text = chosen.get("text") or " ".join([*(chosen.get("given") or ()), chosen.get("family") or ""]).strip()
    credentials = [str(s) for s in chosen.get("suffix") or ()]
    if not credentials:
        for item in practitioner.get("qualification") or ():
            code = item.get("code") or {}
            label = code.get("text") or next((c.get("code") for c in code.get("coding") or ()), None)
            if label:
                credentials.append(str(label))
    legacy = not chosen.get("family") and not chosen.get("given") and text == _login(practitioner)
    return (None if legacy or not text else str(text)), credentials


def _service(role: dict[str, Any] | None) -> str | None:
    if not role or role.get("active") is False:
        return None
    for specialty in role.get("specialty") or ():
        label = specialty.get("text") or next(
            (c.get("display") for c in specialty.get("coding") or () if c.get("display")), None
        )
        if label:
            return str(label)
    return None


def _role_of(session: Session, key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    found = find_by_identifier(session, "PractitionerRole", [(CLINICIAN_SYSTEM, key)])
    stored = read_optional(session, "PractitionerRole", found) if found else None
    return stored.content if stored and not stored.deleted else None


def practitioner_display(session: Session, practitioner: dict[str, Any]) -> str | None:
    """The display of a stored Practitioner, or None when it has no name of a person."""
    name, credentials = _name(practitioner)
    if name is None:
        return None
    return display(name, credentials, _service(_role_of(session, _login(practitioner))))


def named_author(session: Session, who: Mapping[str, Any]) -> str | None:
    """The current display of the Practitioner ``who`` references, when it has a person's name."""
    parts = str(who.get("reference") or "").split("/")
    if len(parts) not in (2, 4) or parts[0] != "Practitioner":
        return None
    stored = read_optional(session, "Practitioner", parts[1])
    return practitioner_display(session, stored.content) if stored and stored.content else None


def author_display(session: Session, who: dict[str, Any]) -> str:
    """How a page names the author of a note: the Practitioner referenced now, else what the record says.

    A note signed before its author had a name carries the login name; it is shown as such, marked.
    """
    shown = named_author(session, who)
    if shown:
        return shown
    reference = str(who.get("reference") or "")
    recorded = str(who.get("display") or "")
    parts = reference.split("/")
    stored = (
        read_optional(session, "Practitioner", parts[1]) if parts[0] == "Practitioner" and parts[1:] else None
    )
    if stored and stored.content:
        login, npi = _login(stored.content), _npi(stored.content)
        if login and recorded in ("", login):
            return f"{login} (login name; no full name recorded)"
        if not recorded and npi:
            return f"NPI {npi}"
    return recorded or reference or "Unknown clinician"


def _account_practitioner(session: Session, username: str) -> Stored | None:
    found = find_by_identifier(session, "Practitioner", [(CLINICIAN_SYSTEM, clinician_key(username))])
    stored = read_optional(session, "Practitioner", found) if found else None
    return stored if stored and not stored.deleted else None


def identity(session: Session, username: str) -> tuple[str | None, str]:
    """The account's Practitioner reference (None before the first note) and how notes name them."""
    stored = _account_practitioner(session, username)
    if stored is None or not stored.content:
        return None, username
    return f"Practitioner/{stored.id}", practitioner_display(session, stored.content) or username


def profile_of(session: Session, username: str) -> Profile | None:
    """What is recorded about the account's person, or None when no name has been recorded."""
    stored = _account_practitioner(session, username)
    if stored is None or not stored.content:
        return None
    name, credentials = _name(stored.content)
    if name is None:
        return None
    service = _service(_role_of(session, clinician_key(username))) or ""
    return Profile(name, ", ".join(credentials), _npi(stored.content), service)


def display_names(session: Session, usernames: list[str]) -> dict[str, str]:
    """Usernames with a recorded name -> their display (for the administrator's list)."""
    profiles = {username: profile_of(session, username) for username in usernames}
    return {username: profile.shown() for username, profile in profiles.items() if profile}


# ---- writing ---------------------------------------------------------------------------------


def _human_name(name: str, credentials: list[str]) -> dict[str, Any]:
    # The text is what people read. The split (last word as family name) serves systems that need
    # family and given parts; it can be wrong for some names, so it never replaces the text.
    words = name.split()
    human: dict[str, Any] = {"use": "official", "text": name, "family": words[-1]}
    if words[:-1]:
        human["given"] = words[:-1]
    if credentials:
        human["suffix"] = credentials
    return human


def _qualification(credential: str) -> dict[str, Any]:
    code: dict[str, Any] = {"text": credential}
    plain = credential.replace(".", "").upper()
    if plain in DEGREES:
        code["coding"] = [{"system": DEGREE_SYSTEM, "code": "PharmD" if plain == "PHARMD" else plain}]
    return {"code": code}


def _practitioner(key: str, profile: Profile, current: dict[str, Any] | None) -> dict[str, Any]:
    """The account's Practitioner; anything else recorded on it (an EHR's identifiers) is kept."""
    owned = {"id", "meta", "text", "identifier", "name", "qualification", "active"}
    kept = {k: v for k, v in (current or {}).items() if k not in owned}
    others = [
        i
        for i in (current or {}).get("identifier") or ()
        if isinstance(i, dict) and i.get("system") not in (CLINICIAN_SYSTEM, NPI_SYSTEM)
    ]
    identifiers = [{"system": CLINICIAN_SYSTEM, "value": key}, *others]
    if profile.npi:
        identifiers.append({"use": "official", "system": NPI_SYSTEM, "value": profile.npi})
    credentials = _credentials(profile.credentials)
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        **kept,
        "identifier": identifiers,
        "active": True,
        "name": [_human_name(profile.name, credentials)],
    }
    if credentials:
        resource["qualification"] = [_qualification(c) for c in credentials]
    return resource


def _role(key: str, practitioner_id: str, shown: str, service: str) -> dict[str, Any]:
    return {
        "resourceType": "PractitionerRole",
        "identifier": [{"system": CLINICIAN_SYSTEM, "value": key}],
        "active": bool(service),
        "practitioner": {"reference": f"Practitioner/{practitioner_id}", "display": shown},
        **({"specialty": [{"text": service}]} if service else {}),
    }


def _put(uow: UnitOfWork, rtype: str, key: str, resource: dict[str, Any]) -> tuple[str, Stored]:
    found = find_by_identifier(uow.session, rtype, [(CLINICIAN_SYSTEM, key)])
    validate_resource(resource)
    if found is None:
        return "create", uow.store.create(uow.session, resource)
    return "update", uow.store.update(uow.session, {**resource, "id": found}, found)


def save_profile(uow: UnitOfWork, username: str, profile: Profile) -> str:
    """Record the person behind an account; returns how notes will name them.

    Raises ProfileRefused with field messages (nothing stored) or NotFound for an unknown account.
    """
    profile = profile.cleaned()
    errors = check_profile(profile)
    if errors:
        raise ProfileRefused(errors)
    key = clinician_key(username)
    shown = profile.shown()
    session = uow.session
    criteria = f"identifier={CLINICIAN_SYSTEM}|{key}"

    def attempt() -> str:
        with uow.transaction():
            if session.scalar(select(User.id).where(User.username == username)) is None:
                raise NotFound(f"No user named '{username}'")
            # Signing may create this Practitioner at the same moment: both wait on the same key.
            serialise(session, [("Practitioner", criteria), ("PractitionerRole", criteria)])
            current = _account_practitioner(session, username)
            written = [
                _put(
                    uow,
                    "Practitioner",
                    key,
                    _practitioner(key, profile, current.content if current else None),
                )
            ]
            practitioner_id = written[0][1].id
            if profile.service or find_by_identifier(session, "PractitionerRole", [(CLINICIAN_SYSTEM, key)]):
                written.append(
                    _put(uow, "PractitionerRole", key, _role(key, practitioner_id, shown, profile.service))
                )
            uow.audit_writes(written)
            audit.append(session, uow.actor, "user-profile", "success", detail=f"{username}: {shown}")
        return shown

    return uow.retrying(attempt)
