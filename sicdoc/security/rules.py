"""The one rule table: for every endpoint, who may use it. An endpoint missing here is refused.

Web pages are for people with a server-side session and one of the listed roles. FHIR routes are for
integration clients with a bearer token whose scopes cover the resource type and interaction; a session
cookie is never accepted there. ``decide`` is pure: the web glue supplies the principal and asks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sicdoc.security import scopes as smart
from sicdoc.security.roles import Role

CLINICIAN, QI_ANALYST, ADMIN = Role.CLINICIAN, Role.QI_ANALYST, Role.ADMIN
EVERYONE = frozenset({CLINICIAN, QI_ANALYST, ADMIN})


@dataclass(frozen=True)
class Rule:
    kind: Literal["public", "session", "bearer"]
    roles: frozenset[str] = frozenset()
    interaction: str | None = None  # for bearer rules: create / read / update / delete / search
    resource_type: str | None = None  # fixed type, else the route's ``resource_type`` argument


@dataclass(frozen=True)
class Principal:
    kind: Literal["anonymous", "user", "client"]
    id: str = "anonymous"
    role: str = "anonymous"
    scopes: frozenset[str] = field(default_factory=frozenset)


ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    reason: str = ""


def public() -> Rule:
    return Rule("public")


def people(*roles: str) -> Rule:
    return Rule("session", roles=frozenset(roles))


def clients(interaction: str | None, resource_type: str | None = None) -> Rule:
    """Integration clients whose scopes allow ``interaction`` on the type; None: any valid token."""
    return Rule("bearer", interaction=interaction, resource_type=resource_type)


RULES: dict[str, Rule] = {
    "static": public(),
    # People.
    "auth.login": public(),
    "auth.logout": people(*EVERYONE),
    "home.index": people(*EVERYONE),
    "admin.audit_log": people(ADMIN),
    "admin.users": people(ADMIN),
    "admin.create_user": people(ADMIN),
    "admin.set_role": people(ADMIN),
    "admin.disable_user": people(ADMIN),
    "admin.person": people(ADMIN),
    "admin.set_profile": people(ADMIN),
    "admin.reset_password": people(ADMIN),
    "admin.enable_user": people(ADMIN),
    "admin.clients": people(ADMIN),
    "admin.create_client": people(ADMIN),
    "admin.revoke_client": people(ADMIN),
    # Clinician pages: charts, conversation notes, referrals.
    "forms.find_patient": people(CLINICIAN),
    "forms.patient_page": people(CLINICIAN),
    "forms.new_referral": people(CLINICIAN),
    "forms.new_conversation": people(CLINICIAN),
    "forms.post_new_conversation": people(CLINICIAN),
    "forms.draft": people(CLINICIAN),
    "forms.post_draft": people(CLINICIAN),
    "forms.conversation": people(CLINICIAN),
    "forms.amend": people(CLINICIAN),
    "forms.history": people(CLINICIAN),
    "forms.entered_in_error": people(CLINICIAN),
    "forms.discard": people(CLINICIAN),
    "worklist.index": people(CLINICIAN),
    "worklist.snooze": people(CLINICIAN),
    "worklist.wake": people(CLINICIAN),
    # Named decedents for morbidity-and-mortality review: clinicians only (QI sees aggregates).
    "reviews.end_of_life": people(CLINICIAN),
    # Quality improvement: de-identified aggregates with small cells suppressed.
    "dashboards.index": people(QI_ANALYST, ADMIN),
    "dashboards.show": people(QI_ANALYST, ADMIN),
    "dashboards.panel_csv": people(QI_ANALYST, ADMIN),
    "api.metrics": people(QI_ANALYST, ADMIN),
    # The description of the JSON endpoints: shapes and how to authenticate, no data (like /fhir/metadata).
    "api.openapi": public(),
    # Integration clients (OAuth 2.0 client credentials; the endpoint authenticates the client itself).
    "oauth.token": public(),
    "oauth.smart_configuration": public(),
    # FHIR R4 API: bearer tokens only.
    "fhir.metadata": public(),
    # A bundle's entries are checked one by one against the token's scopes in the view.
    "fhir.bundle": clients(None),
    "fhir.create": clients("create"),
    "fhir.conditional_update": clients("update"),
    "fhir.read_resource": clients("read"),
    "fhir.read_version": clients("read"),
    "fhir.update": clients("update"),
    "fhir.delete": clients("delete"),
    "fhir.instance_history": clients("read"),
    "fhir.type_history": clients("read"),
    "fhir.system_history": clients("read", "*"),
    "fhir.search_get": clients("search"),
    "fhir.search_post": clients("search"),
    "fhir.everything": clients("read", "*"),
    "fhir.search_audit_events": clients("search", "AuditEvent"),
}


def decide(rule: Rule | None, principal: Principal, resource_type: str | None = None) -> Decision:
    if rule is None:
        return Decision(False, 403, "No access rule covers this endpoint")
    if rule.kind == "public":
        return Decision(True)
    if rule.kind == "session":
        if principal.kind != "user":
            return Decision(False, 401, "Log in to continue")
        if principal.role not in rule.roles:
            return Decision(False, 403, f"The {principal.role} role may not use this page")
        return Decision(True)
    if principal.kind != "client":
        return Decision(False, 401, "A bearer access token from /auth/token is required")
    if rule.interaction is None:
        return Decision(True)
    rtype = rule.resource_type or resource_type or ""
    if not smart.allows(principal.scopes, rtype, rule.interaction):
        return Decision(
            False, 403, f"The token's scopes do not allow {rule.interaction} on {rtype or 'this'}"
        )
    return Decision(True)
