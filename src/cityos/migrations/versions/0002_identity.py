"""Identity tables: users, sessions, refresh tokens, API keys, verification, consent, audit.

Revision ID: 0002_identity
Revises: 0001_hub
Create Date: 2026-11-26

One definition for both backends (SQLAlchemy types): times are ``timestamptz`` on
PostgreSQL and ISO text in UTC on SQLite; roles and scopes are JSON. The audit log is
append-only: ``cityos.identity`` has no UPDATE or DELETE path for it, and a trigger on each
backend refuses both (PostgreSQL also refuses TRUNCATE).

The tables are written out here rather than imported from ``cityos.identity.models`` so
this revision stays what it was when later revisions change the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_identity"
down_revision = "0001_hub"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
ID = sa.String(36)

PG_AUDIT_GUARD = [
    """CREATE FUNCTION identity_audit_refuse_change() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
           RAISE EXCEPTION 'identity_audit is append-only: % refused', TG_OP
               USING ERRCODE = 'insufficient_privilege';
       END $$""",
    """CREATE TRIGGER identity_audit_no_update_delete
       BEFORE UPDATE OR DELETE ON identity_audit
       FOR EACH ROW EXECUTE FUNCTION identity_audit_refuse_change()""",
    """CREATE TRIGGER identity_audit_no_truncate
       BEFORE TRUNCATE ON identity_audit
       FOR EACH STATEMENT EXECUTE FUNCTION identity_audit_refuse_change()""",
]

SQLITE_AUDIT_GUARD = [
    """CREATE TRIGGER identity_audit_no_update BEFORE UPDATE ON identity_audit
       BEGIN SELECT RAISE(ABORT, 'identity_audit is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER identity_audit_no_delete BEFORE DELETE ON identity_audit
       BEGIN SELECT RAISE(ABORT, 'identity_audit is append-only: DELETE refused'); END""",
]


def upgrade() -> None:
    """Create the identity tables and the audit log's append-only guard."""
    op.create_table(
        "identity_users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("department", sa.String(100)),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", TIME),
        sa.Column("last_login_at", TIME),
    )
    op.create_table(
        "identity_sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "user_id",
            ID,
            sa.ForeignKey("identity_users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("revoked_at", TIME),
        sa.Column("revoked_reason", sa.String(40)),
    )
    op.create_table(
        "identity_refresh_tokens",
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "session_id",
            ID,
            sa.ForeignKey("identity_sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME),
        sa.Column("revoked_at", TIME),
    )
    op.create_table(
        "identity_api_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", ID),
        sa.Column("last_used_at", TIME),
        sa.Column("revoked_at", TIME),
    )
    op.create_table(
        "identity_verifications",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("identity_users.id"), nullable=False, index=True),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(200)),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("decided_at", TIME),
        sa.Column("decided_by", ID),
        sa.Column("note", sa.String(500)),
    )
    op.create_table(
        "identity_consents",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("identity_users.id"), nullable=False, index=True),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("granted_at", TIME, nullable=False),
        sa.Column("withdrawn_at", TIME),
    )
    op.create_table(
        "identity_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("subject", ID),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("identity_audit_subject", "identity_audit", ["subject", "at"])
    guard = SQLITE_AUDIT_GUARD if op.get_bind().dialect.name == "sqlite" else PG_AUDIT_GUARD
    for statement in guard:
        op.execute(statement)


def downgrade() -> None:
    """Drop the identity tables (the audit log with them: a deliberate, manual act)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS identity_audit")
        op.execute("DROP FUNCTION IF EXISTS identity_audit_refuse_change()")
    else:
        op.drop_table("identity_audit")
    for table in (
        "identity_consents",
        "identity_verifications",
        "identity_api_keys",
        "identity_refresh_tokens",
        "identity_sessions",
        "identity_users",
    ):
        op.drop_table(table)
