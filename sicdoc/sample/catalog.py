"""Fixed reference data of the synthetic world: sites, units, clinicians, codes and name lists.

The world (sites, units, clinicians) does not depend on the seed, so several generated data sets can
be loaded into one server and share one set of Organizations, Locations and Practitioners.
All names are invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sicdoc import codes

SID = f"{codes.CANONICAL_BASE}/sid"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
QI_START = date(2025, 1, 1)


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    std_offset: int  # hours from UTC in winter; US daylight-saving rules apply in summer
    medicine: str  # the general medicine ward's name differs by site


@dataclass(frozen=True)
class Unit:
    site: Site
    code: str
    name: str
    inpatient: bool
    role: tuple[str, str] = ("HU", "Hospital unit")  # v3-RoleCode location type (code, display)

    @property
    def identifier(self) -> str:
        return f"{self.site.code}-{self.code}"


@dataclass(frozen=True)
class Clinician:
    npi: str
    family: str
    given: str
    specialty: str
    site: Site | None  # None: covers every site

    @property
    def display(self) -> str:
        return f"Dr. {self.given} {self.family}"


SITES = (
    Site("hcmc", "Harrow Creek Medical Center", -5, "5 West Medicine"),
    Site("plh", "Prairie Lantern Hospital", -6, "4 East Medicine"),
    Site("rmrh", "Red Mesa Regional Hospital", -7, "6 North Medicine"),
)
SITE_WEIGHTS = (0.40, 0.35, 0.25)
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
# unit code -> (name or None for the site's medicine ward, inpatient, v3-RoleCode type of the Location)
_UNIT_KINDS: dict[str, tuple[str | None, bool, tuple[str, str]]] = {
    "med": (None, True, ("HU", "Hospital unit")),
    "nicu": ("Neuro ICU", True, ("NCCS", "Neurology critical care and stroke unit")),
    "cardsd": ("Cardiology Step-down", True, ("HU", "Hospital unit")),
    "onc": ("Oncology", True, ("HU", "Hospital unit")),
    "micu": ("Medical ICU", True, ("ICU", "Intensive care unit")),
    "ccu": ("Cardiac ICU", True, ("CCU", "Coronary care unit")),
    "ed": ("Emergency Department", False, ("ER", "Emergency room")),
    "oncclinic": ("Oncology Clinic", False, ("ONCL", "Medical oncology clinic")),
    "pcclinic": ("Supportive Care Clinic", False, ("OF", "Outpatient facility")),
}
UNITS = {
    (site.code, code): Unit(site, code, name or site.medicine, inpatient, role)
    for site in SITES
    for code, (name, inpatient, role) in _UNIT_KINDS.items()
}
# Intensive care units (their Locations are typed with a code of sicdoc's ICU value set).
ICU_UNITS = frozenset({"micu", "ccu", "nicu"})
# The QI programme (earlier referral, more conversations from QI_START) runs on these two units.
QI_UNITS = frozenset({("hcmc", "cardsd"), ("plh", "nicu")})
# Where each cohort's admissions go: (unit code, weight).
UNIT_BY_COHORT = {
    "stroke": (("nicu", 0.7), ("med", 0.3)),
    "heart_failure": (("cardsd", 0.75), ("med", 0.15), ("micu", 0.10)),
    "cancer": (("onc", 0.75), ("med", 0.15), ("micu", 0.10)),
    "control": (("med", 0.8), ("micu", 0.2)),
}
SPECIALTY_BY_UNIT = {
    "med": "Hospital medicine",
    "micu": "Hospital medicine",
    "nicu": "Neurology",
    "cardsd": "Cardiology",
    "onc": "Oncology",
    "oncclinic": "Oncology",
    "pcclinic": "Palliative medicine",
    "ccu": "Cardiology",
    "ed": "Hospital medicine",
}

# (system, code, display); cohort diagnoses by subtype. ICD-10-CM first, then SNOMED-only variants.
ICD = codes.ICD10CM
SCT = codes.SNOMED
DIAGNOSES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ischemic": (
        (ICD, "I63.9", "Cerebral infarction, unspecified"),
        (
            ICD,
            "I63.511",
            "Cerebral infarction due to unspecified occlusion or stenosis of right middle cerebral artery",
        ),
        (
            ICD,
            "I63.512",
            "Cerebral infarction due to unspecified occlusion or stenosis of left middle cerebral artery",
        ),
        (ICD, "I63.40", "Cerebral infarction due to embolism of unspecified cerebral artery"),
        (ICD, "I63.81", "Other cerebral infarction due to occlusion or stenosis of small artery"),
    ),
    "ich": (
        (ICD, "I61.9", "Nontraumatic intracerebral hemorrhage, unspecified"),
        (ICD, "I61.0", "Nontraumatic intracerebral hemorrhage in hemisphere, subcortical"),
        (ICD, "I61.4", "Nontraumatic intracerebral hemorrhage in cerebellum"),
    ),
    "sah": (
        (ICD, "I60.9", "Nontraumatic subarachnoid hemorrhage, unspecified"),
        (ICD, "I60.7", "Nontraumatic subarachnoid hemorrhage from unspecified intracranial artery"),
    ),
    "hf": (
        (ICD, "I50.9", "Heart failure, unspecified"),
        (ICD, "I50.22", "Chronic systolic (congestive) heart failure"),
        (ICD, "I50.23", "Acute on chronic systolic (congestive) heart failure"),
        (ICD, "I50.32", "Chronic diastolic (congestive) heart failure"),
        (ICD, "I50.33", "Acute on chronic diastolic (congestive) heart failure"),
        (ICD, "I50.42", "Chronic combined systolic (congestive) and diastolic (congestive) heart failure"),
        (ICD, "I11.0", "Hypertensive heart disease with heart failure"),
        (
            ICD,
            "I13.0",
            "Hypertensive heart and chronic kidney disease with heart failure and stage 1 through "
            "stage 4 chronic kidney disease, or unspecified chronic kidney disease",
        ),
    ),
    "solid": (
        (ICD, "C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung"),
        (ICD, "C34.11", "Malignant neoplasm of upper lobe, right bronchus or lung"),
        (ICD, "C18.9", "Malignant neoplasm of colon, unspecified"),
        (ICD, "C25.9", "Malignant neoplasm of pancreas, unspecified"),
        (ICD, "C16.9", "Malignant neoplasm of stomach, unspecified"),
        (ICD, "C22.0", "Liver cell carcinoma"),
        (ICD, "C67.9", "Malignant neoplasm of bladder, unspecified"),
        (ICD, "C71.9", "Malignant neoplasm of brain, unspecified"),
        (ICD, "C64.9", "Malignant neoplasm of unspecified kidney, except renal pelvis"),
        (ICD, "C15.9", "Malignant neoplasm of esophagus, unspecified"),
    ),
    "solid-female": (
        (ICD, "C50.911", "Malignant neoplasm of unspecified site of right female breast"),
        (ICD, "C56.9", "Malignant neoplasm of unspecified ovary"),
    ),
    "solid-male": ((ICD, "C61", "Malignant neoplasm of prostate"),),
    "metastatic": (
        (ICD, "C78.00", "Secondary malignant neoplasm of unspecified lung"),
        (ICD, "C78.7", "Secondary malignant neoplasm of liver and intrahepatic bile duct"),
        (ICD, "C79.51", "Secondary malignant neoplasm of bone"),
        (ICD, "C79.31", "Secondary malignant neoplasm of brain"),
        (ICD, "C77.9", "Secondary and unspecified malignant neoplasm of lymph node, unspecified"),
    ),
    "hematologic": (
        (ICD, "C92.00", "Acute myeloblastic leukemia, not having achieved remission"),
        (ICD, "C90.00", "Multiple myeloma not having achieved remission"),
        (ICD, "C83.30", "Diffuse large B-cell lymphoma, unspecified site"),
        (ICD, "C91.10", "Chronic lymphocytic leukemia of B-cell type not having achieved remission"),
        (ICD, "C81.90", "Hodgkin lymphoma, unspecified, unspecified site"),
    ),
}
# SNOMED CT members of the cohort value sets, for the ~15% of diagnoses an EHR sends in SNOMED only.
SNOMED_DIAGNOSES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ischemic": ((SCT, "422504002", "Ischemic stroke"), (SCT, "230690007", "Cerebrovascular accident")),
    "ich": ((SCT, "274100004", "Cerebral hemorrhage"),),
    "sah": ((SCT, "21454007", "Subarachnoid intracranial hemorrhage"),),
    "hf": ((SCT, "84114007", "Heart failure"), (SCT, "42343007", "Congestive heart failure")),
    "solid": (
        (SCT, "363346000", "Malignant neoplastic disease"),
        (SCT, "254637007", "Non-small cell lung cancer"),
    ),
    "metastatic": ((SCT, "128462008", "Secondary malignant neoplastic disease"),),
    "hematologic": ((SCT, "109989006", "Multiple myeloma"), (SCT, "91861009", "Acute myeloid leukemia")),
}
# Diagnoses that put a patient in no cohort: controls' admissions and everyone's comorbidities.
OTHER_DIAGNOSES = (
    (ICD, "I10", "Essential (primary) hypertension"),
    (ICD, "E11.9", "Type 2 diabetes mellitus without complications"),
    (ICD, "J44.9", "Chronic obstructive pulmonary disease, unspecified"),
    (ICD, "J18.9", "Pneumonia, unspecified organism"),
    (ICD, "N17.9", "Acute kidney failure, unspecified"),
    (ICD, "A41.9", "Sepsis, unspecified organism"),
    (ICD, "N39.0", "Urinary tract infection, site not specified"),
    (ICD, "K92.2", "Gastrointestinal hemorrhage, unspecified"),
)
OTHER_SNOMED = (
    (SCT, "38341003", "Hypertensive disorder"),
    (SCT, "44054006", "Diabetes mellitus type 2"),
    (SCT, "13645005", "Chronic obstructive lung disease"),
    (SCT, "233604007", "Pneumonia"),
)

OMB = "urn:oid:2.16.840.1.113883.6.238"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
# (system, code, display, weight)
RACES = (
    (OMB, "2106-3", "White", 0.62),
    (OMB, "2054-5", "Black or African American", 0.17),
    (OMB, "2028-9", "Asian", 0.07),
    (OMB, "1002-5", "American Indian or Alaska Native", 0.012),
    (OMB, "2076-8", "Native Hawaiian or Other Pacific Islander", 0.006),
    (NULL_FLAVOR, "UNK", "Unknown", 0.122),
)
ETHNICITIES = (
    (OMB, "2135-2", "Hispanic or Latino", 0.14),
    (OMB, "2186-5", "Not Hispanic or Latino", 0.82),
    (NULL_FLAVOR, "UNK", "Unknown", 0.04),
)
LANGUAGES = {
    "en": "English",
    "es": "Spanish",
    "zh": "Chinese",
    "vi": "Vietnamese",
    "ar": "Arabic",
    "ru": "Russian",
    "pt": "Portuguese",
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE_NAMES = _words(
    "Ada Beatriz Carmen Dalia Elena Farah Gloria Hana Irene Joan Keiko Lena Marta Nadia Olive Priya "
    "Queenie Rosa Sofia Tamar Uma Vera Wendy Ximena Yara Zoe Linh Mei Aisha Grace"
)
MALE_NAMES = _words(
    "Abel Bruno Carlos Dmitri Emil Felix Gideon Hugo Ivan Jamal Kenji Luis Marco Nikhil Omar Pavel "
    "Quentin Rafael Samuel Tomas Umar Victor Walter Xavier Yusuf Zane Minh Wei Andre George"
)
FAMILY_NAMES = _words(
    "Abbott Alvarez Baker Bui Castillo Chen Dawson Diaz Ellis Farouk Fischer Garcia Gordon Haddad "
    "Huang Ibarra Jensen Johnson Kaur Kim Kowalski Larsen Lopez Mahmoud Marsh Moreno Nguyen Novak "
    "Okafor Olsen Park Patel Quinn Ramirez Reyes Romanov Santos Schmidt Shah Silva Tran Turner Ueda "
    "Vargas Volkov Walker Washington Weber Xu Yamada Young Zhang Zielinski Brooks Coleman Hughes "
    "Murphy Price Russell Sullivan"
)


def _npi(i: int) -> str:
    """A 10-digit NPI-shaped number whose last digit is the Luhn check over the 80840 prefix."""
    base = f"1{31_000_000 + i * 4_517:08d}"
    total = 0
    for pos, ch in enumerate(reversed("80840" + base)):
        d = int(ch) * (2 if pos % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return f"{base}{(10 - total % 10) % 10}"


def _clinicians() -> tuple[Clinician, ...]:
    per_site = (
        ("Hospital medicine", 4),
        ("Neurology", 2),
        ("Cardiology", 2),
        ("Oncology", 3),
        ("Palliative medicine", 2),
    )
    plan: list[tuple[Site | None, str]] = [
        (site, specialty) for site in SITES for specialty, n in per_site for _ in range(n)
    ]
    plan.append((None, "Palliative medicine"))  # a palliative physician who covers all three sites
    out = []
    for i, (site, specialty) in enumerate(plan):
        given = (FEMALE_NAMES if i % 2 else MALE_NAMES)[(i * 7) % 30]
        out.append(Clinician(_npi(i), FAMILY_NAMES[(i * 13 + 5) % len(FAMILY_NAMES)], given, specialty, site))
    return tuple(out)


CLINICIANS = _clinicians()


def clinicians_for(site: Site, specialty: str) -> tuple[Clinician, ...]:
    return _BY_SITE_SPECIALTY[(site.code, specialty)]


_BY_SITE_SPECIALTY = {
    (site.code, specialty): tuple(
        c for c in CLINICIANS if c.specialty == specialty and c.site in (site, None)
    )
    for site in SITES
    for specialty in {c.specialty for c in CLINICIANS}
}
