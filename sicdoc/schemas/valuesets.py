"""Cohort value-set files (``sicdoc/valuesets/*.json``, or a site's own in SICDOC_VALUE_SET_FILE)."""

from __future__ import annotations

import re

from marshmallow import fields
from marshmallow.validate import Length, Regexp

from sicdoc.schemas.base import Strict, Text

# An ICD-10 category (I63) or a code under it (I50.81); a SNOMED CT concept id.
_ICD = Regexp(
    re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"), error="is not an ICD-10 code such as I63 or I50.81"
)
_CATEGORY = Regexp(re.compile(r"^[A-Z][0-9][0-9A-Z]$"), error="is not an ICD-10 category such as C44")
_SNOMED = Regexp(re.compile(r"^[1-9][0-9]{5,17}$"), error="is not a SNOMED CT concept id")
_SUBTYPE = Regexp(re.compile(r"^[a-z][a-z_]{0,31}$"), error="use lower-case letters and underscores")


def _codes(key: Regexp) -> fields.Dict:
    """Codes mapped to the subtype they put a patient in."""
    return fields.Dict(
        keys=fields.String(validate=key), values=fields.String(validate=_SUBTYPE), required=True
    )


def _categories() -> fields.List:
    return fields.List(fields.String(validate=_CATEGORY), required=True)


def _category_range() -> fields.List:
    return fields.List(
        fields.String(validate=_CATEGORY),
        validate=Length(equal=2, error="must be [first, last]"),
        required=True,
    )


# Built from a dict: a field named ``exclude`` would hide the attribute of that name on Schema.
IcdRulesSchema = Strict.from_dict(
    {"include": _codes(_ICD), "exclude": fields.List(fields.String(validate=_ICD), required=True)},
    name="IcdRulesSchema",
)


class StrokeSchema(Strict):
    icd10cm = fields.Nested(IcdRulesSchema, required=True)
    # Categories only ICD-10 (WHO) has, such as I64 (stroke, not specified).
    icd10_who_only = _codes(_CATEGORY)
    snomed = _codes(_SNOMED)


class HeartFailureSchema(Strict):
    icd10cm = fields.Nested(IcdRulesSchema, required=True)
    snomed = _codes(_SNOMED)


class CancerRulesSchema(Strict):
    ranges = fields.List(_category_range(), required=True)
    extra_categories = _categories()
    exclude_categories = _categories()
    metastatic_categories = _categories()
    hematologic_range = _category_range()


class CancerSchema(Strict):
    icd10cm = fields.Nested(CancerRulesSchema, required=True)
    snomed = _codes(_SNOMED)


class CohortsSchema(Strict):
    stroke = fields.Nested(StrokeSchema, required=True)
    heart_failure = fields.Nested(HeartFailureSchema, required=True)
    cancer = fields.Nested(CancerSchema, required=True)


class ValueSetFileSchema(Strict):
    version = Text()
    description = fields.String()
    cohorts = fields.Nested(CohortsSchema, required=True)
