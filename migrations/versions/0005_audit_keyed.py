"""audit log keyed with a secret outside the database, one row per patient an audit record names

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

Records already in the log were chained with plain SHA-256; ``audit_unkeyed_prefix`` says how far, so
they still verify, and the first keyed record covers their last hash. Their patients are copied into
``audit_event_patient``. Both new tables are append-only like ``audit_event``, and SQLite now refuses
``INSERT OR REPLACE`` over an existing audit row (REPLACE deletes without firing DELETE triggers).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_event_patient',
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ['seq'], ['audit_event.seq'], name=op.f('fk_audit_event_patient_seq_audit_event')
        ),
        sa.PrimaryKeyConstraint('seq', 'patient_id', name=op.f('pk_audit_event_patient')),
    )
    op.create_index('ix_audit_event_patient_patient', 'audit_event_patient', ['patient_id'], unique=False)
    op.create_table(
        'audit_unkeyed_prefix',
        sa.Column('through_seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint('through_seq', name=op.f('pk_audit_unkeyed_prefix')),
    )
    op.execute(
        "INSERT INTO audit_event_patient (seq, patient_id) SELECT seq, patient_id FROM audit_event "
        "WHERE patient_id IS NOT NULL AND patient_id <> ''"
    )
    op.execute(
        "INSERT INTO audit_unkeyed_prefix (through_seq) SELECT max(seq) FROM audit_event HAVING count(*) > 0"
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in (_PG_FUNCTION, *_PG_TRIGGERS):
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


# audit_event keeps the UPDATE/DELETE/TRUNCATE triggers of 0003. On SQLite, INSERT OR REPLACE deletes the
# old row without firing DELETE triggers, so an insert over an existing seq is refused before it starts.
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
    WHEN EXISTS (SELECT 1 FROM audit_event WHERE seq = NEW.seq)
    BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END""",
    """CREATE TRIGGER audit_event_patient_no_replace BEFORE INSERT ON audit_event_patient
    WHEN EXISTS (SELECT 1 FROM audit_event_patient WHERE seq = NEW.seq AND patient_id = NEW.patient_id)
    BEGIN SELECT RAISE(ABORT, 'audit_event_patient is append-only'); END""",
    *(
        f"""CREATE TRIGGER audit_event_patient_no_{verb.lower()} BEFORE {verb} ON audit_event_patient
    BEGIN SELECT RAISE(ABORT, 'audit_event_patient is append-only'); END"""
        for verb in ("UPDATE", "DELETE")
    ),
    *(
        f"""CREATE TRIGGER audit_unkeyed_prefix_no_{verb.lower()} BEFORE {verb} ON audit_unkeyed_prefix
    BEGIN SELECT RAISE(ABORT, 'audit_unkeyed_prefix is append-only'); END"""
        for verb in ("INSERT", "UPDATE", "DELETE")
    ),
]
_PG_FUNCTION = """CREATE FUNCTION audit_table_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$"""
_PG_TRIGGERS = [
    "CREATE TRIGGER audit_event_patient_no_update_delete BEFORE UPDATE OR DELETE ON audit_event_patient "
    "FOR EACH ROW EXECUTE FUNCTION audit_table_append_only()",
    "CREATE TRIGGER audit_event_patient_no_truncate BEFORE TRUNCATE ON audit_event_patient "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_table_append_only()",
    # The prefix is written once, above; after that it takes no rows at all.
    "CREATE TRIGGER audit_unkeyed_prefix_no_change BEFORE INSERT OR UPDATE OR DELETE ON audit_unkeyed_prefix "
    "FOR EACH ROW EXECUTE FUNCTION audit_table_append_only()",
    "CREATE TRIGGER audit_unkeyed_prefix_no_truncate BEFORE TRUNCATE ON audit_unkeyed_prefix "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_table_append_only()",
]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE audit_unkeyed_prefix")
        op.execute("DROP TABLE audit_event_patient")
        op.execute("DROP FUNCTION IF EXISTS audit_table_append_only()")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_replace")
    op.drop_table('audit_unkeyed_prefix')  # its triggers go with it
    op.drop_index('ix_audit_event_patient_patient', table_name='audit_event_patient')
    op.drop_table('audit_event_patient')
