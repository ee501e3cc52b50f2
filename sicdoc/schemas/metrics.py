"""The QI metrics report (``GET /api/metrics``, ``sicdoc metrics``), as ``compute_metrics`` builds it.

Output only: the report is dumped through these schemas, and the OpenAPI description of the API
is generated from them. Counts may be "<11" or "suppressed" (see ``sicdoc.analytics.suppression``).
"""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf

from sicdoc.analytics.phases import GROUPINGS
from sicdoc.analytics.scope import MAX_TEXT
from sicdoc.codes import COHORTS
from sicdoc.schemas.base import Count, Number, Strict

_DATE = {"format": "date"}
# Estimates and intervals are keyed by horizon in days ("30", "90", ...).
_HORIZON = fields.String(metadata={"pattern": "^[0-9]+$"})


class MetricsQuerySchema(Strict):
    """The query string of ``GET /api/metrics``; the values are checked by ``parse_qi_scope``."""

    error_messages = {"unknown": "is not a parameter of this report", "type": "must be a query string"}

    cohort = fields.String(metadata={"enum": list(COHORTS), "description": "Default: all three"})
    period_from = fields.String(data_key="from", metadata=_DATE | {"description": "First day of the period"})
    period_to = fields.String(data_key="to", metadata=_DATE | {"description": "Last day of the period"})
    as_of = fields.String(metadata=_DATE | {"description": "Data cut-off (default: today)"})
    site = fields.String(validate=Length(max=MAX_TEXT), metadata={"description": "Only this site"})
    unit = fields.String(validate=Length(max=MAX_TEXT), metadata={"description": "Only this unit"})
    grouping = fields.String(
        metadata={
            "enum": list(GROUPINGS),
            "description": "How the dashboards' control charts group points (default month); "
            "accepted so a dashboard link's filters work here, the report is the same either way",
        }
    )


class PeriodSchema(Schema):
    period_from = fields.String(
        attribute="from", data_key="from", allow_none=True, metadata=_DATE, required=True
    )
    period_to = fields.String(attribute="to", data_key="to", allow_none=True, metadata=_DATE, required=True)


class RequestedSchema(PeriodSchema):
    as_of = fields.String(metadata=_DATE, required=True)


class FiltersSchema(Schema):
    site = fields.String(allow_none=True, required=True)
    unit = fields.String(allow_none=True, required=True)


class TimelinessSchema(Schema):
    numerator = Count(required=True)
    denominator = Count(required=True)
    rate = fields.Float(allow_none=True, required=True)


class PenetrationSchema(Schema):
    # Unique patients with an initial palliative consult; adult inpatient admissions.
    consulted_patients = Count(required=True)
    admissions = Count(required=True)
    rate = fields.Float(
        allow_none=True, required=True, metadata={"description": "consulted_patients / admissions"}
    )


class PenetrationMonthSchema(PenetrationSchema):
    complete = fields.Boolean(
        required=True,
        metadata={"description": "The month ended and all its stays ended by data_complete_through"},
    )


class HoursSchema(Schema):
    median = fields.Float(allow_none=True, required=True)
    q1 = fields.Float(allow_none=True, required=True, metadata={"description": "First quartile"})
    q3 = fields.Float(allow_none=True, required=True, metadata={"description": "Third quartile"})
    n = Count(required=True)  # admissions measured


def _months() -> fields.Dict:
    return fields.Dict(
        keys=fields.String(metadata={"pattern": "^[0-9]{4}-[0-9]{2}$"}),
        values=fields.Nested(PenetrationMonthSchema),
        required=True,
        metadata={"description": "By month of admission (YYYY-MM)"},
    )


class ReachSchema(Schema):
    """M5 reach and timeliness (CAPC penetration; hours to the first palliative consult)."""

    penetration = fields.Nested(PenetrationSchema, required=True)
    penetration_monthly = _months()
    admission_to_consult_hours = fields.Nested(HoursSchema, required=True)
    referral_to_consult_hours = fields.Nested(HoursSchema, required=True)


class EndOfLifeSchema(Schema):
    """Counts of the cohort's decedents (death date in the period); see the README for each definition."""

    decedents = Count(required=True)
    hospice_enrolled = Count(
        required=True, metadata={"description": "Enrolled in hospice on or before death"}
    )
    eol_chemo_last_14d = Count(
        allow_none=True, required=True, metadata={"description": "NQF 0210; null outside the cancer cohort"}
    )
    eol_ed_gt1_last_30d = Count(required=True, metadata={"description": "NQF 0211"})
    eol_icu_last_30d = Count(required=True, metadata={"description": "NQF 0213"})
    eol_no_hospice = Count(required=True, metadata={"description": "NQF 0215"})
    eol_hospice_lt3d = Count(required=True, metadata={"description": "NQF 0216, of hospice_enrolled"})
    eol_death_in_hospital = Count(required=True)
    eol_death_in_icu = Count(required=True)
    sic_last_180d = Count(required=True)
    concordance_comfort_focus_decedents = Count(required=True)
    concordance_comfort_icu_cpr_mv_last_30d = Count(required=True)
    concordance_comfort_died_in_hospital = Count(required=True)
    dnr_decedents = Count(required=True)
    dnr_then_cpr = Count(required=True)
    dnr_dni_decedents = Count(required=True)
    dnr_dni_then_intubation = Count(required=True)


