"""Advance care planning (ACP) billing support: which CPT codes the documented time supports.

CPT 99497 covers the first 30 minutes of ACP and the add-on 99498 each further 30 minutes. Both are
timed codes, and CMS follows the CPT rule that a unit of time is reached once its midpoint is passed:
16-45 minutes is 99497 alone, 46-75 adds one 99498, 76-105 adds two, and so on; 15 minutes or less
cannot be reported as ACP. CMS also expects the note to show that the patient (or surrogate) took part
voluntarily. Sources: CMS MLN fact sheet "Advance Care Planning" (MLN909289, revised 2023) and the
CMS FAQ on billing ACP under the Physician Fee Schedule (80 Fed. Reg. 70956, adopting the CPT time
rules). Codes are suggested, never billed: the biller confirms them.

Pure Python (no I/O), so the note, the tests and any report compute the same answer.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from sicdoc import codes

CPT = "http://www.ama-assn.org/go/cpt"
FIRST_CODE = "99497"
ADD_ON_CODE = "99498"
MINIMUM_MINUTES = 16  # past the midpoint of the first 30 minutes
BLOCK_MINUTES = 30
# The section and its coded suggestion are sicdoc's own: FHIR R4 has no element for a suggested charge
# inside a note, and a ChargeItem would look like a real charge to a billing interface.
SECTION_CODE = {
    "system": codes.SIC_CODE_SYSTEM,
    "code": "acp-billing",
    "display": "Advance care planning billing",
}
SECTION_TITLE = "Advance care planning billing"
SUGGESTION_URL = f"{codes.CANONICAL_BASE}/StructureDefinition/acp-billing-suggestion"
VOLUNTARY_STATEMENT = (
    "Voluntary participation: the patient, or the surrogate speaking for them, was asked first and "
    "agreed to this advance care planning discussion; they were free to decline."
)
NEEDS_VOLUNTARY = (
    "Advance care planning codes need documented voluntary participation, and permission to talk was "
    "not recorded as given, so no code is suggested."
)
_XHTML = "http://www.w3.org/1999/xhtml"


@dataclass(frozen=True)
class CodeLine:
    """One suggested CPT code and how many units of it."""

    code: str
    units: int
    description: str


@dataclass(frozen=True)
class AcpBilling:
    """What the documented time and permission support; ``lines`` is empty when no code applies."""

    minutes: int | None
    voluntary: bool
    lines: tuple[CodeLine, ...]
    sentences: tuple[str, ...]


def add_on_units(minutes: int) -> int:
    """Units of 99498: one for each further 30 minutes once its midpoint is passed (46, 76, 106...)."""
    if minutes < MINIMUM_MINUTES:
        return 0
    return (minutes - MINIMUM_MINUTES) // BLOCK_MINUTES


def acp_billing(minutes: int | None, permission: str | None) -> AcpBilling:
    """The billing suggestion for ``minutes`` of ACP time and the ``permission`` answer code."""
    voluntary = permission == "agreed"
    sentences: list[str] = []
    lines: list[CodeLine] = []
    if minutes is None or minutes < 0:
        minutes = None
        sentences.append(
            "Time spent was not recorded; advance care planning codes are timed, so none is suggested."
        )
    else:
        sentences.append(f"Time spent in advance care planning: {minutes} minutes.")
        if minutes < MINIMUM_MINUTES:
            sentences.append(
                f"This does not meet the {MINIMUM_MINUTES}-minute minimum for CPT {FIRST_CODE}, "
                "so no advance care planning code is suggested."
            )
        elif voluntary:
            lines.append(CodeLine(FIRST_CODE, 1, "first 30 minutes"))
            extra = add_on_units(minutes)
            if extra:
                lines.append(CodeLine(ADD_ON_CODE, extra, "each additional 30 minutes"))
            sentences.append("Suggested codes: " + "; ".join(_words(line) for line in lines) + ".")
    if voluntary:
        sentences.append(VOLUNTARY_STATEMENT)
    else:
        sentences.append(NEEDS_VOLUNTARY)
    return AcpBilling(minutes, voluntary, tuple(lines), tuple(sentences))


def _words(line: CodeLine) -> str:
    return f"CPT {line.code} × {line.units} ({line.description})"


def billing_section(billing: AcpBilling, derived_from: str) -> dict[str, Any]:
    """The note section: the sentences as narrative, each suggested code as a coded extension.

    ``derived_from`` is the QuestionnaireResponse holding the duration and permission answers.
    """
    div = "".join(f"<p>{html.escape(s)}</p>" for s in billing.sentences)
    section: dict[str, Any] = {
        "title": SECTION_TITLE,
        "code": {"coding": [SECTION_CODE]},
        "text": {"status": "generated", "div": f'<div xmlns="{_XHTML}">{div}</div>'},
        "entry": [{"reference": derived_from}],
    }
    if billing.lines:
        section["extension"] = [
            {
                "url": SUGGESTION_URL,
                "extension": [
                    {"url": "code", "valueCoding": {"system": CPT, "code": line.code}},
                    {"url": "units", "valuePositiveInt": line.units},
                ],
            }
            for line in billing.lines
        ]
    return section


def suggested_codes(section: dict[str, Any]) -> list[tuple[str, int]]:
    """(CPT code, units) read back from a note section built by ``billing_section``."""
    out: list[tuple[str, int]] = []
    for ext in section.get("extension") or ():
        if not isinstance(ext, dict) or ext.get("url") != SUGGESTION_URL:
            continue
        parts = {p.get("url"): p for p in ext.get("extension") or () if isinstance(p, dict)}
        code = (parts.get("code") or {}).get("valueCoding", {}).get("code")
        units = (parts.get("units") or {}).get("valuePositiveInt")
        if isinstance(code, str) and isinstance(units, int):
            out.append((code, units))
    return out
