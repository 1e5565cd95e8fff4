"""Keep every attribute instance a write creates or changes, in the write's transaction.

The recorder is a store change listener (``HubStore.add_listener``): it runs just before
COMMIT, so an instance is in the history exactly when the change that made it is in the
entity table — never one without the other. An instance belongs to the change when its
``modifiedAt`` is the entity's new ``modifiedAt`` (the service stamps both with one clock
reading), or when the entity is new. A writer that folds several readings of one attribute
into one entity write (device ingestion) lists the superseded readings in
``Transaction.extra_instances`` so they are kept too.

Each (tenant, entity, attribute, datasetId) is a *series* with an integer id, described by
one row of ``hub_temporal_series``. On SQLite (one writer at a time: ``BEGIN IMMEDIATE``,
also across processes) a new series gets the next id (``max(pk) + 1``, read in the write's
transaction), so the series, the ``(series, ts)`` index and the hourly roll-ups grow at their
ends instead of dirtying random B-tree pages. On PostgreSQL (several processes write at once)
a series is named by a 63-bit hash of its four names (``series_id``) and described with
``INSERT … ON CONFLICT DO NOTHING``, so concurrent writers need no coordination. Readers
never compute ids: they join through ``hub_temporal_series``. Ids a write resolved are
remembered in a bounded cache only after its COMMIT, so a rolled-back allocation is never
reused. Numeric Property values
are summed per series and hour in ``hub_temporal_hourly`` (count, sum, sum of squares, min,
max), so hourly aggregations stay exact when raw instances expire: on PostgreSQL in the same
transaction, on SQLite folded in after the write (:mod:`cityos.hub.temporal.rollup`; a
write there only appends rows, with keys above the roll-up mark).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson

from cityos.hub.store._pg_prepared import Statement, run
from cityos.hub.store._sqlite_rows import insert_rows
from cityos.hub.store.base import Change, Entity, Transaction
from cityos.hub.temporal._times import MICROS_PER_HOUR, text_micros, to_micros
from cityos.hub.temporal.partitions import (
    _LOCK_KEY,
    ensure_month_partitions,
    month_of,
    partition_name,
)
from cityos.hub.temporal.rollup import next_pk

INSTANCE_PREFIX = "urn:ngsi-ld:Instance:"
# Committed series ids remembered per recorder (about 170 bytes each, measured with
# tracemalloc); forgotten wholesale when full. A miss costs one indexed lookup per write.
_SERIES_CACHE_MAX = 100_000
# SQLite allocates sequential ids below this bound; ids hashed by earlier versions (uniform
# in [0, 2**63)) above it are never in the way, and those below it are skipped by max(pk).
_SEQUENTIAL_LIMIT = 1 << 62
_CHUNK = 500  # entity ids per lookup, under SQLite's bound-parameter limit

SeriesKey = tuple[str, str, str, str]  # (tenant, entity id, attribute, datasetId)


def instance_id(pk: int) -> str:
    """Return the NGSI-LD instanceId of the history row ``pk``."""
    return f"{INSTANCE_PREFIX}{pk}"


def instance_pk(text: str) -> int | None:
    """Return the history row of an instanceId this hub made, or None for any other."""
    if not text.startswith(INSTANCE_PREFIX):
        return None
    tail = text.removeprefix(INSTANCE_PREFIX)
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


def series_id(tenant: str, entity_id: str, attr: str, dataset_id: str = "") -> int:
    """Return the 63-bit hashed id PostgreSQL gives a series (BLAKE2b of its four names).

    Collisions are negligible at city scale: about 3 in a million for 10 million series.
    SQLite databases made before sequential ids also hold such ids; lookups find them.
    """
    return _hash_series(tenant, entity_id, attr, dataset_id)


def _hash_series(tenant: str, entity_id: str, attr: str, dataset_id: str) -> int:
    digest = hashlib.blake2b(
        f"{tenant}\x1f{entity_id}\x1f{attr}\x1f{dataset_id}".encode(),
        digest_size=8,
        person=b"cityos-series",
    ).digest()
    return int.from_bytes(digest, "big") >> 1


def numeric(instance: dict[str, Any]) -> float | None:
    """Return the number an instance's value is, for aggregation, or None."""
    if instance.get("type") != "Property":
        return None
    value = instance.get("value")
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)  # type: ignore[arg-type]
    return None


