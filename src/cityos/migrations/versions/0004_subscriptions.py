"""NGSI-LD subscriptions and the notification outbox.

Revision ID: 0004_subscriptions
Revises: 0003_temporal
Create Date: 2026-11-25

``hub_subscriptions`` holds each tenant's subscriptions (GS CIM 009 v1.8, 5.2.12): ``body``
is the validated subscription as JSON with entity types and attribute names expanded to
IRIs, ``owner_types`` the entity types its creator may read (JSON list of IRIs, NULL: every
type), and the delivery statistics are columns so the dispatcher updates them without
rewriting the body.

``hub_outbox`` is the transactional outbox: a change listener inserts one row per matching
(subscription, entity change) in the writing transaction, so a notification exists exactly
when its change committed. The dispatcher delivers a subscription's rows in ``seq`` order and
deletes each only after its receiver accepted it. On PostgreSQL sequence numbers may commit
out of order across transactions, so delivery never keeps a "last delivered" watermark.

``owner`` is the creator (a user or API-key id; NULL with authentication off). ``lease_owner``
and ``lease_until`` (seconds since the epoch) let one dispatcher at a time deliver a
subscription when several processes share the database. ``hub_subscription_version`` holds
one counter, raised by every subscription change, which every write transaction reads to
know whether its in-memory subscription index is current.
"""

from __future__ import annotations

from alembic import op

revision = "0004_subscriptions"
down_revision = "0003_temporal"
branch_labels = None
depends_on = None

SQLITE = [
    """CREATE TABLE hub_subscriptions (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        body TEXT NOT NULL,
        owner_types TEXT,
        created_at TEXT NOT NULL,
        modified_at TEXT NOT NULL,
        times_sent INTEGER NOT NULL DEFAULT 0,
        times_failed INTEGER NOT NULL DEFAULT 0,
        last_notification TEXT,
        last_success TEXT,
        last_failure TEXT,
        last_error TEXT,
        owner TEXT,
        lease_owner TEXT,
        lease_until REAL,
        PRIMARY KEY (tenant, id)) WITHOUT ROWID""",
    """CREATE TABLE hub_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant TEXT NOT NULL,
        subscription_id TEXT NOT NULL,
        entity_id TEXT,
        notification TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX hub_outbox_queue ON hub_outbox (tenant, subscription_id, seq)",
    "CREATE TABLE hub_subscription_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
    "INSERT INTO hub_subscription_version (id, version) VALUES (1, 0)",
]

POSTGRES = [
    """CREATE TABLE hub_subscriptions (
        tenant text NOT NULL,
        id text NOT NULL,
        body text NOT NULL,
        owner_types text,
        created_at text NOT NULL,
        modified_at text NOT NULL,
        times_sent bigint NOT NULL DEFAULT 0,
        times_failed bigint NOT NULL DEFAULT 0,
        last_notification text,
        last_success text,
        last_failure text,
        last_error text,
        owner text,
        lease_owner text,
        lease_until double precision,
        PRIMARY KEY (tenant, id))""",
    """CREATE TABLE hub_outbox (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant text NOT NULL,
        subscription_id text NOT NULL,
        entity_id text,
        notification text NOT NULL,
        created_at text NOT NULL)""",
    "CREATE INDEX hub_outbox_queue ON hub_outbox (tenant, subscription_id, seq)",
    "CREATE TABLE hub_subscription_version (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)",
    "INSERT INTO hub_subscription_version (id, version) VALUES (1, 0)",
]


def upgrade() -> None:
    """Create the subscription and outbox tables for the connected dialect."""
    statements = SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRES
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    """Drop the subscription and outbox tables."""
    for table in ("hub_subscription_version", "hub_outbox", "hub_subscriptions"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
