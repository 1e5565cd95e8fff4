"""Hourly roll-ups, folded in from what the writes left pending, not upserted during them.

The roll-ups (``hub_temporal_hourly``: count, sum, sum of squares, min, max per entity,
attribute, datasetId and UTC hour) are not written by the writes themselves:

* **SQLite**: a write appends its change rows to ``hub_temporal_changes`` and nothing else;
  :func:`fold_pending` reads the table's integer key range above the mark, sums the numeric
  instances with orjson and Python, and adds the sums with one multi-row upsert per step —
  instead of an upsert per instance in the writing request. (Until this was measured it was
  one ``INSERT … SELECT … GROUP BY`` over ``json_each`` of the change rows: ~430,000
  instructions per new 8-attribute entity, more than the whole write; this takes ~50,000,
  docs/benchmarks.md "History cut".) ``hub_temporal_rollup`` holds the mark: every row with
  ``pk`` ≤ ``rolled_pk`` is in the roll-ups, none above it is. Writers give new rows keys
  above the mark (``next_pk``), so a key freed by a deleted row is never reused below it.
* **PostgreSQL**: its concurrent writers commit identity values out of order, so a key range
  is no mark there. A write appends its hourly sums to ``hub_temporal_hourly_pending``
  (migration 0017: no index, the heap's last pages) in its history statement; a fold
  deletes pending rows and adds them to the roll-ups in one statement (``DELETE …
  RETURNING`` grouped into one upsert), so in every snapshot a sum is in exactly one of the
  two tables, and a row committed while a fold runs is simply left for the next one. Folds
  take one advisory lock (``_FOLD_KEY``): two at once would upsert the same roll-up rows in
  different orders. :func:`fold` walks the pending heap a range of pages per transaction
  (a TID range scan), up to the size it had when called.

The rule that keeps this exact on both: **whatever reads or changes the roll-ups folds
first** — aggregations that use them (:func:`fold`, before the read: whatever was committed
before the request is then in the roll-ups), temporal provision, which recomputes hours
from raw rows (:func:`fold_in`, in its own transaction; on PostgreSQL under a SHARE lock on
the pending table that waits for the writers in flight and holds new ones back until it
commits), and retention on SQLite, which deletes the raw rows its pending sums live in
(on PostgreSQL the pending sums do not depend on raw rows). The ``temporal_rollup`` job
folds every few minutes so that little is pending when a reader comes.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from cityos.hub.store._sqlite_rows import insert_rows
from cityos.hub.store.base import HubStore, Transaction
from cityos.hub.temporal._times import MICROS_PER_HOUR

# Change-row keys folded per step: the step's sums (a few thousand small lists) are all
# that stays in memory, whatever the pending range (5 minutes of writes at 20,000
# entities/s are 6 million rows), and few survive into a garbage collection (4,000 a step
# measured 153,000 instructions per entity with its collections, 500: 147,000).
_STEP = 500
# Change-row keys one of :func:`fold`'s transactions covers at most. The fold holds the
# writers' lock, and a write on the event loop waits for it (or, since session 10, goes to a
# thread): in one transaction, five minutes of writes at 7,000 entities/s (2.1 million rows
# at ~147,000 instructions each) held it for tens of seconds. 2,000 rows hold it ~0.1 s,
# then the writers waiting meanwhile go first.
_CHUNK = 2_000
_PAUSE = 0.001  # [s] between chunks: the waiting writers take the lock (and the GIL)
_sleep = time.sleep  # (a test watches the pauses)
_ROWS = "SELECT entity, instances FROM hub_temporal_changes WHERE pk > ? AND pk <= ? ORDER BY pk"
_UPSERT = (
    "INSERT INTO hub_temporal_hourly (entity, attr, dataset_id, hour, n, total, total_sq, lo, hi)"
)
_ADD = (
    " ON CONFLICT (entity, attr, dataset_id, hour) DO UPDATE SET n = n + excluded.n, "
    "total = total + excluded.total, total_sq = total_sq + excluded.total_sq, "
    "lo = min(lo, excluded.lo), hi = max(hi, excluded.hi)"
)
_MARK = "SELECT rolled_pk FROM hub_temporal_rollup WHERE id = 1"
# PostgreSQL: the advisory lock every fold holds (one at a time; 2117929489 and …90 are
# partitions.py's), the heap pages of the pending table one of :func:`fold`'s transactions
# covers (~50 rows a page: ~50,000 rows), and the fold itself.
_FOLD_KEY = 2117929491
_PG_PAGES = 1_000
_PG_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_PG_SIZE = (
    "SELECT pg_relation_size('hub_temporal_hourly_pending') / current_setting('block_size')::int"
)
_PG_FOLD = (
    "WITH gone AS (DELETE FROM hub_temporal_hourly_pending{where} RETURNING *), "
    "added AS (INSERT INTO hub_temporal_hourly AS h (entity, attr, dataset_id, hour, n, total, "
    "total_sq, lo, hi) SELECT entity, attr, dataset_id, hour, sum(n), sum(total), "
    "sum(total_sq), min(lo), max(hi) FROM gone GROUP BY entity, attr, dataset_id, hour "
    "ORDER BY entity, attr, dataset_id, hour "
    "ON CONFLICT (entity, attr, dataset_id, hour) DO UPDATE SET n = h.n + excluded.n, "
    "total = h.total + excluded.total, total_sq = h.total_sq + excluded.total_sq, "
    "lo = least(h.lo, excluded.lo), hi = greatest(h.hi, excluded.hi)) "
    "SELECT count(*) FROM gone"
)
_PG_PAGE_RANGE = " WHERE ctid >= %s::tid AND ctid < %s::tid"
_TOP = "SELECT max(pk) FROM hub_temporal_changes"


def _mark(conn: Any) -> int:
    row = conn.execute(_MARK).fetchone()
    return 0 if row is None else int(row[0])


def _pending_keys(conn: Any) -> tuple[int, int] | None:
    """Return the mark and the top change-row key when rows wait above the mark, else None
    (a cheap read: two lookups at the ends of B-trees)."""
    mark = _mark(conn)
    top = conn.execute(_TOP).fetchone()[0]
    return None if top is None or int(top) <= mark else (mark, int(top))


def pending(conn: Any) -> bool:
    """Return True when rows wait to be folded into the roll-ups."""
    return _pending_keys(conn) is not None


def pending_in(store: HubStore) -> bool:
    """Return True when anything waits to be folded into the store's roll-ups."""
    if store.backend == "postgresql":
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM hub_temporal_hourly_pending)")
            return bool(row.fetchone()[0])
    return pending(store._conn())  # type: ignore[attr-defined]