def stored(instance: dict[str, Any]) -> dict[str, Any]:
    """Return an instance as ``hub_temporal.instance`` keeps it: without createdAt and
    modifiedAt, which are columns (answers take them from there); half the bytes."""
    body = dict(instance)
    body.pop("createdAt", None)
    body.pop("modifiedAt", None)
    return body


# One history row: (entity id, attribute, datasetId, kind, ts, observedAt, createdAt,
# modifiedAt, number or None, the instance); times in µs since the epoch.
Row = tuple[str, str, str, str, int, int | None, int, int, float | None, dict[str, Any]]


def instance_row(entity_id: str, attr: str, inst: dict[str, Any], stamp: str) -> Row:
    """Return the history row of one instance (``stamp``: its modifiedAt if it has none)."""
    modified_us = text_micros(inst.get("modifiedAt") or stamp)
    observed = inst.get("observedAt")
    observed_us = text_micros(observed) if isinstance(observed, str) else None
    return (
        entity_id,
        attr,
        inst.get("datasetId") or "",
        inst.get("type", "Property"),
        modified_us if observed_us is None else observed_us,
        observed_us,
        modified_us,
        modified_us,
        numeric(inst),
        inst,
    )


SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"


def changed_instances(change: Change) -> list[Row]:
    """Return the rows of the instances ``change`` created or modified (none for a delete).

    A change of the entity's ``scope`` is an instance of the series ``SCOPE_IRI`` (its
    value the scopes, ``[]`` once removed, its observedAt the modifiedAt: GS CIM 009
    4.5.6), so ``scopeQ`` on temporal queries can tell which scope was valid when (4.18,
    5.7.4.4 S4).
    """
    after = change.after
    if after is None:
        return []
    stamp = after["modifiedAt"]
    created = change.before is None
    entity_id = after["id"]
    rows = [
        instance_row(entity_id, attr, inst, stamp)
        for attr, instances in after["attrs"].items()
        for inst in instances
        if created or inst.get("modifiedAt") == stamp
    ]
    scope = after.get("scope") or []
    before = [] if change.before is None else change.before.get("scope") or []
    if list(scope) != list(before):
        # 4.5.6: from the Core API, observedAt "should be set as a copy of" modifiedAt
        inst = {"type": "Property", "value": list(scope), "observedAt": stamp}
        rows.append(instance_row(entity_id, SCOPE_IRI, inst, stamp))
    return rows


def hourly(series: Iterable[int], rows: Iterable[Row]) -> dict[tuple[int, int], list[float]]:
    """Return [count, sum, sum of squares, min, max] per (series, hour [µs]) of ``rows``."""
    sums: dict[tuple[int, int], list[float]] = {}
    for sid, row in zip(series, rows, strict=True):
        x = row[8]
        if x is None:
            continue
        key = (sid, row[4] - row[4] % MICROS_PER_HOUR)
        acc = sums.get(key)
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
    return sums


# SQLite statements without their VALUES (store/_sqlite_rows.py adds them, many rows each)
_SQLITE = {
    "series": "INSERT INTO hub_temporal_series (pk, tenant, entity_id, attr, dataset_id)",
    "insert": "INSERT INTO hub_temporal (pk, series, kind, ts, observed_at, created_at, "
    "modified_at, num, instance)",
    "types": "INSERT INTO hub_temporal_entities (tenant, entity_id, types)",
    "types_tail": " ON CONFLICT (tenant, entity_id) DO UPDATE SET types = excluded.types",
}


def _pg_instant(column: str) -> str:
    """Return SQL turning µs since the epoch into timestamptz, exactly (no float step)."""
    return (
        f"(timestamptz 'epoch' + ({column} / 1000000) * interval '1 second' "
        f"+ mod({column}, 1000000) * interval '1 microsecond')"
    )