class DocumentationQualitySchema(Schema):
    conversations = Count(required=True, metadata={"description": "Completed conversations up to as_of"})
    conversations_all_four = Count(required=True, metadata={"description": "Documenting all four domains"})
    mean_domains = fields.Float(
        allow_none=True, required=True, metadata={"description": "Mean domains documented (0-4), 6 decimals"}
    )


class CohortMetricsSchema(Schema):
    index_patients = Count(required=True)
    prior_referral = Count(required=True)
    referral_cif = fields.Dict(keys=_HORIZON, values=fields.Float(allow_none=True), required=True)
    referral_cif_ci = fields.Dict(
        keys=_HORIZON, values=fields.List(fields.Float(), allow_none=True), required=True
    )
    median_days_index_to_referral = Number(required=True)
    decedents = Count(required=True)
    decedents_referred = Count(required=True)
    referral_to_death_bands = fields.Dict(keys=fields.String(), values=Count(), required=True)
    median_days_referral_to_death = Number(required=True)
    decedents_with_sic = Count(required=True)
    decedents_first_sic_gt30d = Count(required=True)
    median_days_first_sic_to_death = Number(required=True)
    prior_sic = Count(required=True)
    sic_cif = fields.Dict(keys=_HORIZON, values=fields.Float(allow_none=True), required=True)
    sic_cif_ci = fields.Dict(
        keys=_HORIZON, values=fields.List(fields.Float(), allow_none=True), required=True
    )
    # By hours from admission ("24", "48", "72"); null for cohorts not measured in hospital.
    inpatient_timeliness = fields.Dict(
        keys=fields.String(), values=fields.Nested(TimelinessSchema), allow_none=True, required=True
    )
    data_quality = fields.Dict(keys=fields.String(), values=Count(), required=True)
    # M5 over the cohort's admissions (see ReachSchema).
    penetration = fields.Nested(PenetrationSchema, required=True)
    penetration_monthly = _months()
    admission_to_consult_hours = fields.Nested(HoursSchema, required=True)
    referral_to_consult_hours = fields.Nested(HoursSchema, required=True)
    end_of_life = fields.Nested(EndOfLifeSchema, required=True)
    documentation_quality = fields.Nested(DocumentationQualitySchema, required=True)


class MetricsReportSchema(Schema):
    as_of = fields.String(metadata=_DATE | {"description": "The data cut-off the figures use"}, required=True)
    data_complete_through = fields.String(
        allow_none=True,
        metadata=_DATE | {"description": "The last day with data (latest event date up to as_of)"},
        required=True,
    )
    data_note = fields.String(
        allow_none=True,
        metadata={"description": "Set when as_of runs past the last day with data"},
        required=True,
    )
    period = fields.Nested(PeriodSchema, required=True)
    time_granularity = fields.String(validate=OneOf(("month", "day")), required=True)
    requested = fields.Nested(RequestedSchema, metadata={"description": "The dates as asked"}, required=True)
    note = fields.String(
        allow_none=True, metadata={"description": "What whole months changed"}, required=True
    )
    value_set_version = fields.String(required=True)
    filters = fields.Nested(FiltersSchema, required=True)
    suppressed = fields.Boolean(required=True)
    min_cell = fields.Integer(allow_none=True, required=True)
    reach = fields.Nested(
        ReachSchema,
        allow_none=True,
        required=True,
        metadata={
            "description": "M5 over all adult admissions in the period and scope",
            "example": {
                "penetration": {"consulted_patients": 62, "admissions": 806, "rate": 0.0769},
                "penetration_monthly": {
                    "2026-04": {
                        "consulted_patients": "<11",
                        "admissions": 38,
                        "rate": None,
                        "complete": True,
                    },
                    "2026-05": {
                        "consulted_patients": 12,
                        "admissions": 41,
                        "rate": 0.2927,
                        "complete": False,
                    },
                },
                "admission_to_consult_hours": {"median": 64.56, "q1": 45.93, "q3": 81.62, "n": 62},
                "referral_to_consult_hours": {"median": 23.32, "q1": 19.19, "q3": 29.03, "n": 62},
            },
        },
    )
    documentation_quality = fields.Nested(
        DocumentationQualitySchema,
        allow_none=True,
        required=True,
        metadata={
            "description": "Every patient's completed conversations up to as_of, in the scope's site and unit"
        },
    )
    cohorts = fields.Dict(
        keys=fields.String(validate=OneOf(COHORTS)), values=fields.Nested(CohortMetricsSchema), required=True
    )
