"""Care at the end of life and whether it matched the goals patients documented.

All functions take normalised frames cut at the as-of date (``Frames.normalised().observed(as_of)``).
Days are whole calendar days; "in the last N days" means ``0 <= death date - event date <= N - 1``.

Per decedent of a cohort (death date in the period), ``decedent_care`` derives:

- NQF 0210 ``chemo_last_14d`` (cancer only in the report): a completed chemotherapy Procedure in the
  last 14 days; NQF 0211 ``ed_gt1_last_30d``: more than one ED visit (class EMER, by start date) in
  the last 30 days; NQF 0213 ``icu_last_30d``: an ICU stay that overlaps the last 30 days
  (start <= death and, when it has ended, end >= death - 29);
- NQF 0215 ``no_hospice``: no hospice enrolment on or before the death day; NQF 0216
  ``hospice_lt3d``: the first enrolment on or before the death day was 0-2 days before death.
  Enrolment is the start of an EpisodeOfCare or Encounter typed hospice care, or the discharge date
  of an inpatient stay discharged to hospice;
- ``death_in_hospital``: an IMP encounter with start <= death <= end (open when it has no end) or
  discharged as expired; ``death_in_icu``: an ICU stay with start <= death <= end;
- ``sic_last_180d``: a completed conversation in the last 180 days;
- concordance: the last care focus and the last code status documented on or before the death day
  (later ones ignored). Comfort-focused decedents with an ICU stay, CPR or mechanical ventilation in
  the last 30 days, or who died in hospital; DNR decedents with CPR on a later day than the last
  code status, up to death; DNR/DNI decedents intubated on a later day.

Records that contradict the death date (events after it) and ICU candidates whose Location has no
type are counted in ``data_quality``, never as events.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sicdoc import codes
from sicdoc.analytics.care_records import (
    CARE_FOCUS,
    CARE_FOCUS_INVALID,
    CHEMOTHERAPY,
    CPR,
    HOSPICE,
    INTUBATION,
    VENTILATION,
    dated,
    documented,
    ed_visits,
    events,
    hospice_enrolments,
    icu_stays,
    last_documented,
    stays,
)
from sicdoc.analytics.cohorts import (
    NOT_HAPPENED,
    cohort_patients,
    conversation_rows,
    in_period,
    in_scope,
)
from sicdoc.analytics.frames import EVERYWHERE, Frames, Where, days_between, lookup

# Report fields of the end_of_life object, in report order.
EOL_FIELDS = (
    "eol_chemo_last_14d",
    "eol_ed_gt1_last_30d",
    "eol_icu_last_30d",
    "eol_no_hospice",
    "eol_hospice_lt3d",
    "eol_death_in_hospital",
    "eol_death_in_icu",
    "sic_last_180d",
)
CONCORDANCE_FIELDS = (
    "concordance_comfort_focus_decedents",
    "concordance_comfort_icu_cpr_mv_last_30d",
    "concordance_comfort_died_in_hospital",
    "dnr_decedents",
    "dnr_then_cpr",
    "dnr_dni_decedents",
    "dnr_dni_then_intubation",
)
DATA_QUALITY_FIELDS = (
    "events_after_death",
    "hospice_after_death",
    "icu_stays_without_location_type",
    "hospice_ends_before_start",
    "care_focus_outside_answer_list",
)
# Each report field -> (column of decedent_care, the field whose count is its denominator).
DENOMINATORS: dict[str, str] = {
    "eol_chemo_last_14d": "decedents",
    "eol_ed_gt1_last_30d": "decedents",
    "eol_icu_last_30d": "decedents",
    "eol_no_hospice": "decedents",
    "eol_hospice_lt3d": "hospice_enrolled",
    "eol_death_in_hospital": "decedents",
    "eol_death_in_icu": "decedents",
    "sic_last_180d": "decedents",
    "concordance_comfort_focus_decedents": "decedents",
    "concordance_comfort_icu_cpr_mv_last_30d": "concordance_comfort_focus_decedents",
    "concordance_comfort_died_in_hospital": "concordance_comfort_focus_decedents",
    "dnr_decedents": "decedents",
    "dnr_then_cpr": "dnr_decedents",
    "dnr_dni_decedents": "dnr_decedents",
    "dnr_dni_then_intubation": "dnr_dni_decedents",
}
COLUMN_OF = {
    "eol_chemo_last_14d": "chemo_last_14d",
    "eol_ed_gt1_last_30d": "ed_gt1_last_30d",
    "eol_icu_last_30d": "icu_last_30d",
    "eol_no_hospice": "no_hospice",
    "eol_hospice_lt3d": "hospice_lt3d",
    "eol_death_in_hospital": "death_in_hospital",
    "eol_death_in_icu": "death_in_icu",
    "sic_last_180d": "sic_last_180d",
    "concordance_comfort_focus_decedents": "comfort_focus",
    "concordance_comfort_icu_cpr_mv_last_30d": "comfort_icu_cpr_mv_last_30d",
    "concordance_comfort_died_in_hospital": "comfort_died_in_hospital",
    "dnr_decedents": "dnr",
    "dnr_then_cpr": "dnr_then_cpr",
    "dnr_dni_decedents": "dnr_dni",
    "dnr_dni_then_intubation": "dnr_dni_then_intubation",
}
# Only the cancer cohort has NQF 0210.
CHEMO_COHORTS = frozenset({"cancer"})
# Ties on one day: the most comfort-focused care focus and the most limiting code status win, so a
# review is shown the documentation that would raise a signal rather than the one that hides it.
CARE_FOCUS_ORDER = {"LA33473-2": 0, "LA33474-0": 1, codes.COMFORT_FOCUSED: 2}
CODE_STATUS_ORDER = {"full": 0, "undecided": 1, "dnr": 2, "dnr-dni": 3}
DNR = frozenset({"dnr", "dnr-dni"})
EVENT_KINDS_AFTER_DEATH = (CHEMOTHERAPY, CPR, VENTILATION, INTUBATION, CARE_FOCUS)


def _window_any(rows: pd.DataFrame, death: pd.Series, days: int) -> pd.Series:
    """Per patient (index of ``death``): any row dated in the last ``days`` days of life."""
    return _window_count(rows, death, days) > 0


def _window_count(rows: pd.DataFrame, death: pd.Series, days: int) -> pd.Series:
    """Per patient: rows dated 0..days-1 days before death."""
    d = days_between(lookup(rows["patient_id"], death), rows["date"])
    inside = rows[(d >= 0) & (d <= days - 1)]
    counts = inside.groupby("patient_id").size()
    return counts.reindex(death.index, fill_value=0).astype(int)


def _after_death(rows: pd.DataFrame, death: pd.Series) -> pd.Series:
    limit = lookup(rows["patient_id"], death)
    late = rows[rows["date"] > limit]
    return late.groupby("patient_id").size().reindex(death.index, fill_value=0).astype(int)


def _later_than(rows: pd.DataFrame, after: pd.Series, death: pd.Series) -> pd.Series:
    """Per patient: a row dated on a later day than ``after`` (NaT: never) and on or before death."""
    start = lookup(rows["patient_id"], after)
    end = lookup(rows["patient_id"], death)
    hit = rows[start.notna() & (rows["date"] > start) & (rows["date"] <= end)]
    return pd.Series(death.index.isin(hit["patient_id"].unique()), index=death.index)


def decedent_care(frames: Frames, cohort: str, where: Where = EVERYWHERE) -> pd.DataFrame:
    """One row per decedent of ``cohort`` whose death date is in the period, with every end-of-life
    flag (see the module docstring), the last care focus and code status with their dates, the first
    conversation's date, and the data-quality counts."""
    # A decedent's row does not depend on the period or place asked for: every decedent of the
    # cohort is worked out once per frames, and each filter picks its rows.
    table = frames.memo(("decedent_care", cohort), lambda: _every_decedent(frames, cohort))
    table = table[in_period(table["death_date"], where.period_from, where.period_to)]
    return in_scope(table, site=where.site, unit=where.unit).reset_index(drop=True)


