"""The ingestion tables (created by migration 0005_ingest) and the device record.

Times are integer microseconds since 1970-01-01 UTC on both backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

ingest_devices = sa.Table(
    "ingest_devices",
    metadata,
    sa.Column("device_id", sa.Text, primary_key=True),
    sa.Column("apikey_hash", sa.Text, nullable=False),
    sa.Column("apikey_prefix", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("entity_id", sa.Text, nullable=False),
    sa.Column("entity_type", sa.Text, nullable=False),
    sa.Column("context", sa.Text),
    sa.Column("attributes", sa.Text, nullable=False),  # JSON: object id -> mapping
    sa.Column("static_attributes", sa.Text, nullable=False),  # JSON: name -> value
    sa.Column("transport", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("modified_at", sa.BigInteger, nullable=False),
)

ingest_dead_letters = sa.Table(
    "ingest_dead_letters",
    metadata,
    sa.Column("pk", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.BigInteger, nullable=False),
    sa.Column("transport", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("device_id", sa.Text),
    sa.Column("topic", sa.Text),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("payload_size", sa.Integer, nullable=False),
    # migration 0010: the retention purge deletes by received_at
    sa.Index("ingest_dead_letters_received_at", "received_at"),
)


@dataclass(frozen=True, slots=True)
class AttributeMapping:
    """How one measure (object id) becomes an attribute of the device's entity."""

    name: str  # the Smart Data Model attribute name, e.g. "pm25"
    type: str  # "Number", "Integer", "Text", "Boolean" or "Point" (GeoProperty)
    unit_code: str | None = None  # UN/CEFACT common code, e.g. "GQ" (µg/m³), "CEL" (°C)

    def as_json(self) -> dict[str, Any]:
        """Return the mapping as stored and shown (``unitCode`` as in NGSI-LD)."""
        body: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.unit_code is not None:
            body["unitCode"] = self.unit_code
        return body


@dataclass(frozen=True, slots=True)
class Device:
    """A provisioned device: who it is, which entity it feeds and how its measures map."""

    device_id: str
    tenant: str
    entity_id: str
    entity_type: str
    context: str | None
    attributes: dict[str, AttributeMapping]
    static_attributes: dict[str, Any]
    transport: str
    apikey_hash: str
    apikey_prefix: str
    created_at: int
    modified_at: int


def micros_now() -> int:
    """Return the time now in microseconds since the epoch [µs]."""
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def from_micros(micros: int) -> datetime:
    """Return microseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
