"""The complaint tables (SQLAlchemy Core, mirroring migration 0008) and the workflow states.

A complaint's row holds no contact details: who filed it is an account id (or the API key
that posted it), never a name, e-mail address or phone number. The hub copy
(:mod:`cityos.governance.hub_copy`) carries less still: no account, no key.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

from cityos.identity.models import TIME

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ID = sa.String(36)


class Status(StrEnum):
    """The workflow states of a complaint (접수 → 배정 → 처리중 → 완료 / 반려)."""

    RECEIVED = "received"  # 접수
    ASSIGNED = "assigned"  # 배정
    IN_PROGRESS = "in_progress"  # 처리중
    CLOSED = "closed"  # 완료
    REJECTED = "rejected"  # 반려

    @property
    def open311(self) -> str:
        """Return the Open311 status (``open`` or ``closed``) of this state."""
        return "closed" if self in (Status.CLOSED, Status.REJECTED) else "open"

    @property
    def label_ko(self) -> str:
        """Return the Korean name of the state."""
        return STATUS_KO[self]


STATUS_KO = {
    Status.RECEIVED: "접수",
    Status.ASSIGNED: "배정",
    Status.IN_PROGRESS: "처리중",
    Status.CLOSED: "완료",
    Status.REJECTED: "반려",
}

# Which state may follow which. Rejecting is possible until the work is done; a closed or
# rejected complaint is final (a new problem is a new complaint).
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.RECEIVED: frozenset({Status.ASSIGNED, Status.REJECTED}),
    Status.ASSIGNED: frozenset({Status.IN_PROGRESS, Status.ASSIGNED, Status.REJECTED}),
    Status.IN_PROGRESS: frozenset({Status.CLOSED, Status.REJECTED}),
    Status.CLOSED: frozenset(),
    Status.REJECTED: frozenset(),
}

metadata = sa.MetaData()

requests = sa.Table(
    "complaints_requests",
    metadata,
    sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
    sa.Column("token", ID, nullable=False, unique=True),
    sa.Column("service_code", sa.String(40), nullable=False),
    sa.Column("code_suggested", sa.Boolean, nullable=False, default=False),
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
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("priority_reasons", sa.JSON, nullable=False),
    sa.Column("supporters", sa.Integer, nullable=False, default=0),
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

events = sa.Table(
    "complaints_events",
    metadata,
    sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
    sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), nullable=False),
    sa.Column("at", TIME, nullable=False),
    sa.Column("from_status", sa.String(20)),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("note", sa.String(2000)),
)

notifications = sa.Table(
    "complaints_notifications",
    metadata,
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

webhooks = sa.Table(
    "complaints_webhooks",
    metadata,
    sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
    sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), nullable=False),
    sa.Column("event_id", BIGINT, sa.ForeignKey("complaints_events.id"), nullable=False),
    sa.Column("url", sa.String(500), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", TIME, nullable=False),
    sa.Column("delivered_at", TIME),
    sa.Column("failed_at", TIME),
    sa.Column("last_error", sa.String(500)),
)

media = sa.Table(
    "complaints_media",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), nullable=False),
    sa.Column("content_type", sa.String(40), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

supporters = sa.Table(
    "complaints_supporters",
    metadata,
    sa.Column("request_id", BIGINT, sa.ForeignKey("complaints_requests.id"), primary_key=True),
    sa.Column("supporter", sa.String(100), primary_key=True),
    sa.Column("at", TIME, nullable=False),
)
