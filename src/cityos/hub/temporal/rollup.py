"""Hourly roll-ups on SQLite: folded in from the raw history after the writes, not during them.

A write on SQLite appends its change rows to ``hub_temporal_changes`` and nothing else; the
roll-ups (``hub_temporal_hourly``: count, sum, sum of squares, min, max per entity,
attribute, datasetId and UTC hour) of the rows appended since the last fold are added by
:func:`fold_pending` in one ``INSERT … SELECT … GROUP BY`` over the change rows' instances
(``json_each``) — in C, over a range of the table's integer key, a few µs per instance
instead of an upsert per instance in the writing request. ``hub_temporal_rollup``
holds the mark: every row with ``pk`` ≤ ``rolled_pk`` is in the roll-ups, none above it is.

The rule that keeps this exact: **whatever reads or changes the roll-ups folds first**, in
the same SQLite write lock — aggregations that use them (:func:`fold`),
temporal provision (which recomputes hours from raw rows), retention (which deletes raw
rows). Writers give new rows keys above the mark (``next_pk``), so a key freed by a deleted
row is never reused below it. The ``temporal_rollup`` job folds every few minutes so the
pending range stays small. PostgreSQL keeps updating roll-ups in the write (its concurrent
writers commit identity values out of order, so a key range is no mark there): these
functions do nothing on it.
"""

from __future__ import annotations

from typing import Any

from cityos.hub.store.base import HubStore
from cityos.hub.temporal._times import MICROS_PER_HOUR

# NOT INDEXED: without it SQLite walks the whole (entity, ts_hi) index for the GROUP BY
# instead of the key range (EXPLAIN QUERY PLAN); the rowid range stays usable.
_FOLD = (
    "INSERT INTO hub_temporal_hourly (entity, attr, dataset_id, hour, n, total, total_sq, lo, "
    "hi) SELECT entity, attr, dataset_id, "
    f"ts - ((ts % {MICROS_PER_HOUR}) + {MICROS_PER_HOUR}) % {MICROS_PER_HOUR}, "
    "count(num), sum(num), sum(num * num), min(num), max(num) FROM (SELECT c.entity AS entity, "
    "j.value ->> 0 AS attr, j.value ->> 1 AS dataset_id, j.value ->> 3 AS ts, "
    "j.value ->> 7 AS num FROM hub_temporal_changes c NOT INDEXED, json_each(c.instances) j "
    "WHERE c.pk > ? AND c.pk <= ? AND j.type = 'array') WHERE num IS NOT NULL "
    "GROUP BY 1, 2, 3, 4 "
    "ON CONFLICT (entity, attr, dataset_id, hour) DO UPDATE SET n = n + excluded.n, "
    "total = total + excluded.total, total_sq = total_sq + excluded.total_sq, "
    "lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)"
)
_MARK = "SELECT rolled_pk FROM hub_temporal_rollup WHERE id = 1"
_TOP = "SELECT max(pk) FROM hub_temporal_changes"


def _mark(conn: Any) -> int:
    row = conn.execute(_MARK).fetchone()
    return 0 if row is None else int(row[0])


def pending(conn: Any) -> bool:
    """Return True when rows wait to be folded into the roll-ups (a cheap read: two lookups
    at the ends of B-trees)."""
    top = conn.execute(_TOP).fetchone()[0]
    return top is not None and int(top) > _mark(conn)


def fold_pending(conn: Any) -> int:
    """Fold the rows appended since the mark into the roll-ups; return how many keys the
    folded range spans (the change rows appended since, and any of them deleted in between).

    ``conn`` must hold SQLite's write lock (``BEGIN IMMEDIATE``, e.g. a store transaction).
    """
    mark = _mark(conn)
    top = conn.execute(_TOP).fetchone()[0]
    if top is None or int(top) <= mark:
        return 0
    top = int(top)
    conn.execute(_FOLD, (mark, top))
    conn.execute(
        "INSERT INTO hub_temporal_rollup (id, rolled_pk) VALUES (1, ?) "
        "ON CONFLICT (id) DO UPDATE SET rolled_pk = excluded.rolled_pk",
        (top,),
    )
    return top - mark


def next_pk(conn: Any) -> int:
    """Return the key the next change row gets: above every row and above the mark."""
    row = conn.execute(f"SELECT max(coalesce(({_TOP}), 0), coalesce(({_MARK}), 0))").fetchone()
    return int(row[0]) + 1


def fold(store: HubStore) -> int:
    """Fold what is pending, in a write transaction of its own; return how many keys (see
    :func:`fold_pending`; 0 at once on PostgreSQL, or when nothing is pending)."""
    if store.backend != "sqlite":
        return 0
    if not pending(store._conn()):  # type: ignore[attr-defined]
        return 0
    with store.transaction("urn:ngsi-ld:tenant:default") as tx:
        return fold_pending(tx.connection)
