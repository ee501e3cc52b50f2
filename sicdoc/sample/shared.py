"""The shared world as FHIR: Organizations, Locations and Practitioners, and site-local time.

Patient bundles point at these with conditional references (``Type?identifier=system|value``)
and carry them as conditional creates, so whichever bundle arrives first creates them and every
later one finds them. The entries are built once and reused (never mutated) by every bundle.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from typing import Any

from sicdoc.conversation.bundle import conditional_entry as entry
from sicdoc.sample.catalog import NPI_SYSTEM, ROLE_CODE, SID, Clinician, Site, Unit

ORG_SYSTEM = f"{SID}/organization"
LOCATION_SYSTEM = f"{SID}/location"
ROLE_SYSTEM = f"{SID}/practitioner-role"


def _stable_url(system: str, value: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{system}|{value}')}"


@cache
def org_ref(site: Site) -> dict[str, str]:
    return {"reference": f"Organization?identifier={ORG_SYSTEM}|{site.code}", "display": site.name}


@cache
def org_entry(site: Site) -> dict[str, Any]:
    resource = {
        "resourceType": "Organization",
        "identifier": [{"system": ORG_SYSTEM, "value": site.code}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": site.name,
    }
    return entry(_stable_url(ORG_SYSTEM, site.code), resource, ORG_SYSTEM, site.code)


@cache
def location_ref(unit: Unit) -> dict[str, str]:
    return {"reference": f"Location?identifier={LOCATION_SYSTEM}|{unit.identifier}", "display": unit.name}


@cache
def location_entry(unit: Unit) -> dict[str, Any]:
    kind = ("wa", "Ward") if unit.inpatient else ("area", "Area")
    resource = {
        "resourceType": "Location",
        "identifier": [{"system": LOCATION_SYSTEM, "value": unit.identifier}],
        "status": "active",
        "name": unit.name,
        "mode": "instance",
        # What kind of unit it is: sicdoc tells an ICU stay by the Location's type (v3-RoleCode).
        "type": [{"coding": [{"system": ROLE_CODE, "code": unit.role[0], "display": unit.role[1]}]}],
        "physicalType": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                    "code": kind[0],
                    "display": kind[1],
                }
            ]
        },
        "managingOrganization": org_ref(unit.site),
    }
    return entry(_stable_url(LOCATION_SYSTEM, unit.identifier), resource, LOCATION_SYSTEM, unit.identifier)


@cache
def practitioner_ref(clinician: Clinician) -> dict[str, str]:
    return {
        "reference": f"Practitioner?identifier={NPI_SYSTEM}|{clinician.npi}",
        "display": clinician.display,
    }


@cache
def practitioner_entry(clinician: Clinician) -> dict[str, Any]:
    resource = {
        "resourceType": "Practitioner",
        "identifier": [{"system": NPI_SYSTEM, "value": clinician.npi}],
        "active": True,
        "name": [
            {"use": "official", "family": clinician.family, "given": [clinician.given], "prefix": ["Dr."]}
        ],
        "qualification": [{"code": {"text": clinician.specialty}}],
    }
    return entry(_stable_url(NPI_SYSTEM, clinician.npi), resource, NPI_SYSTEM, clinician.npi)


@cache
def practitioner_role_entry(clinician: Clinician) -> dict[str, Any]:
    """The clinician's department: a PractitionerRole whose specialty names the service, as sicdoc's
    own clinician profiles record it (the QI department views read it)."""
    resource = {
        "resourceType": "PractitionerRole",
        "identifier": [{"system": ROLE_SYSTEM, "value": clinician.npi}],
        "active": True,
        "practitioner": practitioner_ref(clinician),
        "specialty": [{"text": clinician.specialty}],
    }
    return entry(_stable_url(ROLE_SYSTEM, clinician.npi), resource, ROLE_SYSTEM, clinician.npi)


@cache
def _dst_window(year: int) -> tuple[datetime, datetime]:
    """US daylight saving time: second Sunday of March 02:00 to first Sunday of November 02:00."""
    march8 = date(year, 3, 8)
    nov1 = date(year, 11, 1)
    start = march8 + timedelta(days=(6 - march8.weekday()) % 7)
    end = nov1 + timedelta(days=(6 - nov1.weekday()) % 7)
    return datetime.combine(start, time(2)), datetime.combine(end, time(2))


def utc_offset(site: Site, local: datetime) -> int:
    start, end = _dst_window(local.year)
    return site.std_offset + (1 if start <= local < end else 0)


def local_iso(site: Site, local: datetime) -> str:
    """A site's wall-clock time with its offset, as an EHR writes it (``2025-03-01T08:15:00-05:00``)."""
    offset = utc_offset(site, local)
    return f"{local.isoformat(timespec='seconds')}{'-' if offset < 0 else '+'}{abs(offset):02d}:00"


def aware(site: Site, local: datetime) -> datetime:
    return local.replace(microsecond=0, tzinfo=_zone(utc_offset(site, local)))


@cache
def _zone(offset: int) -> timezone:
    return timezone(timedelta(hours=offset))
