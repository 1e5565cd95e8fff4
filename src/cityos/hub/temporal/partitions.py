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


def ensure_month_partitions(conn: Any, months: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Create the partitions of ``months`` that do not exist yet, in ``conn``'s transaction.

    Return the months whose partitions existed already (committed, so safe to remember);
    one created here exists only if this transaction commits. One statement when they all
    exist: the shared lock is taken before pg_class is read (the sub-select depends on it).
    """
    names = {partition_name(*m): m for m in months}
    (found,) = conn.execute(
        "SELECT ARRAY(SELECT c.relname::text FROM pg_class c WHERE c.relname = ANY(%s) "
        "AND l.locked IS NOT NULL) FROM (SELECT pg_advisory_xact_lock_shared(%s)::text "
        "AS locked OFFSET 0) l",
        (list(names), _LOCK_KEY),
    ).fetchone()
    existed = {names[name] for name in found}
    missing = sorted(set(months) - existed)
    if missing:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATE_KEY,))
        for year, month in missing:
            start = utc_month_start(year, month)
            end = utc_month_start(*_next(year, month))
            # IF NOT EXISTS: a writer that created it committed while this one waited
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(year, month)} PARTITION OF "
                f"hub_temporal_changes FOR VALUES FROM ({to_micros(start)}) TO ({to_micros(end)})"
            )
    return existed


def month_partitions(conn: Any) -> list[str]:
    """Return the names of the existing partitions, oldest first."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'hub_temporal_changes' "
        "ORDER BY c.relname"
    ).fetchall()
    return [r[0] for r in rows]
