"""The OpenAPI 3.1 description of sicdoc's JSON endpoints outside FHIR, generated from the schemas.

The FHIR API describes itself (``GET /fhir/metadata``); this covers the metrics report, the OAuth
token endpoint, the SMART discovery document and this description. Each operation names how a
caller authenticates, as the rule table (``sicdoc.security.rules``) enforces it.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from sicdoc.schemas.errors import ApiErrorSchema
from sicdoc.schemas.metrics import MetricsQuerySchema, MetricsReportSchema
from sicdoc.schemas.oauth import OAuthErrorSchema, SmartConfigurationSchema, TokenRequestSchema, TokenSchema

JSON = "application/json"
DESCRIPTION = (
    "The JSON endpoints of sicdoc that are not FHIR. The FHIR R4 API is described by its "
    'CapabilityStatement at /fhir/metadata. Counts of 1-10 are never shown: they read "<11".'
)


def _answer(description: str, schema: Any = ApiErrorSchema, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


_RETRY = {"headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}}}
_UNAVAILABLE = _answer("The database or the audit log is unavailable; try again", **_RETRY)


def _metrics() -> dict[str, Any]:
    return {
        "summary": "The QI metrics report, small cells suppressed, whole months only",
        "description": (
            "Dates inside a month are moved to month boundaries; `requested` and `note` say what "
            "was asked and what changed. For people with the qi_analyst or admin role."
        ),
        "operationId": "getMetrics",
        "tags": ["QI"],
        "security": [{"session": []}],
        "parameters": [{"in": "query", "schema": MetricsQuerySchema}],
        "responses": {
            "200": _answer("The report", MetricsReportSchema),
            "302": {
                "description": "Not logged in: a redirect to the log-in page",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            "400": _answer("A parameter that cannot be used, with the reason"),
            "403": _answer("The role may not read QI reports"),
            "429": _answer("Too many requests", **_RETRY),
            "503": _UNAVAILABLE,
        },
    }


def _token() -> dict[str, Any]:
    return {
        "summary": "An access token for the FHIR API (OAuth 2.0 client credentials)",
        "description": (
            "The client authenticates with a signed JWT assertion (private_key_jwt), HTTP Basic "
            "(client_secret_basic) or client_id and client_secret in the form (client_secret_post)."
        ),
        "operationId": "issueToken",
        "tags": ["OAuth"],
        "security": [{"clientSecretBasic": []}, {}],
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": TokenRequestSchema}},
        },
        "responses": {
            "200": _answer("A bearer token", TokenSchema),
            "400": _answer("An RFC 6749 error (invalid_request, invalid_scope, ...)", OAuthErrorSchema),
            "401": _answer("The client was not authenticated", OAuthErrorSchema),
            "429": _answer("Too many token requests", OAuthErrorSchema, **_RETRY),
            "503": _answer("The audit log is unavailable", OAuthErrorSchema),
        },
    }


def _operation(summary: str, operation_id: str, tag: str, schema: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": operation_id,
        "tags": [tag],
        "security": [{}],
        "responses": {"200": _answer(summary, schema)},
    }


def openapi_description(*, base_url: str, session_cookie: str, version: str) -> dict[str, Any]:
    """The description as a JSON-ready dict; ``session_cookie`` is the configured cookie's name."""
    spec = APISpec(
        title="sicdoc JSON API (outside FHIR)",
        version=version,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": DESCRIPTION},
        servers=[{"url": base_url}],
    )
    spec.components.security_scheme(
        "session",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": session_cookie,
            "description": "The session cookie a person receives from the log-in page (POST /login)",
        },
    )
    spec.components.security_scheme(
        "clientSecretBasic",
        {
            "type": "http",
            "scheme": "basic",
            "description": "An integration client's id and secret (client_secret_basic)",
        },
    )
    spec.path(path="/api/metrics", operations={"get": _metrics()})
    spec.path(
        path="/api/openapi.json",
        operations={
            "get": {
                "summary": "This description",
                "description": "Public: it describes the shapes of the answers, never their data.",
                "operationId": "getOpenApi",
                "tags": ["Meta"],
                "security": [{}],
                "responses": {
                    "200": {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {"type": "object"}}}}
                },
            }
        },
    )
    spec.path(path="/auth/token", operations={"post": _token()})
    spec.path(
        path="/.well-known/smart-configuration",
        operations={
            "get": _operation(
                "SMART discovery: the token endpoint and what it supports",
                "getSmartConfiguration",
                "OAuth",
                SmartConfigurationSchema,
            )
        },
    )
    return spec.to_dict()
