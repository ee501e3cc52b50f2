"""Errors every face understands: each carries an HTTP status and issues that point at the input.

Every error sicdoc raises on purpose is a ``SicdocError``. The FHIR API renders them as
OperationOutcome, the JSON endpoints as ``{error, message}``, the pages as an error page or a message
on the form, the CLI as one line (``Error: ...``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem with the input. ``code`` is a FHIR IssueType; ``expression`` a FHIRPath."""

    code: str
    diagnostics: str
    expression: str | None = None
    severity: str = "error"


class SicdocError(Exception):
    """The root of sicdoc's errors; ``status`` is the HTTP status a web face answers with."""

    status = 400
    # Seconds a client should wait before asking again, for a refusal that passes (sent as Retry-After).
    retry_after_seconds: int | None = None

    def __init__(self, issues: list[Issue] | str, *, code: str = "invalid", expression: str | None = None):
        if isinstance(issues, str):
            issues = [Issue(code, issues, expression)]
        self.issues = issues
        super().__init__("; ".join(i.diagnostics for i in issues))


class InvalidInput(SicdocError):
    status = 400


class Unprocessable(SicdocError):
    """Well-formed input that breaks a business rule."""

    status = 422


class Unauthorized(SicdocError):
    """Who is asking was not proven (a wrong password, a client that failed to authenticate)."""

    status = 401

    def __init__(self, message: str):
        super().__init__(message, code="login")


class Forbidden(SicdocError):
    """The actor may not have this (a scope or role does not reach it)."""

    status = 403

    def __init__(self, message: str):
        super().__init__(message, code="forbidden")


class NotFound(SicdocError):
    status = 404

    def __init__(self, message: str):
        super().__init__(message, code="not-found")


class Gone(SicdocError):
    status = 410

    def __init__(self, message: str):
        super().__init__(message, code="deleted")


class Conflict(SicdocError):
    status = 409

    def __init__(self, message: str, code: str = "conflict"):
        super().__init__(message, code=code)


class PreconditionFailed(SicdocError):
    status = 412

    def __init__(self, message: str):
        super().__init__(message, code="conflict")


class TooLarge(SicdocError):
    status = 413

    def __init__(self, message: str):
        super().__init__(message, code="too-costly")


class DuplicateIdentifier(Conflict):
    """A unique business identifier was taken, possibly by a concurrent request: worth one retry."""

    def __init__(self, message: str):
        super().__init__(message, code="duplicate")


class ConfigurationError(SicdocError):
    """A deployment or wiring mistake (a definition file, a missing key), not the request's fault."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message, code="exception")


class AnalyticsBusy(SicdocError):
    """A figure is still being computed by the analytics worker: try again in a few seconds (503)."""

    status = 503
    retry_after_seconds = 5

    def __init__(self, message: str = "The figures are still being computed; try again in a few seconds."):
        super().__init__(message, code="transient")
