"""The OAuth 2.0 token endpoint (RFC 6749 client credentials) and the SMART discovery document."""

from __future__ import annotations

from marshmallow import Schema, fields
from marshmallow.validate import OneOf

from sicdoc.security.tokens import ALGORITHMS, ASSERTION_TYPE


class TokenRequestSchema(Schema):
    """The form a client posts; it authenticates with an assertion, HTTP Basic or a posted secret."""

    grant_type = fields.String(required=True, validate=OneOf(["client_credentials"]))
    scope = fields.String(metadata={"description": 'Space-separated SMART scopes, e.g. "system/*.read"'})
    client_assertion_type = fields.String(validate=OneOf([ASSERTION_TYPE]))
    client_assertion = fields.String(metadata={"description": f"A JWT signed with {' or '.join(ALGORITHMS)}"})
    client_id = fields.String()
    client_secret = fields.String()


class TokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, validate=OneOf(["Bearer"]))
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds until it expires"})
    scope = fields.String(required=True, metadata={"description": "The scopes granted"})


class OAuthErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "An RFC 6749 error code"})
    error_description = fields.String(required=True)


class SmartConfigurationSchema(Schema):
    token_endpoint = fields.String(required=True, metadata={"format": "uri"})
    grant_types_supported = fields.List(fields.String(), required=True)
    token_endpoint_auth_methods_supported = fields.List(fields.String(), required=True)
    token_endpoint_auth_signing_alg_values_supported = fields.List(fields.String(), required=True)
    scopes_supported = fields.List(fields.String(), required=True)
    capabilities = fields.List(fields.String(), required=True)
