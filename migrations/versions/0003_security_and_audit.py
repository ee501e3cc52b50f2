"""people, sessions, integration clients, OAuth state and the append-only, hash-chained audit log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_user',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=80), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('clinician', 'qi_analyst', 'admin')", name=op.f('ck_app_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user')),
    sa.UniqueConstraint('username', name=op.f('uq_app_user_username'))
    )
    op.create_table('audit_event',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('recorded', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=120), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=True),
    sa.Column('resource_id', sa.String(length=64), nullable=True),
    sa.Column('patient_id', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('source_address', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_event'))
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_actor', ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_event_patient', ['patient_id'], unique=False)
        batch_op.create_index('ix_audit_event_recorded', ['recorded'], unique=False)

    op.create_table('integration_client',
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('secret_hash', sa.String(length=255), nullable=True),
    sa.Column('jwks', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_integration_client'))
    )
    op.create_table('access_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['integration_client.client_id'], name=op.f('fk_access_token_client_id_integration_client')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_access_token'))
    )
    with op.batch_alter_table('access_token', schema=None) as batch_op:
        batch_op.create_index('ix_access_token_client', ['client_id'], unique=False)

    op.create_table('used_jti',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('jti', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['integration_client.client_id'], name=op.f('fk_used_jti_client_id_integration_client')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_used_jti')),
    sa.UniqueConstraint('client_id', 'jti', name=op.f('uq_used_jti_client_id_jti'))
    )
    op.create_table('user_session',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], name=op.f('fk_user_session_user_id_app_user')),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_user_session'))
    )
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.create_index('ix_user_session_user', ['user_id'], unique=False)

    _make_audit_append_only()


# The audit log refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) at the database level.
_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"""
    for verb in ("UPDATE", "DELETE")
]
_PG_FUNCTION = """CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$"""
_PG_TRIGGERS = [
    "CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_event "
    "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
]


def _make_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in (_PG_FUNCTION, *_PG_TRIGGERS):
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_index('ix_user_session_user')

    op.drop_table('user_session')
    op.drop_table('used_jti')
    with op.batch_alter_table('access_token', schema=None) as batch_op:
        batch_op.drop_index('ix_access_token_client')

    op.drop_table('access_token')
    op.drop_table('integration_client')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_recorded')
        batch_op.drop_index('ix_audit_event_patient')
        batch_op.drop_index('ix_audit_event_actor')

    op.drop_table('audit_event')
    op.drop_table('app_user')