def fold_pending(conn: Any, *, limit: int | None = None, end: int | None = None) -> int:
    """Fold the rows appended since the mark into the roll-ups; return how many keys the
    folded range spans (the change rows appended since, and any of them deleted in between).
    ``limit``: fold at most this many keys above the mark; ``end``: none above this key (the
    rest stays pending).

    ``conn`` must hold SQLite's write lock (``BEGIN IMMEDIATE``, e.g. a store transaction).
    """
    keys = _pending_keys(conn)
    if keys is None:
        return 0
    mark, top = keys
    if end is not None:
        top = min(top, end)
    if limit is not None:
        top = min(top, mark + limit)
    if top <= mark:
        return 0
    for start in range(mark, top, _STEP):
        _fold_range(conn, start, min(start + _STEP, top))
    conn.execute(
        "INSERT INTO hub_temporal_rollup (id, rolled_pk) VALUES (1, ?) "
        "ON CONFLICT (id) DO UPDATE SET rolled_pk = excluded.rolled_pk",
        (top,),
    )
    return top - mark


# [count, sum, sum of squares, min, max] per (entity key, attribute, datasetId, hour [µs])
Sums = dict[tuple[int, str, str, int], list[Any]]


def add_elements(sums: Sums, entity: int, elements: Any) -> None:
    """Add the numeric instances among one change row's ``elements`` to ``sums`` (the
    recorder's PostgreSQL roll-ups and the SQLite fold share it). An element is
    ``[attribute, datasetId, kind, ts, observedAt, createdAt, modifiedAt, number, instance]``
    (a list or tuple), or None once deleted."""
    get = sums.get
    for element in elements:
        if element is None:
            continue
        x = element[7]
        if x is None:
            continue
        ts = element[3]
        key = (entity, element[0], element[1], ts - ts % MICROS_PER_HOUR)
        acc = get(key)
        if acc is None:
            sums[key] = [1, x, x * x, x, x]
        else:
            acc[0] += 1
            acc[1] += x
            acc[2] += x * x
            if x < acc[3]:
                acc[3] = x
            if x > acc[4]:
                acc[4] = x


