"""Keep every attribute instance a write creates or changes, in the write's transaction.

The recorder is a store change listener (``HubStore.add_listener``): it runs just before
COMMIT, so an instance is in the history exactly when the change that made it is in the
entity table — never one without the other. An instance belongs to the change when its
``modifiedAt`` is the entity's new ``modifiedAt`` (the service stamps both with one clock
reading), or when the entity is new. A writer that folds several readings of one attribute
into one entity write (device ingestion) lists the superseded readings in
``Transaction.extra_instances`` so they are kept too.

Each (tenant, entity, attribute, datasetId) is a *series* named by a 63-bit hash
(``series_id``), so no write ever looks a series up; its description row is inserted once
(``INSERT … ON CONFLICT DO NOTHING``) and remembered after COMMIT. Numeric Property values
also update ``hub_temporal_hourly`` (count, sum, sum of squares, min, max per series and
hour) in the same transaction, so hourly aggregations stay exact when raw instances expire.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from cityos.hub.store.base import Change, Entity, Transaction
from cityos.hub.temporal._times import MICROS_PER_HOUR, from_micros, text_micros, to_micros

INSTANCE_PREFIX = "urn:ngsi-ld:Instance:"
_KNOWN_SERIES_MAX = 150_000  # per cache, ~25 MB; forgotten wholesale when full


def instance_id(pk: int) -> str:
    """Return the NGSI-LD instanceId of the history row ``pk``."""
    return f"{INSTANCE_PREFIX}{pk}"


def instance_pk(text: str) -> int | None:
    """Return the history row of an instanceId this hub made, or None for any other."""
    if not text.startswith(INSTANCE_PREFIX):
        return None
    tail = text.removeprefix(INSTANCE_PREFIX)
    return int(tail) if tail.isdigit() and len(tail) < 19 else None


_series_cache: dict[tuple[str, str, str, str], int] = {}


def series_id(tenant: str, entity_id: str, attr: str, dataset_id: str = "") -> int:
    """Return the 63-bit id of one attribute's history (BLAKE2b of its four names).

    Collisions are negligible at city scale: about 3 in a million for 10 million series.
    """
    key = (tenant, entity_id, attr, dataset_id)
    found = _series_cache.get(key)
    if found is None:
        if len(_series_cache) > _KNOWN_SERIES_MAX:
            _series_cache.clear()
        found = _series_cache[key] = _hash_series(*key)
    return found


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
    if kind is float or kind is int:
        return float(value)  # type: ignore[arg-type]
    return None


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


def changed_instances(change: Change) -> list[Row]:
    """Return the rows of the instances ``change`` created or modified (none for a delete)."""
    after = change.after
    if after is None:
        return []
    stamp = after["modifiedAt"]
    created = change.before is None
    entity_id = after["id"]
    return [
        instance_row(entity_id, attr, inst, stamp)
        for attr, instances in after["attrs"].items()
        for inst in instances
        if created or inst.get("modifiedAt") == stamp
    ]


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


_SQLITE = {
    "series": "INSERT INTO hub_temporal_series (pk, tenant, entity_id, attr, dataset_id) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (pk) DO NOTHING",
    "insert": "INSERT INTO hub_temporal (series, kind, ts, observed_at, created_at, "
    "modified_at, num, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "hourly": "INSERT INTO hub_temporal_hourly (series, hour, n, total, total_sq, lo, hi) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series, hour) DO UPDATE SET "
    "n = n + excluded.n, total = total + excluded.total, "
    "total_sq = total_sq + excluded.total_sq, lo = min(lo, excluded.lo), "
    "hi = max(hi, excluded.hi)",
    "types": "INSERT INTO hub_temporal_entities (tenant, entity_id, types) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant, entity_id) DO UPDATE SET types = excluded.types",
}
_POSTGRES = {
    "series": "INSERT INTO hub_temporal_series (pk, tenant, entity_id, attr, dataset_id) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (pk) DO NOTHING",
    "insert": "INSERT INTO hub_temporal (series, kind, ts, observed_at, created_at, "
    "modified_at, num, instance) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
    "hourly": "INSERT INTO hub_temporal_hourly AS h (series, hour, n, total, total_sq, lo, hi) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (series, hour) DO UPDATE SET "
    "n = h.n + excluded.n, total = h.total + excluded.total, "
    "total_sq = h.total_sq + excluded.total_sq, lo = least(h.lo, excluded.lo), "
    "hi = greatest(h.hi, excluded.hi)",
    "types": "INSERT INTO hub_temporal_entities (tenant, entity_id, types) VALUES (%s, %s, %s) "
    "ON CONFLICT (tenant, entity_id) DO UPDATE SET types = excluded.types",
}


def _types_changed(change: Change) -> Entity | None:
    after = change.after
    if after is None:
        return None
    if change.before is None or change.before["type"] != after["type"]:
        return after
    return None


def _pg_time(micros: int | None) -> Any:
    return None if micros is None else from_micros(micros)


class TemporalRecorder:
    """The change listener that writes history rows (one per store)."""

    def __init__(self) -> None:
        self._known: set[int] = set()  # series whose description row is committed
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
        sql = _POSTGRES if postgres else _SQLITE
        series = [series_id(tenant, r[0], r[1], r[2]) for r in rows]
        new_series = {
            s: (s, tenant, r[0], r[1], r[2])
            for s, r in zip(series, rows, strict=True)
            if s not in self._known
        }
        if postgres:
            self._ensure_partitions(tx, rows)
            history = [
                (s, r[3], _pg_time(r[4]), _pg_time(r[5]), _pg_time(r[6]), _pg_time(r[7]))
                + (r[8], Jsonb(r[9]))
                for s, r in zip(series, rows, strict=True)
            ]
            hours = [
                (s, from_micros(h), *acc) for (s, h), acc in sorted(hourly(series, rows).items())
            ]
            types = [(tenant, e["id"], e["type"]) for e in typed]
            with tx.connection.cursor() as cur:
                for key, params in (
                    ("series", sorted(new_series.values())),
                    ("insert", history),
                    ("hourly", hours),
                    ("types", types),
                ):
                    if params:
                        cur.executemany(sql[key], params)
        else:
            conn = tx.connection
            if new_series:
                conn.executemany(sql["series"], list(new_series.values()))
            conn.executemany(
                sql["insert"],
                [
                    (s, r[3], r[4], r[5], r[6], r[7], r[8], orjson.dumps(r[9]))
                    for s, r in zip(series, rows, strict=True)
                ],
            )
            sums = hourly(series, rows)
            if sums:
                conn.executemany(sql["hourly"], [(*key, *acc) for key, acc in sums.items()])
            if typed:
                conn.executemany(
                    sql["types"],
                    [(tenant, e["id"], orjson.dumps(e["type"]).decode()) for e in typed],
                )
        if new_series:
            tx.after_commit.append(lambda: self._remember(new_series.keys()))

    def _remember(self, series: Iterable[int]) -> None:
        with self._lock:
            if len(self._known) > _KNOWN_SERIES_MAX:
                self._known.clear()
            self._known.update(series)

    def _ensure_partitions(self, tx: Transaction, rows: list[Row]) -> None:
        from cityos.hub.temporal.partitions import ensure_month_partitions, month_of

        months = {month_of(r[4]) for r in rows} - self._months
        if months:
            existed = ensure_month_partitions(tx.connection, months)
            # Only this month and later ones are remembered: retention may drop an older
            # partition (in any process), and a late reading for it must re-create it.
            this_month = month_of(to_micros(datetime.now(UTC)))
            with self._lock:
                self._months |= {m for m in existed if m >= this_month}
