"""Monthly series, equity strata and funnel tables built from hand-made heart-failure patients."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from sicdoc.analytics import Frames
from sicdoc.analytics.frames import Where
from sicdoc.analytics.inpatient import admission_table
from sicdoc.analytics.intervals import decedents
from sicdoc.analytics.lookforward import lookforward_table
from sicdoc.analytics.series import (
    clinician_table,
    cohort_series,
    month_of,
    monthly_early_referral,
    monthly_referral_within,
    monthly_sic_before_death,
    referral_within_strata,
    unit_table,
    window_complete,
)
from sicdoc.analytics.spc import p_chart

AS_OF = date(2025, 12, 31)


def frames() -> Frames:
    """h1 index 01-10, referral 02-01 (22 d)             F, born 1980-01-11 (44 at index)
    h2 index 01-20, never referred, alive                M, born 1980-01-20 (45 on index day)
    h3 index 02-05, died 02-20 unreferred                F, born 1940 (85)
    h4 index 11-15, referral 11-20 (5 d)                 sex and birth unknown
    h5 index 12-01, not referred, only 30 days followed  (window open: counted, month incomplete)
    h6 index 02-10, referral 06-01 (111 d)               M, born 2010 (15)
    h7 index 2024-06-01, referral 2024-07-01, died 03-15, conversation 01-01 (73 d before) by dr_a
    h8 index 2024-06-01, referral 03-01, died 03-20 (19 d)
    h9 index 2024-12-01, referral 01-01, died 04-02 (91 d), conversation 03-20 (13 d before) by dr_b
    """
    index = {
        "h1": date(2025, 1, 10),
        "h2": date(2025, 1, 20),
        "h3": date(2025, 2, 5),
        "h4": date(2025, 11, 15),
        "h5": date(2025, 12, 1),
        "h6": date(2025, 2, 10),
        "h7": date(2024, 6, 1),
        "h8": date(2024, 6, 1),
        "h9": date(2024, 12, 1),
    }
    sex = {"h1": "female", "h2": "male", "h3": "female", "h6": "male"}
    born = {"h1": date(1980, 1, 11), "h2": date(1980, 1, 20), "h3": date(1940, 1, 1), "h6": date(2010, 1, 1)}
    died = {"h3": date(2025, 2, 20), "h7": date(2025, 3, 15), "h8": date(2025, 3, 20), "h9": date(2025, 4, 2)}
    refs = {
        "h1": date(2025, 2, 1),
        "h4": date(2025, 11, 20),
        "h6": date(2025, 6, 1),
        "h7": date(2024, 7, 1),
        "h8": date(2025, 3, 1),
        "h9": date(2025, 1, 1),
    }
    admits = {
        "h1": (datetime(2025, 1, 10, 8, tzinfo=UTC), "cardio"),
        "h2": (datetime(2025, 1, 20, tzinfo=UTC), "cardio"),
        "h6": (datetime(2025, 2, 10, tzinfo=UTC), "ward2"),
    }
    return Frames.from_records(
        patients=[
            {"patient_id": p, "sex": sex.get(p), "birth_date": born.get(p), "deceased_date": died.get(p)}
            for p in index
        ],
        diagnoses=[
            {"condition_id": f"c{p}", "cohort": "heart_failure", "patient_id": p, "diagnosis_date": d}
            for p, d in index.items()
        ],
        referrals=[
            {"service_request_id": f"r{p}", "patient_id": p, "status": "active", "authored_date": d}
            for p, d in refs.items()
        ],
        encounters=[
            {
                "encounter_id": f"e{p}",
                "patient_id": p,
                "class_code": "IMP",
                "status": "finished",
                "admit_at": a,
                "admit_date": a.date(),
                "unit": u,
            }
            for p, (a, u) in admits.items()
        ],
        # h1's consult has no referral before it (a flag, not an event); its conversation counts.
        consults=[
            {
                "encounter_id": "k1",
                "patient_id": "h1",
                "status": "finished",
                "start_at": datetime(2025, 1, 10, 12, tzinfo=UTC),
                "start_date": date(2025, 1, 10),
            }
        ],
        conversations=[
            {
                "procedure_id": "s1",
                "patient_id": "h1",
                "status": "completed",
                "performed_date": date(2025, 1, 10),
                "performed_at": datetime(2025, 1, 10, 18, tzinfo=UTC),
                "clinician_id": "dr_a",
            },
            {
                "procedure_id": "s7",
                "patient_id": "h7",
                "status": "completed",
                "performed_date": date(2025, 1, 1),
                "clinician_id": "dr_a",
            },
            {
                "procedure_id": "s9",
                "patient_id": "h9",
                "status": "completed",
                "performed_date": date(2025, 3, 20),
                "clinician_id": "dr_b",
            },
            {
                "procedure_id": "s6",
                "patient_id": "h6",
                "status": "completed",
                "performed_date": date(2025, 2, 12),
                "performed_at": datetime(2025, 2, 12, 2, tzinfo=UTC),
                "clinician_id": "dr_a",
            },
        ],
    )


@pytest.fixture(scope="module")
def data() -> Frames:
    return frames().normalised().observed(AS_OF)


def rows(df, key):
    return {r[key]: (r["numerator"], r["denominator"]) for r in df.reset_index().to_dict("records")}


def test_monthly_referral_within_90_days(data):
    look = lookforward_table(data, "heart_failure", as_of=AS_OF, where=Where(period_from=date(2025, 1, 1)))
    monthly = monthly_referral_within(look, 90)
    # Jan: h1 yes, h2 no (followed 345 d); Feb: h3 no (died, window closed), h6 no (111 d);
    # Nov: h4 yes (5 d); Dec: h5 followed only 30 days, still in the denominator.
    assert rows(monthly, "month") == {
        "2025-01": (1, 2),
        "2025-02": (0, 2),
        "2025-11": (1, 1),
        "2025-12": (0, 1),
    }
    assert monthly["rate"].tolist() == [0.5, 0.0, 1.0, 0.0]
    # November's and December's 90-day windows end after the cut-off: shown, never in the limits.
    complete = window_complete(monthly["month"], "referred_within_90d", AS_OF)
    assert complete.tolist() == [True, True, False, False]
    chart = p_chart(monthly[complete])  # the complete months feed the chart: pooled 1/4
    assert chart["cl"].iloc[0] == pytest.approx(1 / 4)


def test_monthly_decedent_series(data):
    dead = decedents(data, "heart_failure")
    # By month of death, referred decedents referred > 30 days before: Mar: h7 (257 d) yes, h8 (19 d) no;
    # Apr: h9 (91 d) yes. h3 (Feb) was never referred: not in the denominator.
    assert rows(monthly_early_referral(dead), "month") == {"2025-03": (1, 2), "2025-04": (1, 1)}
    # First conversation > 30 days before death: Feb h3 none; Mar h7 (73 d) yes, h8 none; Apr h9 13 d.
    assert rows(monthly_sic_before_death(dead), "month") == {
        "2025-02": (0, 1),
        "2025-03": (1, 2),
        "2025-04": (0, 1),
    }


def test_strata_with_margin(data):
    look = lookforward_table(data, "heart_failure", as_of=AS_OF, where=Where(period_from=date(2025, 1, 1)))
    strata = referral_within_strata(look, 90)
    assert set(strata) == {"race", "ethnicity", "language", "sex", "age_band"}
    # Followed patients h1 h2 h3 h4 h6; referred within 90 days h1 h4.
    assert rows(strata["sex"], "sex") == {"female": (1, 2), "male": (0, 2), "unknown": (1, 1), "All": (2, 5)}
    # Ages at index: h1 44 (birthday the next day), h2 45 (on the day), h3 85, h6 15, h4 unknown.
    assert rows(strata["age_band"], "age_band") == {
        "18-44": (1, 1),
        "45-64": (0, 1),
        "85+": (0, 1),
        "<18": (0, 1),
        "unknown": (1, 1),
        "All": (2, 5),
    }
    assert rows(strata["race"], "race") == {"unknown": (2, 5), "All": (2, 5)}


def test_unit_and_clinician_tables(data):
    adm = admission_table(data, "heart_failure", as_of=AS_OF)
    # cardio: h1 conversation at 10 h (done; its 4 h consult preceded any referral), h2 nothing (no discharge: still eligible); ward2: h6 at 50 h.
    assert rows(unit_table(adm, 72), "unit") == {"cardio": (1, 2), "ward2": (1, 1)}
    assert rows(unit_table(adm, 24), "unit") == {"cardio": (1, 2), "ward2": (0, 1)}
    dead = decedents(data, "heart_failure")
    # dr_a documented h7's first conversation (73 d before death), dr_b h9's (13 d).
    assert rows(clinician_table(dead), "sic_clinician") == {"dr_a": (1, 1), "dr_b": (0, 1)}


def test_cohort_series_from_the_raw_frames():
    series = cohort_series(frames(), "heart_failure", as_of=AS_OF, where=Where(period_from=date(2025, 1, 1)))
    assert set(series) == {"referred_within_90d", "referral_gt30d_before_death", "sic_gt30d_before_death"}
    assert rows(series["referred_within_90d"], "month")["2025-01"] == (1, 2)
    assert rows(series["referral_gt30d_before_death"], "month") == {"2025-03": (1, 2), "2025-04": (1, 1)}
    # The last record is h5's index on 12-01, so the data are complete through November's end.
    flags = dict(
        zip(series["referred_within_90d"]["month"], series["referred_within_90d"]["complete"], strict=True)
    )
    assert flags["2025-01"] and not flags["2025-11"] and not flags["2025-12"]
    assert series["referral_gt30d_before_death"]["complete"].all()


def test_month_of_labels_each_date_by_its_month_and_leaves_missing_dates_out():
    days = pd.Series(pd.date_range("1999-12-30", "2026-03-02", freq="37D"))
    dates = pd.concat([days, pd.Series([pd.NaT, None]), days.iloc[::-1]], ignore_index=True)
    months = month_of(dates)
    expected = [None if pd.isna(d) else d.strftime("%Y-%m") for d in dates]
    assert [None if pd.isna(m) else m for m in months] == expected
    assert months.index.equals(dates.index)
    assert pd.isna(months[len(days)]) and months.iloc[0] == "1999-12"