def _every_decedent(frames: Frames, cohort: str) -> pd.DataFrame:
    pts = cohort_patients(frames, cohort)
    pts = pts[pts["death_date"].notna()]
    return care_table(frames, pts[["patient_id", "death_date", "site", "unit"]])


def all_decedents(frames: Frames, where: Where = EVERYWHERE) -> pd.DataFrame:
    """Every patient whose death date is in the period, in a cohort or not (patient_id,
    death_date, site, unit: the patient's own site, no unit), for ``care_table``."""
    people = frames.patients.drop_duplicates("patient_id")
    dead = people[in_period(people["deceased_date"], where.period_from, where.period_to)]
    out = pd.DataFrame(
        {
            "patient_id": dead["patient_id"],
            "death_date": dead["deceased_date"],
            "site": dead["site"],
            "unit": None,
        }
    )
    if where.site is not None:
        out = out[out["site"] == where.site]
    return out.reset_index(drop=True)


def care_table(frames: Frames, patients: pd.DataFrame) -> pd.DataFrame:
    """``decedent_care`` for any decedents (``patients``: patient_id, death_date, site, unit)."""
    out = patients.reset_index(drop=True).copy()
    death = out.set_index("patient_id")["death_date"]
    idx = death.index

    def col(series: pd.Series) -> np.ndarray:
        return series.reindex(idx).to_numpy()

    chemo, cpr = dated(frames, CHEMOTHERAPY), dated(frames, CPR)
    vent, intubation = dated(frames, VENTILATION), dated(frames, INTUBATION)
    ed = ed_visits(frames)
    out["chemo_last_14d"] = col(_window_any(chemo, death, 14))
    out["ed_visits_last_30d"] = col(_window_count(ed, death, 30))
    out["ed_gt1_last_30d"] = out["ed_visits_last_30d"] > 1

    icu = icu_stays(frames)
    icu_death = lookup(icu["patient_id"], death)
    overlap = (icu["start"] <= icu_death) & (
        icu["end"].isna() | (icu["end"] >= icu_death - pd.Timedelta(days=29))
    )
    out["icu_last_30d"] = out["patient_id"].isin(icu.loc[overlap, "patient_id"]).to_numpy()
    in_icu = (icu["start"] <= icu_death) & (icu["end"].isna() | (icu["end"] >= icu_death))
    out["death_in_icu"] = out["patient_id"].isin(icu.loc[in_icu, "patient_id"]).to_numpy()

    enc = frames.encounters
    imp = enc[(enc["class_code"] == "IMP") & ~enc["status"].isin(NOT_HAPPENED)]
    imp_death = lookup(imp["patient_id"], death)
    inside = (imp["admit_date"] <= imp_death) & (
        imp["discharge_date"].isna() | (imp["discharge_date"] >= imp_death)
    )
    expired = imp["discharge_disposition"] == codes.DISCHARGE_EXPIRED
    died_there = imp.loc[imp_death.notna() & (inside | expired), "patient_id"]
    out["death_in_hospital"] = out["patient_id"].isin(died_there).to_numpy()

    hospice = hospice_enrolments(frames)
    h_limit = lookup(hospice["patient_id"], death)
    first_hospice = hospice[hospice["date"] <= h_limit].groupby("patient_id")["date"].min()
    out["first_hospice_date"] = col(first_hospice)
    out["no_hospice"] = out["first_hospice_date"].isna()
    out["hospice_lt3d"] = (
        days_between(out["death_date"], out["first_hospice_date"]).le(2).fillna(False).astype(bool)
    )

    convs = conversation_rows(frames)
    talks = pd.DataFrame({"patient_id": convs["patient_id"], "date": convs["performed_date"]})
    out["sic_last_180d"] = col(_window_any(talks, death, 180))
    before = talks[talks["date"] <= lookup(talks["patient_id"], death)]
    out["first_sic_date"] = col(before.groupby("patient_id")["date"].min())
    out["last_sic_date"] = col(before.groupby("patient_id")["date"].max())

    focus = last_documented(documented(frames, "care_focus"), "care_focus", CARE_FOCUS_ORDER, death)
    out["care_focus"], out["care_focus_date"] = col(focus["value"]), col(focus["date"])
    status = last_documented(documented(frames, "code_status"), "code_status", CODE_STATUS_ORDER, death)
    out["code_status"], out["code_status_date"] = col(status["value"]), col(status["date"])

    out["comfort_focus"] = (out["care_focus"] == codes.COMFORT_FOCUSED).to_numpy()
    cpr_mv = pd.concat([cpr, vent], ignore_index=True)
    out["cpr_or_mv_last_30d"] = col(_window_any(cpr_mv, death, 30))
    out["comfort_icu_cpr_mv_last_30d"] = out["comfort_focus"] & (
        out["icu_last_30d"] | out["cpr_or_mv_last_30d"]
    )
    out["comfort_died_in_hospital"] = out["comfort_focus"] & out["death_in_hospital"]
    out["dnr"] = out["code_status"].isin(DNR).to_numpy()
    out["dnr_dni"] = (out["code_status"] == "dnr-dni").to_numpy()
    status_date = pd.Series(out["code_status_date"].to_numpy(), index=idx)
    out["dnr_then_cpr"] = out["dnr"] & col(_later_than(cpr, status_date.where(out["dnr"].to_numpy()), death))
    out["dnr_dni_then_intubation"] = out["dnr_dni"] & col(
        _later_than(intubation, status_date.where(out["dnr_dni"].to_numpy()), death)
    )

    late = [_after_death(dated(frames, kind), death) for kind in EVENT_KINDS_AFTER_DEATH]
    late.append(_after_death(ed, death))
    late.append(_after_death(icu.rename(columns={"start": "date"})[["patient_id", "date"]], death))
    out["events_after_death"] = col(sum(late[1:], late[0]))
    out["hospice_after_death"] = col(_after_death(hospice, death))
    all_stays = stays(frames)
    untyped = all_stays[~all_stays["typed"]]
    out["icu_stays_without_location_type"] = col(
        untyped.groupby("patient_id").size().reindex(idx, fill_value=0).astype(int)
    )
    ev = events(frames, HOSPICE)
    backwards = ev[ev["end_date"] < ev["start_date"]]
    out["hospice_ends_before_start"] = col(backwards.groupby("patient_id").size().reindex(idx, fill_value=0))
    bad_focus = events(frames, CARE_FOCUS_INVALID)
    out["care_focus_outside_answer_list"] = col(
        bad_focus.groupby("patient_id").size().reindex(idx, fill_value=0)
    )
    for name in (
        "events_after_death",
        "hospice_after_death",
        "hospice_ends_before_start",
        "care_focus_outside_answer_list",
    ):
        out[name] = out[name].fillna(0).astype(int)
    return out


