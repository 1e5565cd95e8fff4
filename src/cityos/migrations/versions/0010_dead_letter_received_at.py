"""An index on the dead letters' ``received_at``, which the retention purge filters by.

Revision ID: 0010_dead_letter_received_at
Revises: 0009_civic
Create Date: 2026-12-01

The hourly ``dead_letter_retention`` job (``cityos.ingest.deadletters.purge``) deletes the
letters received before a cut-off: ``DELETE … WHERE received_at < ?``. Without an index that
is a scan of the whole table every hour, however few letters are due — and a device that
keeps sending garbage can fill the table (docs/ingest.md, "Limits"). The same index also
serves a listing or count by time. The same DDL works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import op

revision = "0010_dead_letter_received_at"
down_revision = "0009_civic"
branch_labels = None
depends_on = None

INDEX = "ingest_dead_letters_received_at"


def upgrade() -> None:
    """Index ``ingest_dead_letters.received_at``."""
    op.create_index(INDEX, "ingest_dead_letters", ["received_at"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index(INDEX, table_name="ingest_dead_letters")
