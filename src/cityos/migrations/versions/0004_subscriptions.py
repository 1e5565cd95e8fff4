"""(placeholder, filled in by the subscriptions work).

Revision ID: 0004_subscriptions
Revises: 0003_temporal
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0004_subscriptions"
down_revision = "0003_temporal"
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
