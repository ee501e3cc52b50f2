"""bundle receipts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('bundle_receipt',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('key', sa.String(length=600), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('received', sa.DateTime(timezone=True), nullable=False),
    sa.Column('response', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_bundle_receipt')),
    sa.UniqueConstraint('client_id', 'key', name=op.f('uq_bundle_receipt_client_id_key'))
    )
    


def downgrade() -> None:
    
    op.drop_table('bundle_receipt')
    
