"""Open-data statistics from personal data: consent-checked, audited, k-anonymous.

:func:`people_per_cell` is the one way a published number is made from personal records:
it reads only the records of citizens who consent to the purpose, writes one audit entry
per citizen whose records it read, and returns :class:`~cityos.privacy.stats.KAnonymousCounts`
(cells of fewer than k people withheld).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.identity import audit
from cityos.identity.models import consents
from cityos.privacy.crypto import Vault
from cityos.privacy.models import PersonalRecord, records
from cityos.privacy.stats import MIN_CELL_SIZE, Cell, KAnonymousCounts, k_anonymous_counts
from cityos.privacy.store import READ, decrypt_rows

CHUNK = 500


def consenting_users(connection: Connection, *, purpose: str) -> list[str]:
    """Return the ids of users with an unwithdrawn consent to ``purpose``."""
    query = (
        sa.select(consents.c.user_id)
        .where(consents.c.purpose == purpose, consents.c.withdrawn_at.is_(None))
        .distinct()
        .order_by(consents.c.user_id)
    )
    return list(connection.execute(query).scalars())


def people_per_cell(
    connection: Connection,
    *,
    vault: Vault,
    kind: str,
    purpose: str,
    cell: Callable[[PersonalRecord], Cell | None],
    actor: str,
    reason: str,
    now: datetime,
    since: datetime | None = None,
    k: int = MIN_CELL_SIZE,
) -> KAnonymousCounts[Cell]:
    """Count distinct people per cell over records of ``kind`` for ``purpose``; suppress < k.

    ``cell`` maps a record to its cell (a district, an age band …) or None to leave it out.
    Each citizen is counted once per cell, under their pseudonym.
    """
    users = consenting_users(connection, purpose=purpose)
    by_subject = {vault.subject(user): user for user in users}
    subjects = sorted(by_subject)
    observations: list[tuple[Cell, Hashable]] = []
    read_per_user: dict[str, int] = {}
    for start in range(0, len(subjects), CHUNK):
        chunk = subjects[start : start + CHUNK]
        query = (
            sa.select(records)
            .where(
                records.c.kind == kind,
                records.c.purpose == purpose,
                records.c.subject.in_(chunk),
            )
            .order_by(records.c.subject, records.c.recorded_at, records.c.id)
        )
        if since is not None:
            query = query.where(records.c.recorded_at >= since)
        rows = connection.execute(query).all()
        for row, record in zip(rows, decrypt_rows(vault, iter(rows)), strict=True):
            user = by_subject[row.subject]
            read_per_user[user] = read_per_user.get(user, 0) + 1
            where = cell(record)
            if where is not None:
                observations.append((where, row.subject))
    for user, count in sorted(read_per_user.items()):
        audit.record(
            connection,
            actor=actor,
            subject=user,
            action=READ,
            reason=f"{purpose}: open-data statistics: {reason}"[:500],
            now=now,
            detail={"kind": kind, "purpose": purpose, "records": count, "statistics": True},
        )
    return k_anonymous_counts(observations, k=k)
