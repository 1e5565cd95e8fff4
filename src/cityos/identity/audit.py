"""The append-only audit log: who did what to whose data, when and why.

This module only inserts and reads; there is deliberately no function that changes or
removes an entry, and migration 0002 adds a trigger on each backend that refuses UPDATE and
DELETE (and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.identity.models import audit_log

_INSERT = sa.insert(audit_log)


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    at: datetime
    actor: str
    subject: str | None
    action: str
    reason: str
    detail: Mapping[str, Any]


def record(
    connection: Connection,
    *,
    actor: str,
    action: str,
    reason: str,
    now: datetime,
    subject: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an entry (``actor``: ``user:<id>``, ``key:<id>``, ``cli`` or ``system``)."""
    # Parameters, not .values(): one compiled statement for every entry (cache hit).
    connection.execute(
        _INSERT,
        {
            "at": now,
            "actor": actor,
            "subject": subject,
            "action": action,
            "reason": reason,
            "detail": dict(detail or {}),
        },
    )


def entries(
    connection: Connection, *, subject: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Return the newest entries first, optionally only those about one user."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor=row.actor,
            subject=row.subject,
            action=row.action,
            reason=row.reason,
            detail=row.detail,
        )
        for row in connection.execute(query)
    ]
