"""Migration 0007 backfills Patient-compartment membership for the resources already stored, in batches."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from sicdoc.db import make_engine
from sicdoc.migrate import alembic_config, upgrade

RESOURCE = sa.table(
    "resource",
    sa.column("resource_type", sa.String),
    sa.column("id", sa.String),
    sa.column("version_id", sa.Integer),
    sa.column("last_updated", sa.DateTime(timezone=True)),
    sa.column("deleted", sa.Boolean),
    sa.column("content", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)


def _row(rtype: str, rid: str, content: dict, deleted: bool = False) -> dict:
    return {
        "resource_type": rtype,
        "id": rid,
        "version_id": 1,
        "last_updated": datetime(2026, 1, 1, tzinfo=UTC),
        "deleted": deleted,
        "content": {"resourceType": rtype, "id": rid, **content},
    }


def test_the_migration_backfills_membership_in_batches_and_downgrades(empty_url):
    from alembic import command

    upgrade(empty_url, "0006")
    rows = [_row("Patient", "p1", {}), _row("Patient", "p2", {}), _row("Practitioner", "dr", {})]
    # More than one batch (1,000) of one type for one patient.
    rows += [_row("Observation", f"o{i:04d}", {"subject": {"reference": "Patient/p1"}}) for i in range(1201)]
    rows += [
        _row("Observation", "versioned", {"subject": {"reference": "Patient/p2/_history/3"}}),
        _row("Observation", "gone", {"subject": {"reference": "Patient/p2"}}, deleted=True),
        _row(
            "Observation",
            "elsewhere",
            {"subject": {"reference": "https://other.example.org/fhir/Patient/p2"}},
        ),
        _row("Claim", "c1", {"patient": {"reference": "Patient/p2"}}),
        _row("Immunization", "i1", {"patient": {"reference": "Patient/p1"}}),
    ]
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(RESOURCE), rows)
    upgrade(empty_url, "0007")
    with engine.connect() as conn:
        members = conn.execute(
            sa.text("SELECT patient_id, resource_type, resource_id FROM patient_compartment")
        ).all()
    by_patient: dict[str, set[tuple[str, str]]] = {}
    for pid, rtype, rid in members:
        by_patient.setdefault(pid, set()).add((rtype, rid))
    assert len(by_patient["p1"]) == 1 + 1201 + 1
    assert ("Immunization", "i1") in by_patient["p1"] and ("Patient", "p1") in by_patient["p1"]
    assert by_patient["p2"] == {("Patient", "p2"), ("Observation", "versioned"), ("Claim", "c1")}
    assert set(by_patient) == {"p1", "p2"}
    command.downgrade(alembic_config(empty_url), "0006")
    assert "patient_compartment" not in sa.inspect(engine).get_table_names()
    engine.dispose()
