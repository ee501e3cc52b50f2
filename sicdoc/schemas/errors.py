"""The error answer of the JSON endpoints outside FHIR and OAuth: ``{"error": code, "message": text}``."""

from __future__ import annotations

from marshmallow import Schema, fields


class ApiErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "A short code, e.g. bad_request"})
    message = fields.String(required=True, metadata={"description": "What went wrong, for a person"})
