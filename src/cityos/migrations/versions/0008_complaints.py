"""Civil complaints (민원, Open311): requests, their events, notifications, webhooks, photos.

Revision ID: 0008_complaints
Revises: 0007_jobs
Create Date: 2026-12-01

``cityos.governance.models`` mirrors these tables. One definition for both backends. No
contact details are stored: a complaint names an account id or an API key id, nothing more.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_complaints"
down_revision = "0007_jobs"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ID = sa.String(36)


def upgrade() -> None:
    """Create the complaint tables and their indexes."""
    op.create_table(
        "complaints_requests",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("token", ID, nullable=False, unique=True),
        sa.Column("service_code", sa.String(40), nullable=False),
        sa.Column("code_suggested", sa.Boolean, nullable=False),
        sa.Column("suggestion_confidence", sa.Float),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_notes", sa.String(2000)),
        sa.Column("description", sa.Text),
        sa.Column("lat", sa.Float),
        sa.Column("lon", sa.Float),
        sa.Column("address_string", sa.String(500)),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("media_id", ID),
        sa.Column("media_url", sa.String(500)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("priority_reasons", sa.JSON, nullable=False),
        sa.Column("supporters", sa.Integer, nullable=False),
        sa.Column("reporter_id", ID),
        sa.Column("api_key_id", ID),
        sa.Column("webhook_url", sa.String(500)),
        sa.Column("assigned_to", ID),
        sa.Column("requested_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("expected_at", TIME, nullable=False),
        sa.Column("closed_at", TIME),
        sa.Column("hub_synced_at", TIME),
    )
    op.create_index(
        "complaints_requests_code_time", "complaints_requests", ["service_code", "requested_at"]
    )
    op.create_index("complaints_requests_queue", "complaints_requests", ["department", "status"])
    op.create_index("complaints_requests_reporter", "complaints_requests", ["reporter_id"])
    op.create_table(
        "complaints_events",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("from_status", sa.String(20)),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("note", sa.String(2000)),
    )
    op.create_index("complaints_events_request", "complaints_events", ["request_id"])
    op.create_table(
        "complaints_notifications",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), nullable=False),
        sa.Column("event_id", BIGINT, sa.ForeignKey("complaints_events.id"), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message_ko", sa.String(2000), nullable=False),
        sa.Column("message_en", sa.String(2000), nullable=False),
        sa.Column("read_at", TIME),
    )
    op.create_index("complaints_notifications_user", "complaints_notifications", ["user_id", "at"])
    op.create_table(
        "complaints_webhooks",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), nullable=False),
        sa.Column("event_id", BIGINT, sa.ForeignKey("complaints_events.id"), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
        sa.Column("delivered_at", TIME),
        sa.Column("failed_at", TIME),
        sa.Column("last_error", sa.String(500)),
    )
    op.create_index(
        "complaints_webhooks_due", "complaints_webhooks", ["delivered_at", "next_attempt_at"]
    )
    op.create_table(
        "complaints_media",
        sa.Column("id", ID, primary_key=True),
        sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "complaints_supporters",
        sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), primary_key=True),
        sa.Column("supporter", sa.String(100), primary_key=True),
        sa.Column("at", TIME, nullable=False),
    )


def downgrade() -> None:
    """Drop the complaint tables (their data with them)."""
    for table in (
        "complaints_supporters",
        "complaints_media",
        "complaints_webhooks",
        "complaints_notifications",
        "complaints_events",
        "complaints_requests",
    ):
        op.drop_table(table)
