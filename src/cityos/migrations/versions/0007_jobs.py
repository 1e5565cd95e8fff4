"""Periodic jobs: when each last ran, so a restart (or a second worker) does not run it early.

Revision ID: 0007_jobs
Revises: 0006_privacy
Create Date: 2026-12-01

One row per job name (``cityos.jobs``). A worker claims a due job by moving
``last_started_at`` forward in one conditional UPDATE, so of several workers only one runs it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_jobs"
down_revision = "0006_privacy"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``jobs_runs``."""
    op.create_table(
        "jobs_runs",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("last_started_at", TIME),
        sa.Column("last_finished_at", TIME),
        sa.Column("last_status", sa.String(10)),
        sa.Column("last_affected", sa.Integer),
        sa.Column("last_error", sa.String(500)),
        sa.Column("runs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    """Drop ``jobs_runs`` (jobs then run at the next start)."""
    op.drop_table("jobs_runs")
