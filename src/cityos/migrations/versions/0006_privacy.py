"""Personal data store: records keyed by pseudonymous id, sensitive fields encrypted.

Revision ID: 0006_privacy
Revises: 0005_ingest
Create Date: 2026-11-25

One table for every kind of personal data (step counts, health records, location traces,
contact details): what the retention job and the export need is in clear (pseudonymous
subject, kind, purpose, times); the data itself is one AES-GCM ciphertext
(``cityos.privacy.crypto``). One definition for both backends (SQLAlchemy types).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_privacy"
down_revision = "0005_ingest"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ``privacy_records`` and its indexes (by subject, and by kind and time)."""
    op.create_table(
        "privacy_records",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("privacy_records_subject", "privacy_records", ["subject", "kind"])
    op.create_index("privacy_records_kind_time", "privacy_records", ["kind", "recorded_at"])
    op.create_index("privacy_records_key", "privacy_records", ["key_id"])


def downgrade() -> None:
    """Drop the personal data store (its data with it)."""
    op.drop_table("privacy_records")