def end_of_life_counts(table: pd.DataFrame, cohort: str) -> dict[str, int | None]:
    """The end_of_life counts of one cohort from its ``decedent_care`` table (unsuppressed), with
    the denominators ``decedents`` and ``hospice_enrolled``."""
    out: dict[str, int | None] = {
        "decedents": len(table),
        "hospice_enrolled": int((~table["no_hospice"]).sum()),
    }
    for field in (*EOL_FIELDS, *CONCORDANCE_FIELDS):
        out[field] = int(table[COLUMN_OF[field]].sum())
    if cohort not in CHEMO_COHORTS:
        out["eol_chemo_last_14d"] = None
    return out


def data_quality_counts(table: pd.DataFrame) -> dict[str, int]:
    """The end-of-life data-quality counts of one cohort's decedents."""
    return {field: int(table[field].sum()) for field in DATA_QUALITY_FIELDS}


# ---- attribution -----------------------------------------------------------------------------


def last_conversation(frames: Frames, death: pd.Series) -> pd.DataFrame:
    """Per patient (index of ``death``, the death dates): the last completed conversation on or
    before the death day, as ``date`` and ``clinician_id`` (ties on one day: the highest procedure
    id); NaT and None for a patient without one."""
    convs = conversation_rows(frames)
    limit = lookup(convs["patient_id"], death)
    before = convs[limit.notna() & (convs["performed_date"] <= limit)]
    last = before.sort_values(["patient_id", "performed_date", "procedure_id"]).drop_duplicates(
        "patient_id", keep="last"
    )
    out = last.set_index("patient_id")[["performed_date", "clinician_id"]]
    return out.rename(columns={"performed_date": "date"}).reindex(death.index)
