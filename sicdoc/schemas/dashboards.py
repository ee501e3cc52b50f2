"""Dashboard definition files (``dashboards/*.json``): the dashboard, its panels and their options.

A panel's ``kind`` and the options that kind requires are read from the one registry of panel kinds
(``sicdoc.analytics.panels.KINDS``) at every load, so a kind added there is accepted here.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

from marshmallow import ValidationError, fields, validates, validates_schema
from marshmallow.validate import Length, OneOf, Regexp

from sicdoc.analytics import panels
from sicdoc.analytics.phases import BASELINE
from sicdoc.schemas.base import Real, Strict, Text, Whole

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
IMPROVEMENT = ("increase", "decrease", "neutral")
_ID = Regexp(ID_RE, error="use lower-case letters, digits and hyphens")


def _choices(allowed: tuple[Any, ...]) -> OneOf:
    return OneOf(allowed, error=f"must be one of {', '.join(map(str, allowed))}")


class PanelSchema(Strict):
    id = Text(validate=_ID)
    kind = Text()
    title = Text()
    description = fields.String()
    target = Real(error_messages={"invalid": "must be a non-negative number (a proportion for rates)"})
    improvement = fields.String(validate=_choices(IMPROVEMENT))
    run_chart_below = Whole(2, 1000)
    hours = fields.Integer(strict=True, validate=_choices((24, 48, 72)))
    days = fields.Integer(strict=True, validate=_choices((30, 90, 180, 365)))
    # Options only some kinds take; the registry says which kinds, and the values each may take.
    series = fields.String()
    measure = fields.String()
    overdispersion = fields.String()

    @validates("kind")
    def _known_kind(self, value: str, **_: Any) -> None:
        if value not in panels.KINDS:
            raise ValidationError(f"unknown kind {value!r}; expected one of {', '.join(panels.KINDS)}")

    @validates("target")
    def _proportion(self, value: float, **_: Any) -> None:
        if value < 0:
            raise ValidationError("must be a non-negative number (a proportion for rates)")

    @validates_schema(skip_on_field_errors=True)
    def _kind_options(self, data: dict[str, Any], **_: Any) -> None:
        kind = panels.KINDS[data["kind"]]
        choices = kind.choices
        for key, allowed in choices.items():
            if data.get(key) not in allowed:
                raise ValidationError(f"must be one of {', '.join(allowed)}", key)
        for key, allowed in kind.optional.items():
            if key in data and data[key] not in allowed:
                raise ValidationError(f"must be one of {', '.join(allowed)}", key)
        for key in {key for other in panels.KINDS.values() for key in (*other.choices, *other.optional)}:
            if key in data and key not in choices and key not in kind.optional:
                raise ValidationError(f"is not an option of {data['kind']} panels", key)
        if kind.proportion_target and "target" in data and data["target"] > 1:
            raise ValidationError("must be a proportion from 0 to 1", "target")


class PhaseSchema(Strict):
    """A programme phase: control charts get a new centre line and limits from ``start``."""

    start = fields.Date(
        required=True,
        error_messages={
            "required": "is a required date written YYYY-MM-DD",
            "invalid": "must be a date written YYYY-MM-DD",
        },
    )
    label = Text(validate=Length(max=80, error="must be at most 80 characters"))


class DashboardSchema(Strict):
    id = Text(validate=_ID)
    title = Text()
    description = fields.String(load_default="")
    default_period_months = Whole(1, 600, load_default=12)
    min_cell = Whole(11, 1000, load_default=11)
    phases = fields.List(
        fields.Nested(PhaseSchema),
        load_default=list,
        error_messages={"invalid": "must be a list of objects with a start and a label"},
    )
    panels = fields.List(
        fields.Nested(PanelSchema),
        required=True,
        validate=Length(min=1, error="must be a non-empty list"),
        error_messages={"required": "must be a non-empty list", "invalid": "must be a non-empty list"},
    )

    @validates_schema(skip_on_field_errors=True)
    def _unique_panel_ids(self, data: dict[str, Any], **_: Any) -> None:
        ids = [p["id"] for p in data["panels"]]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValidationError(f"panel ids repeat: {repeated}", "panels")

    @validates_schema(skip_on_field_errors=True)
    def _increasing_phases(self, data: dict[str, Any], **_: Any) -> None:
        phases = data["phases"]
        for i, (before, phase) in enumerate(pairwise(phases), start=1):
            if phase["start"] <= before["start"]:
                message = f"must be after the start of phase {i - 1} ({before['start'].isoformat()})"
                raise ValidationError({"phases": {i: {"start": [message]}}})
        labels = [p["label"] for p in phases]
        for i, label in enumerate(labels):
            if label in labels[:i] or label == BASELINE:
                message = "is the label of another phase" if label != BASELINE else "is kept for the baseline"
                raise ValidationError({"phases": {i: {"label": [message]}}})
