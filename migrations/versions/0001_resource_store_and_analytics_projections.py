"""resource store and analytics projections

Revision ID: 0001
Revises: 
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('business_identifier',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_business_identifier')),
    sa.UniqueConstraint('resource_type', 'system', 'value', name=op.f('uq_business_identifier_resource_type_system_value'))
    )
    with op.batch_alter_table('business_identifier', schema=None) as batch_op:
        batch_op.create_index('ix_business_identifier_resource', ['resource_type', 'resource_id'], unique=False)

    op.create_table('conversation',
    sa.Column('procedure_id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('performed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('performed_date', sa.Date(), nullable=True),
    sa.Column('clinician_id', sa.String(length=160), nullable=True),
    sa.Column('encounter_id', sa.String(length=64), nullable=True),
    sa.Column('site', sa.String(length=128), nullable=True),
    sa.Column('unit', sa.String(length=128), nullable=True),
    sa.Column('domains', sa.String(length=512), nullable=True),
    sa.Column('code_status', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('procedure_id', name=op.f('pk_conversation'))
    )
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_patient', ['patient_id'], unique=False)

    op.create_table('diagnosis_fact',
    sa.Column('condition_id', sa.String(length=64), nullable=False),
    sa.Column('cohort', sa.String(length=32), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('code_system', sa.String(length=255), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('subtype', sa.String(length=32), nullable=True),
    sa.Column('metastatic', sa.Boolean(), nullable=False),
    sa.Column('hematologic', sa.Boolean(), nullable=False),
    sa.Column('diagnosis_date', sa.Date(), nullable=True),
    sa.Column('encounter_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('condition_id', 'cohort', name=op.f('pk_diagnosis_fact'))
    )
    with op.batch_alter_table('diagnosis_fact', schema=None) as batch_op:
        batch_op.create_index('ix_diagnosis_fact_patient', ['patient_id'], unique=False)

    op.create_table('encounter_fact',
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('class_code', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('admit_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('admit_date', sa.Date(), nullable=True),
    sa.Column('discharge_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('discharge_date', sa.Date(), nullable=True),
    sa.Column('site', sa.String(length=128), nullable=True),
    sa.Column('unit', sa.String(length=128), nullable=True),
    sa.Column('palliative', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('encounter_id', name=op.f('pk_encounter_fact'))
    )
    with op.batch_alter_table('encounter_fact', schema=None) as batch_op:
        batch_op.create_index('ix_encounter_fact_patient', ['patient_id'], unique=False)

    op.create_table('palliative_consult',
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('referral_id', sa.String(length=64), nullable=True),
    sa.Column('site', sa.String(length=128), nullable=True),
    sa.Column('unit', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('encounter_id', name=op.f('pk_palliative_consult'))
    )
    with op.batch_alter_table('palliative_consult', schema=None) as batch_op:
        batch_op.create_index('ix_palliative_consult_patient', ['patient_id'], unique=False)

    op.create_table('palliative_referral',
    sa.Column('service_request_id', sa.String(length=64), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('authored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('authored_date', sa.Date(), nullable=True),
    sa.Column('encounter_id', sa.String(length=64), nullable=True),
    sa.Column('requester_id', sa.String(length=160), nullable=True),
    sa.Column('site', sa.String(length=128), nullable=True),
    sa.Column('unit', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('service_request_id', name=op.f('pk_palliative_referral'))
    )
    with op.batch_alter_table('palliative_referral', schema=None) as batch_op:
        batch_op.create_index('ix_palliative_referral_patient', ['patient_id'], unique=False)

    op.create_table('patient_fact',
    sa.Column('patient_id', sa.String(length=64), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=16), nullable=True),
    sa.Column('race', sa.String(length=64), nullable=True),
    sa.Column('ethnicity', sa.String(length=64), nullable=True),
    sa.Column('language', sa.String(length=64), nullable=True),
    sa.Column('deceased_date', sa.Date(), nullable=True),
    sa.Column('site', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('patient_id', name=op.f('pk_patient_fact'))
    )
    op.create_table('resource',
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('resource_type', 'id', name=op.f('pk_resource'))
    )
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index('ix_resource_type_updated', ['resource_type', 'last_updated'], unique=False)

    op.create_table('resource_version',
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('resource_type', 'id', 'version_id', name=op.f('pk_resource_version'))
    )
    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.create_index('ix_resource_version_updated', ['resource_type', 'last_updated'], unique=False)

    op.create_table('search_date',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('low', sa.DateTime(timezone=True), nullable=True),
    sa.Column('high', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_search_date'))
    )
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.create_index('ix_search_date_lookup', ['resource_type', 'param', 'low'], unique=False)
        batch_op.create_index('ix_search_date_resource', ['resource_type', 'resource_id'], unique=False)

    op.create_table('search_reference',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_search_reference'))
    )
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.create_index('ix_search_reference_lookup', ['resource_type', 'param', 'target_id'], unique=False)
        batch_op.create_index('ix_search_reference_resource', ['resource_type', 'resource_id'], unique=False)
        batch_op.create_index('ix_search_reference_target', ['target_type', 'target_id'], unique=False)

    op.create_table('search_string',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_search_string'))
    )
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.create_index('ix_search_string_lookup', ['resource_type', 'param', 'value'], unique=False)
        batch_op.create_index('ix_search_string_resource', ['resource_type', 'resource_id'], unique=False)

    op.create_table('search_token',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('param', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=255), nullable=True),
    sa.Column('code', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_search_token'))
    )
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.create_index('ix_search_token_lookup', ['resource_type', 'param', 'code'], unique=False)
        batch_op.create_index('ix_search_token_resource', ['resource_type', 'resource_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('search_token', schema=None) as batch_op:
        batch_op.drop_index('ix_search_token_resource')
        batch_op.drop_index('ix_search_token_lookup')

    op.drop_table('search_token')
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_index('ix_search_string_resource')
        batch_op.drop_index('ix_search_string_lookup')

    op.drop_table('search_string')
    with op.batch_alter_table('search_reference', schema=None) as batch_op:
        batch_op.drop_index('ix_search_reference_target')
        batch_op.drop_index('ix_search_reference_resource')
        batch_op.drop_index('ix_search_reference_lookup')

    op.drop_table('search_reference')
    with op.batch_alter_table('search_date', schema=None) as batch_op:
        batch_op.drop_index('ix_search_date_resource')
        batch_op.drop_index('ix_search_date_lookup')

    op.drop_table('search_date')
    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.drop_index('ix_resource_version_updated')

    op.drop_table('resource_version')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index('ix_resource_type_updated')

    op.drop_table('resource')
    op.drop_table('patient_fact')
    with op.batch_alter_table('palliative_referral', schema=None) as batch_op:
        batch_op.drop_index('ix_palliative_referral_patient')

    op.drop_table('palliative_referral')
    with op.batch_alter_table('palliative_consult', schema=None) as batch_op:
        batch_op.drop_index('ix_palliative_consult_patient')

    op.drop_table('palliative_consult')
    with op.batch_alter_table('encounter_fact', schema=None) as batch_op:
        batch_op.drop_index('ix_encounter_fact_patient')

    op.drop_table('encounter_fact')
    with op.batch_alter_table('diagnosis_fact', schema=None) as batch_op:
        batch_op.drop_index('ix_diagnosis_fact_patient')

    op.drop_table('diagnosis_fact')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_patient')

    op.drop_table('conversation')
    with op.batch_alter_table('business_identifier', schema=None) as batch_op:
        batch_op.drop_index('ix_business_identifier_resource')

    op.drop_table('business_identifier')
    