# A PostgreSQL write's history is one statement: the rows of each table travel as one JSON
# array parameter (json_to_recordset), so a write of one reading or of 8,000 costs one round
# trip and one bind-execute of a prepared statement (``_pg_prepared``: orjson's bytes go
# straight to libpq), where an executemany per table cost a statement per row. The
# sub-statements touch different tables, so their order within the statement does not
# matter; roll-up rows are unique per (series, hour), entity rows per entity. New series are
# described in it too (``ON CONFLICT DO NOTHING``, in pk order: two writers describing the
# same series lock them in one order), and so is the check that the monthly partitions of
# its instants exist (``partitions.ensure_month_partitions``'s: the shared advisory lock
# first, then pg_class): ``gate`` answers the partitions found among $1 (as JSON), and
# nothing is written unless all are (the recorder then creates the missing ones and runs
# the statement again). With no partition to check it takes no lock.
_POSTGRES_WRITE = Statement(
    b"cityos_history_write",
    (
        "WITH gate AS (SELECT ARRAY(SELECT c.relname::text FROM pg_class c "
        "WHERE c.relname = ANY($1::text[]) AND l.locked IS NOT NULL) AS found "
        "FROM (SELECT CASE WHEN cardinality($1::text[]) > 0 "
        f"THEN pg_advisory_xact_lock_shared({_LOCK_KEY})::text ELSE '' END AS locked "
        "OFFSET 0) l), "
        "ok AS (SELECT cardinality(found) = cardinality($1::text[]) AS ok FROM gate), "
        "series AS (INSERT INTO hub_temporal_series (pk, tenant, entity_id, attr, dataset_id) "
        "SELECT s.pk, s.tenant, s.entity_id, s.attr, s.dataset_id FROM json_to_recordset("
        "$2::json) AS s(pk bigint, tenant text, entity_id text, attr text, dataset_id text) "
        "WHERE (SELECT ok FROM ok) ORDER BY s.pk ON CONFLICT (pk) DO NOTHING), "
        "history AS (INSERT INTO hub_temporal (series, kind, ts, observed_at, created_at, "
        f"modified_at, num, instance) SELECT r.series, r.kind, {_pg_instant('r.ts')}, "
        f"{_pg_instant('r.observed_at')}, {_pg_instant('r.created_at')}, "
        f"{_pg_instant('r.modified_at')}, r.num, r.instance FROM json_to_recordset($3::json) "
        "AS r(series bigint, kind text, ts bigint, observed_at bigint, created_at bigint, "
        "modified_at bigint, num double precision, instance jsonb) WHERE (SELECT ok FROM ok)), "
        "types AS (INSERT INTO hub_temporal_entities (tenant, entity_id, types) "
        "SELECT t.tenant, t.entity_id, t.types FROM json_to_recordset($4::json) AS "
        "t(tenant text, entity_id text, types text[]) WHERE (SELECT ok FROM ok) "
        "ON CONFLICT (tenant, entity_id) DO UPDATE SET types = excluded.types), "
        "hourly AS (INSERT INTO hub_temporal_hourly AS h (series, hour, n, total, total_sq, "
        f"lo, hi) SELECT x.series, {_pg_instant('x.hour')}, x.n, x.total, x.total_sq, x.lo, "
        "x.hi FROM json_to_recordset($5::json) AS x(series bigint, hour bigint, n bigint, "
        "total double precision, total_sq double precision, lo double precision, "
        "hi double precision) WHERE (SELECT ok FROM ok) "
        "ON CONFLICT (series, hour) DO UPDATE SET "
        "n = h.n + excluded.n, total = h.total + excluded.total, "
        "total_sq = h.total_sq + excluded.total_sq, lo = least(h.lo, excluded.lo), "
        "hi = greatest(h.hi, excluded.hi)) "
        "SELECT array_to_json(found)::text FROM gate"
    ).encode(),
)


