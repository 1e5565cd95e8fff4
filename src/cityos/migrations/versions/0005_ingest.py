"""(placeholder, filled in by the ingest work).

Revision ID: 0005_ingest
Revises: 0004_subscriptions
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0005_ingest"
down_revision = "0004_subscriptions"
branch_labels = None
depends_on = None

SQLITE: list[str] = []
POSTGRES: list[str] = []


def upgrade() -> None:
    """Create the tables for the connected dialect."""
    statements = SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    """Drop the tables."""
