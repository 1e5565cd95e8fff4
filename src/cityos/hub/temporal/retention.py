"""Retention of temporal history: raw instances expire, hourly roll-ups are kept forever.

``expire_history`` deletes every raw instance observed before a cutoff: ``keep_days`` before
``now``, rounded down to a whole UTC hour, so that an hour's instances are either all kept
(and its roll-up can still be rebuilt from them after a patch) or all gone (and its roll-up
is final). On PostgreSQL a monthly partition wholly before the cutoff is dropped (no
vacuum debt; change rows in it that also hold newer instances are trimmed first, which
moves them out); the rest is deleted change row by change row. The periodic job runner calls it with
``keep_days = CITYOS_TEMPORAL_RETENTION_DAYS`` (default 90).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cityos.hub.store.base import HubStore
from cityos.hub.temporal._db import Db, read_db
from cityos.hub.temporal._times import MICROS_PER_HOUR, to_micros
from cityos.hub.temporal.partitions import _LOCK_KEY, month_partitions, utc_month_start
from cityos.hub.temporal.provision import save_change
from cityos.hub.temporal.rollup import fold, fold_pending


def retention_cutoff(*, keep_days: int, now: datetime) -> int:
    """Return the instant [µs since the epoch] before which raw instances expire."""
    if keep_days < 1:
        raise ValueError(f"keep_days must be at least 1 (got {keep_days})")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    moment = to_micros(now.astimezone(UTC) - timedelta(days=keep_days))
    return moment - moment % MICROS_PER_HOUR


def _partition_end(name: str) -> datetime:
    """Return the first instant after a ``hub_temporal_yYYYYmMM`` partition."""
    year, month = int(name[-7:-3]), int(name[-2:])
    return utc_month_start(year + 1, 1) if month == 12 else utc_month_start(year, month + 1)


def _live(db: Db, table: str, where: str, params: list[Any]) -> int:
    """Return how many live instances the change rows of ``table`` matching ``where`` hold."""
    if db.postgres:
        sql = (
            f"SELECT count(*) FROM {table} c, jsonb_array_elements(c.instances) j "
            f"WHERE jsonb_typeof(j) = 'array' AND {where}"
        )
    else:
        sql = (
            f"SELECT count(*) FROM {table} c, json_each(c.instances) j "
            f"WHERE j.type = 'array' AND {where}"
        )
    return int(db.rows(sql, params)[0][0])


def _trim_straddling(db: Db, cutoff: int) -> int:
    """Remove the expired instances of change rows that also hold newer ones (their
    ``ts_lo`` moves up: on PostgreSQL the row moves to its new month's partition)."""
    trimmed = 0
    for pk, raw in db.rows(
        "SELECT pk, instances FROM hub_temporal_changes WHERE ts_lo < %s AND ts_hi >= %s",
        [cutoff, cutoff],
    ):
        items = raw if isinstance(raw, list) else orjson.loads(raw)
        for i, element in enumerate(items):
            if element is not None and element[3] < cutoff:
                items[i] = None
                trimmed += 1
        save_change(db, int(pk), items)
    return trimmed


def _drop_old_partitions(db: Db, cutoff: int) -> int:
    dropped = 0
    for name in month_partitions(db.conn):
        if to_micros(_partition_end(name)) <= cutoff:
            dropped += _live(db, name, "true", [])
            db.run(f"DROP TABLE {name}")
    return dropped


def expire_history(store: HubStore, *, keep_days: int, now: datetime) -> int:
    """Delete raw history older than ``keep_days`` before ``now`` [d]; return how many
    instances were deleted.

    Hourly roll-ups (``hub_temporal_hourly``) are never deleted: aggregations over whole
    hours stay answerable forever. Safe to run while the hub writes; idempotent. A change
    row wholly before the cutoff is deleted; one that straddles it (a write of old and new
    instances together) loses its expired instances (their positions become ``null``).
    """
    cutoff = retention_cutoff(keep_days=keep_days, now=now)
    if store.backend == "postgresql":
        # the pending sums do not live in raw rows there, but an entity whose raw rows all
        # go is still found by its roll-ups (temporal/query.py): fold them in first
        fold(store)
        with store.pool.connection() as conn, conn.transaction():  # type: ignore[attr-defined]
            db = Db("postgresql", conn)
            # the lock writers hold shared while they write history: no partition drops under one
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            deleted = _trim_straddling(db, cutoff)
            deleted += _drop_old_partitions(db, cutoff)
            deleted += _live(db, "hub_temporal_changes", "c.ts_hi < %s", [cutoff])
            db.run("DELETE FROM hub_temporal_changes WHERE ts_hi < %s", [cutoff])
        return deleted
    with store.transaction("urn:ngsi-ld:tenant:default") as tx:  # the write lock, one COMMIT
        fold_pending(tx.connection)  # a pending row's numbers reach its roll-up before it goes
        db = Db("sqlite", tx.connection)
        deleted = _trim_straddling(db, cutoff)
        deleted += _live(db, "hub_temporal_changes", "c.ts_hi < %s", [cutoff])
        db.run("DELETE FROM hub_temporal_changes WHERE ts_hi < %s", [cutoff])
        return deleted


def oldest_raw_instant(store: HubStore) -> int | None:
    """Return the time [µs] of the oldest raw instance kept, or None when there is none."""
    with read_db(store) as db:
        row = db.rows("SELECT min(ts_lo) FROM hub_temporal_changes")[0][0]
        return None if row is None else int(row)
