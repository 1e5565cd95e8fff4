"""Hourly roll-ups on SQLite: folded in from the raw history after the writes, not during them.

A write on SQLite appends its change rows to ``hub_temporal_changes`` and nothing else; the
roll-ups (``hub_temporal_hourly``: count, sum, sum of squares, min, max per entity,
attribute, datasetId and UTC hour) of the rows appended since the last fold are added by
:func:`fold_pending`, which reads a range of the table's integer key, sums the numeric
instances with orjson and Python, and adds the sums with one multi-row upsert per step —
instead of an upsert per instance in the writing request. (Until this was measured it was
one ``INSERT … SELECT … GROUP BY`` over ``json_each`` of the change rows: ~430,000
instructions per new 8-attribute entity, more than the whole write; this takes ~50,000,
docs/benchmarks.md "History cut".) ``hub_temporal_rollup`` holds the mark: every row with
``pk`` ≤ ``rolled_pk`` is in the roll-ups, none above it is.

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

import time
from typing import Any

import orjson

from cityos.hub.store._sqlite_rows import insert_rows
from cityos.hub.store.base import HubStore
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


def fold(store: HubStore, *, chunk: int = _CHUNK) -> int:
    """Fold what was pending when called, ``chunk`` keys per write transaction, pausing
    between them so that writers waiting for the lock go first; return how many keys (see
    :func:`fold_pending`; 0 at once on PostgreSQL, or when nothing is pending). Rows
    written meanwhile wait for the next fold (with steady writes a fold would never end)."""
    if store.backend != "sqlite":
        return 0
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