def _sqlite_series(conn: Any, tenant: str, missing: list[SeriesKey]) -> dict[SeriesKey, int]:
    """Return the ids of ``missing`` series on SQLite, describing the new ones sequentially.

    Runs inside the write's ``BEGIN IMMEDIATE`` transaction: no other writer (in any
    process) can allocate the same ids before it commits or rolls back.
    """
    found: dict[SeriesKey, int] = {}
    entities = list(dict.fromkeys(map(itemgetter(1), missing)))
    for start in range(0, len(entities), _CHUNK):
        chunk = entities[start : start + _CHUNK]
        for pk, entity_id, attr, dataset_id in conn.execute(
            "SELECT pk, entity_id, attr, dataset_id FROM hub_temporal_series "
            f"WHERE tenant = ? AND entity_id IN ({','.join('?' * len(chunk))})",
            [tenant, *chunk],
        ):
            found[(tenant, entity_id, attr, dataset_id)] = pk
    new = missing
    if found:  # keep only the series asked for: the entities may have others
        found = {k: found[k] for k in missing if k in found}
        new = [k for k in missing if k not in found]
    if new:
        top = conn.execute(
            "SELECT coalesce(max(pk), 0) FROM hub_temporal_series WHERE pk < ?",
            (_SEQUENTIAL_LIMIT,),
        ).fetchone()[0]
        if top + len(new) >= _SEQUENTIAL_LIMIT:  # needs 2**62 series; never in practice
            raise RuntimeError("hub_temporal_series has no sequential ids left")
        pks = range(top + 1, top + 1 + len(new))
        # (pk, tenant, entity, attribute, datasetId) rows, zipped in C: no tuple built in Python
        insert_rows(conn, _SQLITE["series"], list(zip(pks, *zip(*new, strict=True), strict=True)))
        found.update(zip(new, pks, strict=True))
    return found


def _types_changed(change: Change) -> Entity | None:
    after = change.after
    if after is None:
        return None
    if change.before is None or change.before["type"] != after["type"]:
        return after
    return None


