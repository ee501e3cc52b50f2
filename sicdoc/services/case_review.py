"""The end-of-life case review for clinicians: decedents whose care went against the goals last
documented for them, named, for morbidity-and-mortality style review.

The list names patients, so it is read through the unit of work, which notes every patient shown
for the audit log before the page leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from sicdoc.analytics.case_review import Case
from sicdoc.analytics.frames import Where
from sicdoc.codes import MRN_SYSTEM
from sicdoc.services.unit import UnitOfWork
from sicdoc.store.frames import clinician_names, patient_labels

if TYPE_CHECKING:
    from sicdoc.dashboards.service import AnalyticsService

# The audit action of a read of the list.
ACTION = "case-review"
# Cases shown on one page (the latest deaths first); a longer list asks for a narrower period.
SHOWN = 200


@dataclass(frozen=True)
class Review:
    cases: list[Case]
    # By patient id: {"name", "mrn"} from the current Patient resource.
    patients: dict[str, dict] = field(default_factory=dict)
    # By performer reference (or free text): how to name the clinician of a deciding conversation.
    clinicians: dict[str, str] = field(default_factory=dict)
    # Cases found, of which the first ``SHOWN`` are listed.
    total: int = 0


def end_of_life_cases(uow: UnitOfWork, analytics: AnalyticsService, where: Where, as_of: date) -> Review:
    """The cases of the decedents whose death date is in ``where``'s period (as known at the end of
    ``as_of``), with patient and clinician names; every patient listed is noted for the audit."""
    found = analytics.review_cases(where, as_of)
    cases = found[:SHOWN]
    ids = [case.patient_id for case in cases]
    refs = {
        doc.clinician_id
        for case in cases
        for doc in (case.care_focus, case.code_status)
        if doc is not None and doc.clinician_id
    }
    connection = uow.session.connection()
    labels = patient_labels(connection, ids, MRN_SYSTEM)
    names = clinician_names(connection, refs)
    # A performer recorded as free text is its own name; an unknown reference is shown as written.
    clinicians = {ref: names.get(ref) or ref for ref in refs}
    uow.disclose(ACTION, patients=ids, resource_type="Patient", detail=_detail(where, len(cases)))
    return Review(cases, labels, clinicians, total=len(found))


def _detail(where: Where, count: int) -> str:
    period = f"{where.period_from or 'start'} to {where.period_to or 'end'}"
    site = f", site {where.site}" if where.site else ""
    return f"end-of-life case review: deaths {period}{site}; {count} cases"
