"""end-of-life care: care events, locations, discharge disposition, care focus and documentation quality

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Existing rows get the new columns empty; ``sicdoc reindex Encounter Procedure Observation
EpisodeOfCare Location`` fills them from the stored resources.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.String(64)


def upgrade() -> None:
    op.add_column("encounter_fact", sa.Column("discharge_disposition", sa.String(32), nullable=True))
    op.add_column("conversation", sa.Column("care_focus", sa.String(16), nullable=True))
    op.add_column("conversation", sa.Column("quality_domains", sa.String(64), nullable=True))
    op.add_column("conversation", sa.Column("quality_source", sa.String(32), nullable=True))
    op.create_table(
        "care_event",
        sa.Column("event_id", sa.String(160), primary_key=True),
        sa.Column("source_type", sa.String(64), nullable=False),
        sa.Column("source_id", ID, nullable=False),
        sa.Column("patient_id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("value", sa.String(32), nullable=True),
        sa.Column("procedure_id", ID, nullable=True),
        sa.Column("encounter_id", ID, nullable=True),
        sa.Column("location_id", ID, nullable=True),
    )
    op.create_index("ix_care_event_source", "care_event", ["source_type", "source_id"])
    op.create_index("ix_care_event_patient", "care_event", ["patient_id"])
    op.create_table(
        "location_fact",
        sa.Column("location_id", ID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("typed", sa.Boolean(), nullable=False),
        sa.Column("icu", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("location_fact")
    op.drop_index("ix_care_event_patient", table_name="care_event")
    op.drop_index("ix_care_event_source", table_name="care_event")
    op.drop_table("care_event")
    op.drop_column("conversation", "quality_source")
    op.drop_column("conversation", "quality_domains")
    op.drop_column("conversation", "care_focus")
    op.drop_column("encounter_fact", "discharge_disposition")