class TemporalRecorder:
    """The change listener that writes history rows (one per store)."""

    def __init__(self) -> None:
        # committed series: (tenant, entity, attribute, datasetId) -> id
        self._series: dict[SeriesKey, int] = {}
        self._months: set[tuple[int, int]] = set()  # PostgreSQL partitions known to exist
        self._lock = threading.Lock()

    def __call__(self, tx: Transaction, changes: list[Change]) -> None:
        """Write the history of ``changes`` (and of ``tx.extra_instances``) into ``tx``."""
        rows: list[Row] = list(tx.extra_instances)
        typed: list[Entity] = []
        for change in changes:
            rows.extend(changed_instances(change))
            entity = _types_changed(change)
            if entity is not None:
                typed.append(entity)
        if rows or typed:
            self.write(tx, rows, typed)

    def write(self, tx: Transaction, rows: list[Row], typed: list[Entity]) -> None:
        """Write history ``rows`` and the types of ``typed`` entities in ``tx``."""
        tenant = tx.tenant
        postgres = tx.backend == "postgresql"
        series, resolved = self._series_ids(tx, rows)
        if postgres:
            self._write_postgres(tx, rows, typed, series, resolved)
        else:
            conn = tx.connection
            dumps = orjson.dumps
            first = next_pk(conn)  # roll-ups: folded in later (rollup.py)
            # bytearray, not bytes: sqlite3 binds int, float, str and bytearray as they are,
            # any other type (bytes too) through its adapter protocol, whose failed look-ups
            # raise and format an AttributeError per parameter (~3,300 instructions); same BLOB.
            insert_rows(
                conn,
                _SQLITE["insert"],
                [
                    (
                        first + i,
                        s,
                        r[3],
                        r[4],
                        r[5],
                        r[6],
                        r[7],
                        r[8],
                        bytearray(dumps(stored(r[9]))),
                    )
                    for i, (s, r) in enumerate(zip(series, rows, strict=True))
                ],
            )
            if typed:
                insert_rows(
                    conn,
                    _SQLITE["types"],
                    [(tenant, e["id"], dumps(e["type"]).decode()) for e in typed],
                    tail=_SQLITE["types_tail"],
                )
        if resolved:
            tx.after_commit.append(lambda: self._remember(resolved))

    def _series_ids(
        self, tx: Transaction, rows: list[Row]
    ) -> tuple[list[int], dict[SeriesKey, int]]:
        """Return the series id of each row, and the ids resolved here (cached after COMMIT).

        A series missing from the cache is looked up (SQLite) or named by its hash
        (PostgreSQL); a new one is described in ``hub_temporal_series`` in ``tx`` (on
        PostgreSQL by the history statement itself).
        """
        tenant = tx.tenant
        cache = self._series
        keys = [(tenant, r[0], r[1], r[2]) for r in rows]
        ids = list(map(cache.get, keys))
        unknown = ids.count(None)
        if not unknown:
            return ids, {}  # type: ignore[return-value]
        if unknown == len(ids):  # e.g. a batch of new entities: nothing to pick out
            missing = list(dict.fromkeys(keys))
        else:
            missing = list(dict.fromkeys(k for k, i in zip(keys, ids, strict=True) if i is None))
        if tx.backend == "postgresql":  # described by _write_postgres's statement
            resolved = {k: _hash_series(*k) for k in missing}
        else:
            resolved = _sqlite_series(tx.connection, tenant, missing)
        if unknown == len(ids):
            return list(map(resolved.__getitem__, keys)), resolved
        return [i if i is not None else resolved[k] for k, i in zip(keys, ids, strict=True)], (
            resolved
        )

    def _remember(self, resolved: dict[SeriesKey, int]) -> None:
        with self._lock:
            if len(self._series) + len(resolved) > _SERIES_CACHE_MAX:
                self._series.clear()
            if len(resolved) <= _SERIES_CACHE_MAX:
                self._series.update(resolved)

    def _write_postgres(
        self,
        tx: Transaction,
        rows: list[Row],
        typed: list[Entity],
        series: list[int],
        resolved: dict[SeriesKey, int],
    ) -> None:
        """Write the history in one statement (``_POSTGRES_WRITE``), describing the series
        of ``resolved`` and checking the partitions of months not known to exist."""
        tenant = tx.tenant
        months = {month_of(r[4]) for r in rows} - self._months
        names = {partition_name(*m): m for m in months}
        dumps = orjson.dumps
        params = [
            ("{" + ",".join(names) + "}").encode(),  # plain identifiers: no quoting needed
            dumps(
                [
                    {"pk": s, "tenant": k[0], "entity_id": k[1], "attr": k[2], "dataset_id": k[3]}
                    for k, s in resolved.items()
                ]
            ),
            dumps(
                [
                    {
                        "series": s,
                        "kind": r[3],
                        "ts": r[4],
                        "observed_at": r[5],
                        "created_at": r[6],
                        "modified_at": r[7],
                        "num": r[8],
                        "instance": stored(r[9]),
                    }
                    for s, r in zip(series, rows, strict=True)
                ]
            ),
            dumps(
                list(
                    {  # one row per entity: the last types given win
                        e["id"]: {"tenant": tenant, "entity_id": e["id"], "types": e["type"]}
                        for e in typed
                    }.values()
                )
            ),
            dumps(
                [
                    {"series": s, "hour": h, "n": a[0], "total": a[1], "total_sq": a[2]}
                    | {"lo": a[3], "hi": a[4]}
                    for (s, h), a in sorted(hourly(series, rows).items())
                ]
            ),
        ]
        conn = tx.connection
        found = orjson.loads(run(conn, _POSTGRES_WRITE, params).get_value(0, 0) or b"[]")
        existed = {names[name] for name in found}
        if existed != months:  # nothing was written: make the partitions, then write
            ensure_month_partitions(conn, months - existed)
            run(conn, _POSTGRES_WRITE, [b"{}", *params[1:]])
        if existed:
            # Only this month and later ones are remembered: retention may drop an older
            # partition (in any process), and a late reading for it must re-create it.
            this_month = month_of(to_micros(datetime.now(UTC)))
            with self._lock:
                self._months |= {m for m in existed if m >= this_month}
