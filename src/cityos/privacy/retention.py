"""Retention: personal data older than its kind's period is erased (PIPA art. 21).

:func:`purge_expired` is what a scheduler calls (e.g. hourly, next to the hub's temporal
retention job); it is idempotent and cheap when there is nothing to erase.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from cityos.config import Settings
from cityos.identity import audit
from cityos.privacy.models import records


def cutoffs(settings: Settings, now: datetime) -> dict[str, datetime]:
    """Return, per kind of personal data, the time before which records are expired."""
    return {kind: now - timedelta(days=days) for kind, days in settings.retention_days.items()}


def purge_expired(
    engine: Engine | Connection, *, settings: Settings, now: datetime
) -> dict[str, int]:
    """Erase every record older than its kind's retention period; return counts per kind.

    A kind with no retention setting (none can be stored: the store refuses unknown kinds)
    is erased as soon as it is seen, never kept forever. One system audit entry per run
    that erased anything (counts only: the entries name no one).
    """
    if isinstance(engine, Engine):
        with engine.begin() as connection:
            return purge_expired(connection, settings=settings, now=now)
    connection = engine
    limits = cutoffs(settings, now)
    erased: dict[str, int] = {}
    for kind, before in limits.items():
        count = connection.execute(
            sa.delete(records).where(records.c.kind == kind, records.c.recorded_at < before)
        ).rowcount
        if count:
            erased[kind] = int(count)
    stray = connection.execute(
        sa.delete(records).where(records.c.kind.not_in(list(limits)))
    ).rowcount
    if stray:
        erased["(no retention period)"] = int(stray)
    if erased:
        audit.record(
            connection,
            actor="system",
            action="personal_data_purged",
            reason="retention period ended",
            now=now,
            detail={"erased": erased, "retention_days": dict(settings.retention_days)},
        )
    return erased
