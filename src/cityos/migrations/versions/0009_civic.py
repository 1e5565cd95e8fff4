"""Polls and citizen proposals (issue 7): residents' home zones, polls, ballots, proposals.

Revision ID: 0009_civic
Revises: 0008_complaints
Create Date: 2026-12-01

Written beside 0008 (complaints) and chained after it at the merge; nothing here depends on it.

One vote per resident and one support per resident are unique constraints
(``uq_governance_poll_voters_one_vote``, ``uq_governance_proposal_supports_one``), so two
concurrent requests can never both be stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_civic"
down_revision = "0008_complaints"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)

# SQLite does not enforce foreign keys unless asked per connection (CityOS does not), so the
# ON DELETE actions of the foreign keys to identity_users are repeated as a trigger there: a
# deleted account (cityos.identity.account.delete_account) takes its home zone with it and
# leaves its proposals and comments without an author. PostgreSQL enforces the keys.
SQLITE_ACCOUNT_DELETED = """CREATE TRIGGER governance_account_deleted
AFTER DELETE ON identity_users BEGIN
  DELETE FROM governance_residences WHERE user_id = OLD.id;
  UPDATE governance_proposals SET author_id = NULL WHERE author_id = OLD.id;
  UPDATE governance_proposal_comments SET author_id = NULL WHERE author_id = OLD.id;
END"""
ID = sa.String(36)
PSEUDONYM = sa.String(64)


def _fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.id", ondelete=ondelete)


def upgrade() -> None:
    """Create the governance_* tables of polls and proposals."""
    op.create_table(
        "governance_residences",
        sa.Column("user_id", ID, _fk("identity_users"), primary_key=True),
        sa.Column("zone_code", sa.String(10), nullable=False),
        sa.Column("method", sa.String(40), nullable=False),
        sa.Column("verified_by", ID, nullable=False),
        sa.Column("verified_at", TIME, nullable=False),
        sa.Column("note", sa.String(500)),
    )
    op.create_index("ix_governance_residences_zone", "governance_residences", ["zone_code"])
    op.create_table(
        "governance_polls",
        sa.Column("id", ID, primary_key=True),
        sa.Column("title_ko", sa.String(200), nullable=False),
        sa.Column("title_en", sa.String(200), nullable=False),
        sa.Column("description_ko", sa.Text, nullable=False),
        sa.Column("description_en", sa.Text, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("max_choices", sa.Integer, nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("zones", sa.JSON, nullable=False),
        sa.Column("opens_at", TIME, nullable=False),
        sa.Column("closes_at", TIME, nullable=False),
        sa.Column("live_results", sa.Boolean, nullable=False),
        sa.Column("pulse", sa.Boolean, nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.CheckConstraint("kind IN ('single', 'multiple', 'ranked')", name="ck_poll_kind"),
        sa.CheckConstraint("closes_at > opens_at", name="ck_poll_times"),
    )
    op.create_index("ix_governance_polls_closes", "governance_polls", ["closes_at"])
    op.create_table(
        "governance_poll_voters",
        sa.Column("poll_id", ID, _fk("governance_polls"), nullable=False),
        sa.Column("voter", PSEUDONYM, nullable=False),
        sa.UniqueConstraint("poll_id", "voter", name="uq_governance_poll_voters_one_vote"),
    )
    op.create_table(
        "governance_poll_ballots",
        sa.Column("id", ID, primary_key=True),
        sa.Column("poll_id", ID, _fk("governance_polls"), nullable=False),
        sa.Column("choices", sa.JSON, nullable=False),
    )
    op.create_index("ix_governance_poll_ballots_poll", "governance_poll_ballots", ["poll_id"])
    op.create_table(
        "governance_proposals",
        sa.Column("id", ID, primary_key=True),
        sa.Column("author_id", ID, _fk("identity_users", "SET NULL")),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("zone_code", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("supports", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("published_at", TIME),
    )
    op.create_index("ix_governance_proposals_status", "governance_proposals", ["status"])
    op.create_table(
        "governance_proposal_supports",
        sa.Column("proposal_id", ID, _fk("governance_proposals"), nullable=False),
        sa.Column("supporter", PSEUDONYM, nullable=False),
        sa.UniqueConstraint("proposal_id", "supporter", name="uq_governance_proposal_supports_one"),
    )
    op.create_table(
        "governance_proposal_images",
        sa.Column("id", ID, primary_key=True),
        sa.Column("proposal_id", ID, _fk("governance_proposals"), nullable=False),
        sa.Column("content_type", sa.String(20), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "governance_proposal_responses",
        sa.Column("id", ID, primary_key=True),
        sa.Column("proposal_id", ID, _fk("governance_proposals"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status_from", sa.String(20), nullable=False),
        sa.Column("status_to", sa.String(20), nullable=False),
        sa.Column("message_ko", sa.Text, nullable=False),
        sa.Column("message_en", sa.Text, nullable=False),
        sa.Column("responder_id", ID, nullable=False),
        sa.Column("department", sa.String(100)),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "governance_proposal_comments",
        sa.Column("id", ID, primary_key=True),
        sa.Column("proposal_id", ID, _fk("governance_proposals"), nullable=False),
        sa.Column("author_id", ID, _fk("identity_users", "SET NULL")),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("hidden_at", TIME),
        sa.Column("hidden_by", ID),
        sa.Column("hidden_reason", sa.String(500)),
    )
    op.create_index(
        "ix_governance_proposal_comments_proposal", "governance_proposal_comments", ["proposal_id"]
    )
    op.create_table(
        "governance_comment_reports",
        sa.Column("id", ID, primary_key=True),
        sa.Column("comment_id", ID, _fk("governance_proposal_comments"), nullable=False),
        sa.Column("reporter_id", ID, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("resolved_at", TIME),
        sa.Column("resolved_by", ID),
        sa.Column("resolution", sa.String(20)),
        sa.UniqueConstraint("comment_id", "reporter_id", name="uq_governance_comment_reports_once"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_ACCOUNT_DELETED)


def downgrade() -> None:
    """Drop the governance_* tables of polls and proposals (their data is lost)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS governance_account_deleted")
    for table in (
        "governance_comment_reports",
        "governance_proposal_comments",
        "governance_proposal_responses",
        "governance_proposal_images",
        "governance_proposal_supports",
        "governance_proposals",
        "governance_poll_ballots",
        "governance_poll_voters",
        "governance_polls",
        "governance_residences",
    ):
        op.drop_table(table)
