"""SMART scope checks and the pure decision of the rule table."""

import pytest

from sicdoc.security import scopes
from sicdoc.security.rules import ANONYMOUS, Principal, clients, decide, people


@pytest.mark.parametrize(
    ("granted", "rtype", "interaction", "allowed"),
    [
        (["system/*.read"], "Patient", "read", True),
        (["system/*.read"], "Patient", "search", True),
        (["system/*.read"], "Patient", "create", False),
        (["system/Patient.write"], "Patient", "create", True),
        (["system/Patient.write"], "Encounter", "create", False),
        (["system/Patient.write"], "Patient", "read", False),
        (["system/*.*"], "ServiceRequest", "delete", True),
        (["system/Observation.rs"], "Observation", "read", True),
        (["system/Observation.rs"], "Observation", "update", False),
        (["patient/*.read"], "Patient", "read", False),
        ([], "Patient", "read", False),
        (["system/*.*"], "AuditEvent", "search", False),
        (["system/AuditEvent.read"], "AuditEvent", "search", True),
    ],
)
def test_scope_allows(granted, rtype, interaction, allowed):
    assert scopes.allows(granted, rtype, interaction) is allowed


def test_mediation_grants_only_what_was_pre_authorised():
    registered = ["system/*.read", "system/Patient.write"]
    assert scopes.mediate(registered, None) == registered
    assert scopes.mediate(registered, "system/Encounter.read") == ["system/Encounter.read"]
    with pytest.raises(scopes.InvalidScope, match=r"system/ServiceRequest\.write"):
        scopes.mediate(registered, "system/Patient.read system/ServiceRequest.write")
    with pytest.raises(scopes.InvalidScope):
        scopes.mediate(registered, "system/*.*")
    with pytest.raises(scopes.InvalidScope):
        scopes.mediate(registered, "user/*.read")


def test_bundle_needs_a_scope_for_every_entry():
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "POST", "url": "Patient"}},
            {"request": {"method": "PUT", "url": "ServiceRequest/1"}},
            {"request": {"method": "DELETE", "url": "Encounter?identifier=a|b"}},
        ],
    }
    assert scopes.required_scopes(bundle) == {
        ("Patient", "create"),
        ("ServiceRequest", "update"),
        ("Encounter", "delete"),
    }


def test_decide():
    clinician = Principal("user", "c", "clinician")
    client = Principal("client", "x", "client", frozenset({"system/*.read"}))
    assert decide(None, clinician).status == 403
    assert decide(people("admin"), ANONYMOUS).status == 401
    assert decide(people("admin"), clinician).status == 403
    assert decide(people("clinician"), clinician).allowed
    assert decide(clients("read"), clinician).status == 401  # a person's session is no bearer token
    assert decide(clients("read"), client, "Patient").allowed
    assert decide(clients("create"), client, "Patient").status == 403
