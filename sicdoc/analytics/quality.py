"""Data-quality flags: intervals that come out negative.

They are listed and counted, never clipped to zero and never counted as events: a referral or a
conversation dated after death is not a referral or conversation for the metrics, a consult before
its referral is not a consult for M4, and a diagnosis after death is not an index event.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from sicdoc.analytics.cohorts import (
    attribution,
    consult_rows,
    conversation_rows,
    first_referral_dates,
    in_period,
    in_scope,
    referral_rows,
)
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where, days_between, lookup
from sicdoc.analytics.tables import no_rows

KINDS = (
    "referral_after_death",
    "conversation_after_death",
    "consult_before_referral",
    "diagnosis_after_death",
)
FLAG_COLUMNS = (
    "patient_id",
    "kind",
    "record_id",
    "record_date",
    "reference_date",
    "days",
    "cohort",
    "site",
    "unit",
)


def _flags(
    kind: str,
    rows: pd.DataFrame,
    id_col: str,
    date_col: str,
    reference: pd.Series,
    *,
    record_first: bool,
    site: pd.Series | None = None,
    unit: pd.Series | None = None,
) -> pd.DataFrame:
    # ``days`` is the interval as the metric would compute it, so it is always negative here.
    site = rows["site"] if site is None else site
    unit = rows["unit"] if unit is None else unit
    bad = rows[rows[date_col].notna() & reference.notna()]
    ref = reference[bad.index]
    days = days_between(bad[date_col], ref) if record_first else days_between(ref, bad[date_col])
    out = pd.DataFrame(
        {
            "patient_id": bad["patient_id"],
            "kind": kind,
            "record_id": bad[id_col],
            "record_date": bad[date_col],
            "reference_date": ref,
            "days": days,
            "cohort": bad["cohort"].astype(object) if "cohort" in bad.columns else None,
            "site": site[bad.index],
            "unit": unit[bad.index],
        }
    )
    return out[out["days"] < 0]


def consult_anchor(frames: Frames) -> pd.Series:
    """Per consult row, the date of its referral, or else of the patient's first referral."""
    refs = referral_rows(frames)
    consults = consult_rows(frames)
    by_id = refs.drop_duplicates("service_request_id").set_index("service_request_id")["authored_date"]
    own = lookup(consults["referral_id"], by_id)
    return own.where(own.notna(), lookup(consults["patient_id"], first_referral_dates(frames)))


def quality_flags(frames: Frames) -> pd.DataFrame:
    """Every negative interval: patient_id, kind, record_id, record_date, reference_date, days,
    cohort (diagnoses: one row per cohort the condition qualifies for), site and unit (the record's).

    Takes normalised frames; the listing names patients by their stored ids.
    """
    flags = flag_rows(frames).copy()
    flags["patient_id"] = frames.patient_ids(flags["patient_id"])
    return flags.sort_values(["patient_id", "kind", "record_date"]).reset_index(drop=True)


def flag_rows(frames: Frames) -> pd.DataFrame:
    """``quality_flags`` with patients as the frames' integer keys, for counting by cohort; found
    once per frames, since no filter changes them (a third of a second at a million patients)."""
    return frames.memo("quality_flags", lambda: _flag_rows(frames))


def _flag_rows(frames: Frames) -> pd.DataFrame:
    deaths = frames.patients_by_id["deceased_date"]
    refs, convs, consults = referral_rows(frames), conversation_rows(frames), consult_rows(frames)
    dx = frames.diagnoses
    dx_site, dx_unit = attribution(frames, dx["encounter_id"], dx["patient_id"])
    parts = [
        _flags(
            "referral_after_death",
            refs,
            "service_request_id",
            "authored_date",
            lookup(refs["patient_id"], deaths),
            record_first=False,
        ),
        _flags(
            "conversation_after_death",
            convs,
            "procedure_id",
            "performed_date",
            lookup(convs["patient_id"], deaths),
            record_first=False,
        ),
        _flags(
            "consult_before_referral",
            consults.assign(consult_id=frames.encounter_ids(consults["encounter_id"])),
            "consult_id",
            "start_date",
            consult_anchor(frames),
            record_first=True,
        ),
        _flags(
            "diagnosis_after_death",
            dx,
            "condition_id",
            "diagnosis_date",
            lookup(dx["patient_id"], deaths),
            record_first=False,
            site=dx_site,
            unit=dx_unit,
        ),
    ]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return no_rows(FLAG_COLUMNS)
    return pd.concat(parts, ignore_index=True).drop_duplicates(["kind", "record_id", "cohort"])


def count_flags(flags: pd.DataFrame) -> dict[str, int]:
    """Flagged records by kind (every kind present, zeros included)."""
    counts = flags.drop_duplicates(["kind", "record_id"])["kind"].value_counts()
    return {kind: int(counts.get(kind, 0)) for kind in KINDS}


def cohort_flags(
    flags: pd.DataFrame,
    cohort: str,
    patients: Iterable[int],
    where: Where = EVERYWHERE,
) -> pd.DataFrame:
    """The flags (``flag_rows``) a cohort's report owns: those of the patients (keys) it measured,
    except diagnoses of other cohorts, plus this cohort's diagnoses after death dated in the period
    and scope (those patients may be in no measure at all, precisely because the diagnosis was
    unusable)."""
    is_dx = flags["kind"] == "diagnosis_after_death"
    measured = flags["patient_id"].isin(set(patients)) & (~is_dx | (flags["cohort"] == cohort))
    orphan = (
        is_dx
        & (flags["cohort"] == cohort)
        & in_period(flags["record_date"], where.period_from, where.period_to)
    )
    orphan_rows = in_scope(flags[orphan], site=where.site, unit=where.unit)
    return flags[measured | flags.index.isin(orphan_rows.index)]


def invalid_consults(frames: Frames) -> pd.Index:
    """Index labels of consult rows dated before their referral (excluded from M4)."""
    consults = consult_rows(frames)
    anchor = consult_anchor(frames)
    return consults.index[(consults["start_date"] < anchor).fillna(False).astype(bool)]
