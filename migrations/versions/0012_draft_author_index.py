"""conversation drafts by author: "my patients" on the worklist reads them without a table scan

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversation_draft_author", "conversation_draft", ["author"])


def downgrade() -> None:
    op.drop_index("ix_conversation_draft_author", table_name="conversation_draft")