def _fold_range(conn: Any, after: int, last: int) -> None:
    """Add the numeric instances of the change rows with ``after`` < pk <= ``last`` to the
    roll-ups: count, sum, sum of squares, min and max per (entity, attribute, datasetId,
    UTC hour of the instance time), in key and then instance order.

    The change rows are read with orjson, not expanded in SQL: ``json_each`` with ``->>`` on
    each element parses its text again per operator (SQLite 3.40 has no JSONB), ~430,000
    instructions per new 8-attribute entity where this takes ~50,000
    (benchmarks/hub_cost_history.py). An element is ``[attribute, datasetId, kind, ts,
    observedAt, createdAt, modifiedAt, number, instance]``, or null once deleted.
    """
    sums: Sums = {}
    loads = orjson.loads
    for entity, instances in conn.execute(_ROWS, (after, last)):
        add_elements(sums, entity, loads(instances))
    if sums:
        insert_rows(conn, _UPSERT, [(*k, *a) for k, a in sums.items()], tail=_ADD)


def next_pk(conn: Any) -> int:
    """Return the key the next change row gets: above every row and above the mark."""
    row = conn.execute(f"SELECT max(coalesce(({_TOP}), 0), coalesce(({_MARK}), 0))").fetchone()
    return int(row[0]) + 1


def fold(store: HubStore, *, chunk: int | None = None) -> int:
    """Fold what was pending when called; return how many keys (SQLite, see
    :func:`fold_pending`) or pending rows (PostgreSQL) it folded, 0 when nothing was pending.
    Rows written meanwhile wait for the next fold (with steady writes a fold would never
    end).

    SQLite: ``chunk`` keys per write transaction (default 2,000), pausing between them so
    that writers waiting for the lock go first. PostgreSQL: ``chunk`` heap pages of the
    pending table per transaction (default 1,000); writers never wait for a fold there.
    """
    if store.backend == "postgresql":
        return _fold_postgres(store, _PG_PAGES if chunk is None else chunk)
    chunk = _CHUNK if chunk is None else chunk
    keys = _pending_keys(store._conn())  # type: ignore[attr-defined]
    if keys is None:
        return 0
    end = keys[1]
    folded = 0
    while True:
        # (another fold, by provision or retention, may have moved the mark meanwhile)
        with store.transaction("urn:ngsi-ld:tenant:default") as tx:
            step = fold_pending(tx.connection, limit=chunk, end=end)
        folded += step
        if step < chunk:  # at ``end``
            return folded
        _sleep(_PAUSE)


def _fold_postgres(store: HubStore, pages: int) -> int:
    """Fold the pending table's rows, ``pages`` heap pages a transaction, over the pages it
    had when called (a row committed before the call lies on one of them)."""
    pool = store.pool  # type: ignore[attr-defined]
    with pool.connection() as conn:
        size = int(conn.execute(_PG_SIZE).fetchone()[0])
    folded = 0
    sql = _PG_FOLD.format(where=_PG_PAGE_RANGE)
    for start in range(0, size, pages):
        with pool.connection() as conn, conn.transaction():
            conn.execute(_PG_LOCK, (_FOLD_KEY,))
            row = conn.execute(sql, (f"({start},0)", f"({start + pages},0)")).fetchone()
            folded += int(row[0])
    return folded


def fold_in(tx: Transaction) -> None:
    """Make the roll-ups complete inside the write transaction ``tx`` before it recomputes or
    removes any (temporal provision): every pending sum folded, and none added until ``tx``
    ends.

    SQLite: ``tx`` holds the write lock; :func:`fold_pending`. PostgreSQL: the folds' lock,
    then a SHARE lock on the pending table (it waits for the writes that appended to it and
    have not committed, and holds new ones back until ``tx`` commits: otherwise a write
    committing between this fold and the recomputation would be counted from its raw row
    and again from its pending sum), then one fold of everything pending. The order of the
    two locks is every fold's, so folds never wait for each other in a cycle.
    """
    conn = tx.connection
    if tx.backend == "sqlite":
        fold_pending(conn)
        return
    conn.execute(_PG_LOCK, (_FOLD_KEY,))
    conn.execute("LOCK TABLE hub_temporal_hourly_pending IN SHARE MODE")
    conn.execute(_PG_FOLD.format(where=""))
