"""PostgreSQL's monthly partitions of ``hub_temporal_changes``, made on demand.

Change rows are partitioned on ``ts_lo`` (their earliest instance [µs since the epoch]). A
partition is created the first time a change of its month is written; creation runs
in the writing transaction under a transaction-scoped advisory lock (``_CREATE_KEY``), so
two writers creating the same month wait for each other instead of failing. A writer that
checks its months holds ``_LOCK_KEY`` shared until it commits; retention takes it
exclusively to drop old partitions, so no partition disappears under a writer, and writers
do not wait for each other. Partitions are named ``hub_temporal_yYYYYmMM``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cityos.hub.temporal._times import from_micros, to_micros

_LOCK_KEY = 0x7E_3D_0A_11  # shared by writers, exclusive for retention's DROP
_CREATE_KEY = 0x7E_3D_0A_12  # exclusive while a writer creates a partition


def utc_month_start(year: int, month: int) -> datetime:
    """Return the first instant of a month in UTC."""
    return datetime(year, month, 1, tzinfo=UTC)


def month_of(micros: int) -> tuple[int, int]:
    """Return (year, month) of an instant given in µs since the epoch."""
    moment = from_micros(micros)
    return moment.year, moment.month


def partition_name(year: int, month: int) -> str:
    """Return the partition table name of a month."""
    return f"hub_temporal_y{year:04d}m{month:02d}"


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_bounds(months: tuple[tuple[int, int], ...]) -> tuple[list[str], list[int], list[int]]:
    """Return the partition names of ``months`` and their bounds: first µs, last µs + 1."""
    names, lo, hi = [], [], []
    for year, month in months:
        names.append(partition_name(year, month))
        lo.append(to_micros(utc_month_start(year, month)))
        hi.append(to_micros(utc_month_start(*_next(year, month))))
    return names, lo, hi


def ensure_month_partitions(conn: Any, months: set[tuple[int, int]]) -> None:
    """Create the partitions of ``months`` that do not exist yet, in ``conn``'s transaction
    (one created here exists only if it commits).

    One statement: ``hub_temporal_months`` (migration 0015) takes ``_LOCK_KEY`` shared,
    looks each partition up (``to_regclass``) and creates the missing ones under
    ``_CREATE_KEY``; the history writer sends the same call deferred, with its COMMIT.
    """
    names, lo, hi = month_bounds(tuple(sorted(months)))
    conn.execute(
        "SELECT hub_temporal_months(%s::text[], %s::bigint[], %s::bigint[])", (names, lo, hi)
    )


def month_partitions(conn: Any) -> list[str]:
    """Return the names of the existing partitions, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'hub_temporal_changes' "
        "ORDER BY c.relname"
    ).fetchall()
    return [r[0] for r in rows]
