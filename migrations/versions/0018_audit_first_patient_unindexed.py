"""the audit log's first-patient column is no longer indexed

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

A record is found by patient through ``audit_event_patient``, which names every patient it touched; no
statement reads ``audit_event.patient_id`` by its index, while every audited act wrote to it (eight
million entries, keyed at random, in a load of a million patients).
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_audit_event_patient", table_name="audit_event")


def downgrade() -> None:
    op.create_index("ix_audit_event_patient", "audit_event", ["patient_id"])
