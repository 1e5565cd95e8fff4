"""Keep every attribute instance a write creates or changes, in the write's transaction.

The recorder is a store change listener (``HubStore.add_listener``): it runs just before
COMMIT, so an instance is in the history exactly when the change that made it is in the
entity table — never one without the other. An instance belongs to the change when its
``modifiedAt`` is the entity's new ``modifiedAt`` (the service stamps both with one clock
reading), or when the entity is new.

Numeric Property values also update ``hub_temporal_hourly`` (count, sum, sum of squares,
min, max per attribute and hour) in the same transaction, so hourly aggregations stay exact
when raw instances have expired.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from cityos.hub.store.base import Change, Entity, Transaction
from cityos.hub.temporal._times import MICROS_PER_HOUR, from_micros, text_micros

INSTANCE_PREFIX = "urn:ngsi-ld:Instance:"


def instance_id(pk: int) -> str:
    """Return the NGSI-LD instanceId of the history row ``pk``."""
    return f"{INSTANCE_PREFIX}{pk}"


def instance_pk(text: str) -> int | None:
    """Return the history row of an instanceId this hub made, or None for any other."""
    if not text.startswith(INSTANCE_PREFIX):
        return None
    tail = text.removeprefix(INSTANCE_PREFIX)
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


@dataclass(slots=True)
class InstanceRow:
    """One attribute instance as the history keeps it (times in µs since the epoch)."""

    entity_id: str
    attr: str
    dataset_id: str  # "" for the default instance
    kind: str
    ts: int  # observedAt, else modifiedAt
    observed_at: int | None
    created_at: int
    modified_at: int
    num: float | None
    instance: dict[str, Any]


def numeric(instance: dict[str, Any]) -> float | None:
    """Return the number an instance's value is, for aggregation, or None."""
    if instance.get("type") != "Property":
        return None
    value = instance.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def changed_instances(change: Change) -> list[InstanceRow]:
    """Return the instances ``change`` created or modified (none for a deletion)."""
    after = change.after
    if after is None:
        return []
    stamp = after["modifiedAt"]
    created = change.before is None
    rows = []
    for attr, instances in after["attrs"].items():
        for inst in instances:
            modified = inst.get("modifiedAt")
            if not created and modified != stamp:
                continue
            modified_us = text_micros(modified or stamp)
            observed = inst.get("observedAt")
            observed_us = text_micros(observed) if isinstance(observed, str) else None
            rows.append(
                InstanceRow(
                    after["id"],
                    attr,
                    inst.get("datasetId") or "",
                    inst.get("type", "Property"),
                    observed_us if observed_us is not None else modified_us,
                    observed_us,
                    modified_us,
                    modified_us,
                    numeric(inst),
                    inst,
                )
            )
    return rows


def _types_changed(change: Change) -> Entity | None:
    after = change.after
    if after is None:
        return None
    if change.before is None or change.before["type"] != after["type"]:
        return after
    return None


Rollup = tuple[str, str, str, int]  # entity, attribute, datasetId, hour [µs]


def hourly(rows: list[InstanceRow]) -> dict[Rollup, list[float]]:
    """Return count, sum, sum of squares, min and max per attribute and hour of ``rows``."""
    sums: dict[Rollup, list[float]] = {}
    for row in rows:
        if row.num is None:
            continue
        key = (row.entity_id, row.attr, row.dataset_id, row.ts - row.ts % MICROS_PER_HOUR)
        x = row.num
        acc = sums.get(key)
        if acc is None:
            sums[key] = [1, x, x * x, x, x]
        else:
            acc[0] += 1
            acc[1] += x
            acc[2] += x * x
            acc[3] = min(acc[3], x)
            acc[4] = max(acc[4], x)
    return sums


