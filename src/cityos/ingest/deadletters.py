"""Dead letters: messages the agent refused, kept with the reason and their first bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.ingest.models import from_micros, ingest_dead_letters
from cityos.ingest.schemas import DeadLetterRead

KEPT_BYTES = 256  # of each refused payload


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message."""

    received_at: int  # [µs since the epoch]
    transport: str
    reason: str
    detail: str
    device_id: str | None
    topic: str | None
    payload: bytes


def _text(value: str | None, size: int) -> str | None:
    # PostgreSQL text cannot hold NUL; a refused message may be full of them.
    return None if value is None else value[:size].replace("\x00", "\ufffd")


def record(connection: Connection, *, letters: Sequence[DeadLetter]) -> None:
    """Insert dead letters (only the first KEPT_BYTES of each payload)."""
    if not letters:
        return
    connection.execute(
        ingest_dead_letters.insert(),
        [
            {
                "received_at": letter.received_at,
                "transport": letter.transport,
                "reason": letter.reason,
                "detail": _text(letter.detail, 1000),
                "device_id": _text(letter.device_id, 200),
                "topic": _text(letter.topic, 300),
                "payload": letter.payload[:KEPT_BYTES],
                "payload_size": len(letter.payload),
            }
            for letter in letters
        ],
    )


def purge(connection: Connection, *, before: int) -> int:
    """Delete dead letters received before ``before`` [µs since the epoch]; return how many."""
    result = connection.execute(
        sa.delete(ingest_dead_letters).where(ingest_dead_letters.c.received_at < before)
    )
    return int(result.rowcount or 0)


def list_letters(
    connection: Connection,
    *,
    reason: str | None = None,
    device_id: str | None = None,
    limit: int = 100,
    before: int | None = None,
) -> list[DeadLetterRead]:
    """Return dead letters newest first, optionally of one reason or device, one page.

    ``before``: only letters with a smaller id (the next page starts below the last id seen).
    """
    table = ingest_dead_letters
    query = sa.select(table).order_by(table.c.pk.desc()).limit(limit)
    if reason is not None:
        query = query.where(table.c.reason == reason)
    if device_id is not None:
        query = query.where(table.c.device_id == device_id)
    if before is not None:
        query = query.where(table.c.pk < before)
    return [
        DeadLetterRead(
            id=row["pk"],
            received_at=from_micros(row["received_at"]),
            transport=row["transport"],
            reason=row["reason"],
            detail=row["detail"],
            device_id=row["device_id"],
            topic=row["topic"],
            payload=bytes(row["payload"]).decode("utf-8", errors="replace"),
            payload_size=row["payload_size"],
        )
        for row in connection.execute(query).mappings()
    ]
