"""The tenant of a hosted @context (``hub_contexts.tenant``; NULL: shared by every tenant).

Revision ID: 0011_context_tenant
Revises: 0010_dead_letter_received_at
Create Date: 2026-12-01

GS CIM 009 v1.9.1, 5.5.10 and 5.13.3–5.13.5: the term mappings a caller adds under one tenant
(a Hosted or ImplicitlyCreated @context) are neither listed, served nor deletable through
another. A Cached context (a public URL the hub loaded) and the rows written before this
revision stay shared: NULL. The same DDL works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_context_tenant"
down_revision = "0010_dead_letter_received_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``hub_contexts.tenant``."""
    op.add_column("hub_contexts", sa.Column("tenant", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop ``hub_contexts.tenant``."""
    with op.batch_alter_table("hub_contexts") as batch:
        batch.drop_column("tenant")