_SQLITE_INSERT = (
    "INSERT INTO hub_temporal (tenant, entity_id, attr, dataset_id, kind, ts, observed_at, "
    "created_at, modified_at, num, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_HOURLY = (
    "INSERT INTO hub_temporal_hourly (tenant, entity_id, attr, dataset_id, hour, n, total, "
    "total_sq, lo, hi) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant, entity_id, attr, dataset_id, hour) DO UPDATE SET "
    "n = n + excluded.n, total = total + excluded.total, "
    "total_sq = total_sq + excluded.total_sq, lo = min(lo, excluded.lo), "
    "hi = max(hi, excluded.hi)"
)
_SQLITE_TYPES = (
    "INSERT INTO hub_temporal_entities (tenant, entity_id, types) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant, entity_id) DO UPDATE SET types = excluded.types"
)
_PG_INSERT = (
    "INSERT INTO hub_temporal (tenant, entity_id, attr, dataset_id, kind, ts, observed_at, "
    "created_at, modified_at, num, instance) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_PG_HOURLY = (
    "INSERT INTO hub_temporal_hourly AS h (tenant, entity_id, attr, dataset_id, hour, n, "
    "total, total_sq, lo, hi) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (tenant, entity_id, attr, dataset_id, hour) DO UPDATE SET "
    "n = h.n + excluded.n, total = h.total + excluded.total, "
    "total_sq = h.total_sq + excluded.total_sq, lo = least(h.lo, excluded.lo), "
    "hi = greatest(h.hi, excluded.hi)"
)
_PG_TYPES = (
    "INSERT INTO hub_temporal_entities (tenant, entity_id, types) VALUES (%s, %s, %s) "
    "ON CONFLICT (tenant, entity_id) DO UPDATE SET types = excluded.types"
)


def _pg_time(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


class TemporalRecorder:
    """The change listener that writes history rows (one per store)."""

    def __init__(self) -> None:
        self._months: set[tuple[int, int]] = set()  # PostgreSQL partitions known to exist
        self._months_lock = threading.Lock()

    def __call__(self, tx: Transaction, changes: list[Change]) -> None:
        """Write the history of ``changes`` into ``tx``."""
        rows: list[InstanceRow] = []
        typed: list[Entity] = []
        for change in changes:
            rows.extend(changed_instances(change))
            entity = _types_changed(change)
            if entity is not None:
                typed.append(entity)
        if not rows and not typed:
            return
        if tx.backend == "sqlite":
            self._write_sqlite(tx, rows, typed)
        else:
            self._write_postgres(tx, rows, typed)

    @staticmethod
    def _write_sqlite(tx: Transaction, rows: list[InstanceRow], typed: list[Entity]) -> None:
        conn = tx.connection
        tenant = tx.tenant
        conn.executemany(
            _SQLITE_INSERT,
            [
                (
                    tenant,
                    r.entity_id,
                    r.attr,
                    r.dataset_id,
                    r.kind,
                    r.ts,
                    r.observed_at,
                    r.created_at,
                    r.modified_at,
                    r.num,
                    orjson.dumps(r.instance).decode(),
                )
                for r in rows
            ],
        )
        sums = hourly(rows)
        if sums:
            conn.executemany(_SQLITE_HOURLY, [(tenant, *key, *acc) for key, acc in sums.items()])
        if typed:
            conn.executemany(
                _SQLITE_TYPES,
                [(tenant, e["id"], orjson.dumps(e["type"]).decode()) for e in typed],
            )

    def _write_postgres(
        self, tx: Transaction, rows: list[InstanceRow], typed: list[Entity]
    ) -> None:
        from cityos.hub.temporal.partitions import ensure_month_partitions

        months = {_month(r.ts) for r in rows} - self._months
        if months:
            existed = ensure_month_partitions(tx.connection, months)
            with self._months_lock:
                self._months |= existed
        tenant = tx.tenant
        with tx.connection.cursor() as cur:
            cur.executemany(
                _PG_INSERT,
                [
                    (
                        tenant,
                        r.entity_id,
                        r.attr,
                        r.dataset_id,
                        r.kind,
                        _pg_time(r.ts),
                        _pg_time(r.observed_at),
                        _pg_time(r.created_at),
                        _pg_time(r.modified_at),
                        r.num,
                        Jsonb(r.instance),
                    )
                    for r in rows
                ],
            )
            sums = hourly(rows)
            if sums:
                cur.executemany(
                    _PG_HOURLY,
                    [
                        (tenant, e, a, d, from_micros(h), *acc)
                        for (e, a, d, h), acc in sorted(sums.items())
                    ],
                )
            if typed:
                cur.executemany(_PG_TYPES, [(tenant, e["id"], e["type"]) for e in typed])


def _month(micros: int) -> tuple[int, int]:
    moment = from_micros(micros)
    return moment.year, moment.month


def utc_month_start(year: int, month: int) -> datetime:
    """Return the first instant of a month in UTC."""
    return datetime(year, month, 1, tzinfo=UTC)
