"""Keep every attribute instance a write creates or changes, in the write's transaction.

The recorder is a store change listener (``HubStore.add_listener``): it runs just before
COMMIT, so an instance is in the history exactly when the change that made it is in the
entity table — never one without the other. An instance belongs to the change when its
``modifiedAt`` is the entity's new ``modifiedAt`` (the service stamps both with one clock
reading), or when the entity is new. A writer that folds several readings of one attribute
into one entity write (device ingestion) lists the superseded readings in
``Transaction.extra_instances`` so they are kept too.

History is one row of ``hub_temporal_changes`` per entity change (migration 0013): the
instances of one entity with one ``modifiedAt`` travel together as one JSON array (one
``orjson.dumps`` per change), keyed by the entity's integer key in
``hub_temporal_entities``, which also lists the entity's types and its (attribute,
datasetId) pairs. A writer touches ``hub_temporal_entities`` only for an entity it has not
seen with these pairs and types (a new entity, a new attribute, new types). On SQLite (one
writer at a time: ``BEGIN IMMEDIATE``, also across processes) a new entity gets the next key
(``max(pk) + 1``, read in the write's transaction), so keys, the (entity, ts_hi) index and
the roll-ups grow at their ends. On PostgreSQL (several processes write at once) an entity
is named by a 63-bit hash of its tenant and id (:func:`entity_key`, also computable in SQL)
and described with ``INSERT … ON CONFLICT``, so concurrent writers need no coordination.
What a write resolved is remembered in a bounded cache only after its COMMIT. Numeric
Property values are summed per (entity, attribute, datasetId) and hour in
``hub_temporal_hourly``, folded in after the write (:mod:`cityos.hub.temporal.rollup`): on
PostgreSQL the write appends its sums to ``hub_temporal_hourly_pending`` in the same
statement, on SQLite it only appends change rows, with keys above the roll-up mark.
"""

from __future__ import annotations

import hashlib
import threading
from bisect import bisect_right
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, TypeGuard

import orjson

from cityos.hub._native import load
from cityos.hub.store._pg_prepared import Statement, defer
from cityos.hub.store._sqlite_rows import insert_rows
from cityos.hub.store.base import Change, Entity, Transaction
from cityos.hub.temporal._times import MICROS_PER_HOUR, text_micros, to_micros
from cityos.hub.temporal.partitions import month_bounds, month_of
from cityos.hub.temporal.rollup import Sums, add_elements, next_pk

INSTANCE_PREFIX = "urn:ngsi-ld:Instance:"
# Entities remembered per recorder with their key and recorded (attribute, datasetId)
# pairs (``_EntityCache``); forgotten wholesale when full. A miss costs one indexed lookup
# (SQLite) or one entity row in the write (PostgreSQL). Entities of one shape share one pair
# set (``_SHAPES_MAX`` distinct sets; one more forgets every entity too). Each entity's own
# frozenset of 8 pairs took ~1,200 bytes: 143 MB at 100,000 entities.
_ENTITY_CACHE_MAX = 100_000
_SHAPES_MAX = 4_096
_SHAPE_BITS = 16  # an entry is its key << _SHAPE_BITS | its pair set's number
assert _SHAPES_MAX < 1 << _SHAPE_BITS
_SHAPE_MASK = (1 << _SHAPE_BITS) - 1
_CHUNK = 500  # entity ids per lookup, under SQLite's bound-parameter limit
# An instance's position in its change row takes the low bits of its ordering key.
POSITION_BITS = 20
_POSITION_MASK = (1 << POSITION_BITS) - 1
_KEY_MASK = (1 << 63) - 1

# A change row's instances lie at most this far apart [µs]: wider changes are split
# (``split_wide``), so readers can bound a change row's ts_lo by its ts_hi (migration 0013,
# ``hub_temporal_span``).
MAX_SPAN = MICROS_PER_HOUR

Pair = tuple[str, str]  # (attribute IRI, datasetId)
Known = tuple[int, frozenset[Pair]]  # an entity's key and the pairs known to be recorded


def instance_id(pk: int) -> str:
    """Return the NGSI-LD instanceId of an instance's ordering key (change pk, position)."""
    return f"{INSTANCE_PREFIX}{pk >> POSITION_BITS}.{pk & _POSITION_MASK}"


def instance_pk(text: str) -> int | None:
    """Return the ordering key of an instanceId this hub made, or None for any other
    (including the ``urn:ngsi-ld:Instance:<n>`` ids of the layout before migration 0013)."""
    if not text.startswith(INSTANCE_PREFIX):
        return None
    change, dot, position = text.removeprefix(INSTANCE_PREFIX).partition(".")
    if not (dot and change.isdigit() and position.isdigit()):
        return None
    if len(change) > 18 or int(position) > _POSITION_MASK:
        return None
    return (int(change) << POSITION_BITS) | int(position)


def entity_key(tenant: str, entity_id: str) -> int:
    """Return the 63-bit key PostgreSQL gives an entity's history: the first 64 bits of
    MD5(tenant U+001F entity id), sign bit cleared (migration 0013 computes it in SQL).

    Collisions are negligible at city scale: about 5 in a billion for 10 million entities.
    """
    digest = hashlib.md5(f"{tenant}\x1f{entity_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") & _KEY_MASK


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


# One change row as the writer builds it: (entity id, ts_lo, ts_hi [µs], its instances as
# ``instances`` elements — lists or tuples, the same JSON arrays — or, on SQLite, already
# as that JSON (a ``bytearray``, see ``TemporalRecorder.__call__``), the (attribute,
# datasetId) pairs among them).
ChangeRow = tuple[str, int, int, Any, AbstractSet[Pair]]


def hourly(keys: dict[str, int], changes: list[ChangeRow]) -> Sums:
    """Return [count, sum, sum of squares, min, max] per (entity key, attribute, datasetId,
    hour [µs]) of the numeric instances of ``changes``."""
    sums: Sums = {}
    for entity_id, _, _, items, _ in changes:
        add_elements(sums, keys[entity_id], items)
    return sums


def item(row: Row) -> list[Any]:
    """Return one instance as an element of a change row's ``instances`` array."""
    return [row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], stored(row[9])]


def group_changes(rows: list[Row]) -> list[ChangeRow]:
    """Return ``rows`` grouped into change rows: per (entity id, modifiedAt [µs]), in order."""
    groups: dict[tuple[str, int], list[Row]] = {}
    for row in rows:
        key = (row[0], row[7])
        found = groups.get(key)
        if found is None:
            groups[key] = [row]
        else:
            found.append(row)
    return [_row_of(entity_id, list(map(item, group))) for (entity_id, _), group in groups.items()]


_TIME = itemgetter(3)  # an instances element's time
_PAIR = itemgetter(0, 1)  # an instances element's (attribute, datasetId)


def split_wide(changes: list[ChangeRow]) -> list[ChangeRow]:
    """Return ``changes`` with every row whose instances lie more than ``MAX_SPAN`` apart
    split into rows that do not (instances in time order: history written directly, late
    readings, a new entity with old readings)."""
    out: list[ChangeRow] = []
    for change in changes:
        entity_id, lo, hi, items, _ = change
        if hi - lo <= MAX_SPAN:
            out.append(change)
            continue
        # Not that rare: a new entity whose readings are more than an hour older than the
        # write (hub_cost's upsert: all of them) is split. Sorted and cut in C (itemgetter,
        # bisect_right): ~33,000 instructions for 8 instances instead of ~45,000.
        ordered = sorted(items, key=_TIME)
        times = list(map(_TIME, ordered))
        start = 0
        while start < len(ordered):
            end = bisect_right(times, times[start] + MAX_SPAN, start)
            chunk = ordered[start:end]
            out.append((entity_id, times[start], times[end - 1], chunk, set(map(_PAIR, chunk))))
            start = end
    return out


def _row_of(entity_id: str, items: list[list[Any]]) -> ChangeRow:
    times = [e[3] for e in items]
    return entity_id, min(times), max(times), items, {(e[0], e[1]) for e in items}


# observedAt text -> µs: a batch's readings share a few observedAt values, and a lookup
# here costs less than the call of ``text_micros`` (forgotten wholesale when full).
_OBSERVED: dict[str, int] = {}
_OBSERVED_MAX = 4096
_NO_TIME = 1 << 62  # above every element time [µs] (year ~148,000)
_NATIVE = load("_native_history")  # None: not built, or CITYOS_NATIVE=0


def change_row(change: Change) -> ChangeRow | None:
    """Return the change row of ``change``: the instances it created or modified (none for
    a delete), built straight from the entity (the hot path of every write; the same
    elements as ``item(instance_row(…))``). None when an instance carries a modifiedAt
    other than the entity's (not one change: :func:`changed_instances` rows then)."""
    after = change.after
    if after is None:
        return None
    stamp = after["modifiedAt"]
    stamp_us = text_micros(stamp)
    attrs = after["attrs"]
    found = elements(attrs, stamp, stamp_us, change.before is None)
    if found is None:
        return None
    items, plain, lo, hi = found
    # A new entity without datasetIds has the pairs (attribute, "") of its attributes: one
    # set per shape (``_plain_pairs``), shared down to the recorder's cache, instead of a
    # tuple per instance and a set per entity.
    pairs: AbstractSet[Pair] = _plain_pairs(tuple(attrs)) if plain else set(map(_PAIR, items))
    scope = after.get("scope")
    before = None if change.before is None else change.before.get("scope")
    if (scope or before) and list(scope or []) != list(before or []):
        # 4.5.6: from the Core API, observedAt "should be set as a copy of" modifiedAt
        value = {"type": "Property", "value": list(scope or []), "observedAt": stamp}
        # the only element, or one more (not ``lo < 0``: readings before 1970 are negative)
        lo, hi = (min(lo, stamp_us), max(hi, stamp_us)) if items else (stamp_us, stamp_us)
        items.append(
            [SCOPE_IRI, "", "Property", stamp_us, stamp_us, stamp_us, stamp_us, None, value]
        )
        pairs = pairs | {(SCOPE_IRI, "")}
    if not items:
        return None
    return after["id"], lo, hi, items, pairs


def spliced_row(change: Change, text: bytes) -> ChangeRow | None:
    """Return the change row of ``change`` with its instances already as JSON, spliced by
    the C extension from ``text``, the entity row's JSON of ``change.after["attrs"]``
    (``_native_history.change_json``: the bytes ``orjson.dumps`` of :func:`change_row`'s
    elements gives, in about a sixth of the instructions), or None: the caller takes
    :func:`change_row` (no extension, a scope, an element span over ``MAX_SPAN``, or a
    shape the extension leaves to Python)."""
    after = change.after
    if _NATIVE is None or after is None or "scope" in after:
        return None
    before = change.before
    if before is not None and "scope" in before:
        return None
    stamp = after["modifiedAt"]
    attrs = after["attrs"]
    found = _NATIVE.change_json(
        attrs, text, stamp, text_micros(stamp), before is None, observed_cache(), text_micros
    )
    if found is None or found is NotImplemented:
        return None
    blob, plain, lo, hi, listed = found
    if hi - lo > MAX_SPAN:
        return None
    pairs: AbstractSet[Pair] = _plain_pairs(tuple(attrs)) if plain else set(listed)
    return after["id"], lo, hi, blob, pairs


@lru_cache(maxsize=1024)
def _plain_pairs(names: tuple[str, ...]) -> frozenset[Pair]:
    """Return the pairs of attributes ``names`` without datasetIds (cached: a shape)."""
    return frozenset((name, "") for name in names)


Elements = tuple[list[Any], bool, int, int]


def observed_cache() -> dict[str, int]:
    """Return the observedAt cache ``_OBSERVED`` (observedAt text -> µs) that change rows
    are timed with, emptied first when it is full (bounded here for every caller that
    fills it: elements(), spliced_row() and the object-free lane, batch.run_batch_lane)."""
    if len(_OBSERVED) > _OBSERVED_MAX:
        _OBSERVED.clear()
    return _OBSERVED


def elements(
    attrs: dict[str, list[dict[str, Any]]], stamp: str, stamp_us: int, created: bool
) -> Elements | None:
    """Return what :func:`_elements` returns, from the C extension ``_native_history`` when
    it is built and on (the same objects in about half the time: 3.8 against 7.2 µs a new
    8-attribute entity; docs/hub/README.md, "Native code"), else from :func:`_elements`,
    which also takes every shape the extension leaves to it (it answers ``NotImplemented``).
    Both fill the observedAt cache ``_OBSERVED``, bounded here."""
    seen = observed_cache()
    if _NATIVE is not None:
        found = _NATIVE.elements(attrs, stamp, stamp_us, created, seen, text_micros)
        if found is not NotImplemented:
            return found
    return _elements(attrs, stamp, stamp_us, created)


def _elements(
    attrs: dict[str, list[dict[str, Any]]], stamp: str, stamp_us: int, created: bool
) -> Elements | None:
    """Return the ``instances`` elements (tuples) of the instances in ``attrs`` with the
    entity's modifiedAt (all of a new entity's: None if one has another modifiedAt), whether
    their pairs are those of every attribute without datasetId (``plain``: a new entity,
    each attribute with instances, none with a datasetId), and their earliest and latest
    time (-1 and -1 when there are none).

    Per instance: the body is a copy with two deletions (``del``; timeit: 75 ns against
    225 ns for ``copy`` and two ``pop(k, None)``, which call a method each), the element a
    tuple (built in one step; orjson writes it as the same array). Members an instance
    nearly always has are read by subscript (in ``try``: free unless missing), those it
    seldom has tested with ``in`` first: ~120 instructions each where ``dict.get`` (a
    method call) costs ~300. The earliest and latest times are tracked here, and only among
    observedAt times (the others are the stamp): ``min``/``max`` over an ``itemgetter`` map
    called it per element, twice. change_row of 1,000 new 8-attribute entities: 67,248 →
    61,310 (hist-cut) → see docs/benchmarks.md, "Batch upsert CPU, session 10".
    """
    seen = _OBSERVED  # bounded by elements() (observed_cache), the one caller outside the tests
    items: list[Any] = []
    append = items.append
    plain = created
    stamped = False  # an element's time is the stamp
    lo = _NO_TIME
    hi = -_NO_TIME
    for attr, instances in attrs.items():
        if not instances:
            plain = False
        for inst in instances:
            try:
                modified = inst["modifiedAt"]
            except KeyError:
                modified = None
            if modified != stamp:
                if not created:
                    continue
                if modified:
                    return None
            if "observedAt" in inst and (observed := inst["observedAt"]).__class__ is str:
                try:
                    ts = seen[observed]
                except KeyError:
                    ts = seen[observed] = text_micros(observed)
                observed_us: int | None = ts
                if ts < lo:
                    lo = ts
                if ts > hi:
                    hi = ts
            else:
                ts = stamp_us
                observed_us = None
                stamped = True
            try:
                kind = inst["type"]
            except KeyError:
                kind = "Property"
            num = None
            if kind == "Property" and "value" in inst:
                value = inst["value"]
                if value.__class__ is float:
                    num = value
                elif value.__class__ is int:
                    num = float(value)
            body = inst.copy()
            try:
                del body["createdAt"], body["modifiedAt"]
            except KeyError:
                body = stored(inst)
            dataset = ""
            if "datasetId" in inst and (dataset := inst["datasetId"] or ""):
                plain = False
            append(
                (
                    attr,
                    dataset,
                    kind,
                    ts,
                    observed_us,
                    stamp_us,
                    stamp_us,
                    num,
                    body,
                )
            )
    if not items:
        return items, plain, -1, -1
    if stamped:
        lo = min(lo, stamp_us)
        hi = max(hi, stamp_us)
    return items, plain, lo, hi


# SQLite statements without their VALUES (store/_sqlite_rows.py adds them, many rows each)
_SQLITE = {
    "changes": "INSERT INTO hub_temporal_changes (pk, entity, ts_lo, ts_hi, instances)",
    "entities": "INSERT INTO hub_temporal_entities (pk, tenant, entity_id, types, attrs)",
    "entities_new": " ON CONFLICT (tenant, entity_id) DO NOTHING",
}


# A PostgreSQL write's history is one statement: the rows of each table travel as one JSON
# array parameter (json_to_recordset), so a write of one reading or of 8,000 costs one
# bind-execute of a prepared statement (``_pg_prepared``: orjson's bytes go straight to
# libpq). The sub-statements touch different tables, so their order within the statement
# does not matter; entity rows are unique per entity. Entities are described in it too
# (``ON CONFLICT``: the union of the pairs, the types when given — an empty array means
# "keep"). The hourly sums are appended to ``hub_temporal_hourly_pending`` (migration 0017)
# for :mod:`cityos.hub.temporal.rollup` to fold in later: upserted into
# ``hub_temporal_hourly`` here, they cost a PATCH a probe of that table's primary key and a
# new row version on a page anywhere in it (~1.1 page reads from outside shared_buffers a
# PATCH at 100,000 entities) and a fifth of its throughput (docs/benchmarks.md, session 15).
#
# A write has only the parts it needs (:func:`_history_statement`): a PATCH of a known
# entity is the change row and its pending sums, not the entity upsert too. Each part, even with
# no rows, cost the server its executor set-up (the entity upsert opens
# hub_temporal_entities and its three indexes): the statement with every part took ~112 µs
# of server CPU where the change row and roll-up alone take ~51 (docs/benchmarks.md,
# session 8). Nobody reads its result, so it is deferred and travels with COMMIT in one
# round trip; so does the check that the monthly partitions of its changes exist, for
# months this process does not know to exist (``_MONTHS``, migration 0015: the shared
# advisory lock retention's DROP waits for, then pg_class, and it creates those missing),
# sent just before it.
_MONTHS = Statement(
    b"cityos_history_months",
    b"SELECT hub_temporal_months($1::text[], $2::bigint[], $3::bigint[])",
)
_ENTITIES = (
    "entities AS (INSERT INTO hub_temporal_entities AS h (pk, tenant, entity_id, types, "
    "attrs) SELECT s.pk, s.tenant, s.entity_id, s.types, s.attrs FROM json_to_recordset("
    "{p}::json) AS s(pk bigint, tenant text, entity_id text, types text[], attrs jsonb) "
    "ORDER BY s.pk ON CONFLICT (tenant, entity_id) DO UPDATE "
    "SET types = CASE WHEN cardinality(excluded.types) = 0 THEN h.types "
    "ELSE excluded.types END, attrs = CASE WHEN h.attrs @> excluded.attrs THEN h.attrs "
    "ELSE (SELECT jsonb_agg(DISTINCT x) FROM jsonb_array_elements(h.attrs || "
    "excluded.attrs) x) END)"
)
_HOURLY = (
    "hourly AS (INSERT INTO hub_temporal_hourly_pending (entity, attr, dataset_id, hour, n, "
    "total, total_sq, lo, hi) SELECT x.entity, x.attr, x.dataset_id, x.hour, x.n, "
    "x.total, x.total_sq, x.lo, x.hi FROM json_to_recordset({p}::json) AS x(entity bigint, "
    "attr text, dataset_id text, hour bigint, n bigint, total double precision, "
    "total_sq double precision, lo double precision, hi double precision))"
)
_CHANGES = (
    "INSERT INTO hub_temporal_changes (entity, ts_lo, ts_hi, instances) "
    "SELECT r.entity, r.ts_lo, r.ts_hi, r.instances FROM json_to_recordset({p}::json) "
    "AS r(entity bigint, ts_lo bigint, ts_hi bigint, instances jsonb)"
)


@cache
def _history_statement(entities: bool, rollups: bool) -> Statement:
    """Return the history statement with the parts asked for. Its parameters, in order:
    the entity rows (``entities``), the change rows, the roll-up rows (``rollups``)."""
    ctes = []
    if entities:
        ctes.append(_ENTITIES.format(p="$1"))
    changes = _CHANGES.format(p=f"${len(ctes) + 1}")
    if rollups:
        ctes.append(_HOURLY.format(p=f"${len(ctes) + 2}"))
    sql = ("WITH " + ", ".join(ctes) + " " if ctes else "") + changes
    name = "cityos_history_c" + ("e" if entities else "") + ("p" if rollups else "")
    return Statement(name.encode(), sql.encode())


@lru_cache(maxsize=256)
def _months_params(months: tuple[tuple[int, int], ...]) -> list[bytes]:
    """Return ``_MONTHS``' parameters for ``months`` as text arrays (plain identifiers and
    integers: no quoting needed)."""
    return [("{" + ",".join(map(str, part)) + "}").encode() for part in month_bounds(months)]


def _covers(
    known: Known | None, entity_id: str, wanted: AbstractSet[Pair], new_types: dict[str, Any]
) -> TypeGuard[Known]:
    """Return True when the cached ``known`` describes the entity as this write needs: its
    types unchanged and every pair of ``wanted`` recorded (no entity row to write)."""
    return known is not None and entity_id not in new_types and known[1] >= wanted


def _merge(made: list[ChangeRow], more: list[ChangeRow]) -> list[ChangeRow]:
    """Return ``made`` with the change rows of ``more`` joined to the row of the same entity
    and time span owner (same entity, written by the same change), else appended."""
    if not made:
        return more
    at = {c[0]: i for i, c in enumerate(made)}
    out = list(made)
    for change in more:
        i = at.get(change[0])
        if i is None:
            out.append(change)
            continue
        entity_id, lo, hi, items, pairs = out[i]
        if items.__class__ is bytearray:  # already JSON (``__call__``): a row of its own
            out.append(change)
            continue
        if items and change[3] and items[0][6] != change[3][0][6]:  # another modifiedAt
            out.append(change)
            continue
        out[i] = (
            entity_id,
            min(lo, change[1]),
            max(hi, change[2]),
            [*items, *change[3]],
            pairs | change[4],
        )
    return out


def _blob(items: Any, dumps: Any) -> bytearray:
    """Return a change row's ``instances`` as the BLOB SQLite stores: its JSON, made here
    unless ``TemporalRecorder.__call__`` made it already (a ``bytearray``)."""
    if items.__class__ is bytearray:
        return items
    return bytearray(dumps(items))


@lru_cache(maxsize=1024)
def _pairs_json(pairs: frozenset[Pair]) -> str:
    """Return the ``attrs`` JSON of a set of pairs (cached: a batch's entities share one)."""
    return orjson.dumps(sorted(pairs)).decode()


def _types_json(types: Any, cache: dict[tuple[str, ...], str]) -> str:
    """Return the ``types`` JSON of an entity (``cache``: per write, types repeat)."""
    key = tuple(types) if isinstance(types, list) else (types,)
    found = cache.get(key)
    if found is None:
        found = cache[key] = orjson.dumps(types).decode()
    return found


def _describe_new(
    conn: Any,
    tenant: str,
    ids: list[str],
    pairs: dict[str, AbstractSet[Pair]],
    new_types: dict[str, Any],
    types: dict[str, Any],
    typings: dict[tuple[str, ...], str],
    resolved: dict[str, Known],
    *,
    tail: bool = False,
) -> int:
    """Insert ``hub_temporal_entities`` rows for ``ids`` (SQLite) with the next keys, add
    them to ``resolved``, and return the largest key before them. ``tail``: skip an entity
    that already has a row (ON CONFLICT DO NOTHING; its entry in ``resolved`` is then
    wrong, and the caller checks the change count)."""
    (top,) = conn.execute("SELECT coalesce(max(pk), 0) FROM hub_temporal_entities").fetchone()
    rows: list[tuple[int, str, str, str, str]] = []
    append = rows.append
    # Entities of one shape follow each other with equal types and one pair set: their JSON
    # texts are those of the entity before (a list comparison and an identity test instead
    # of two cached look-ups a new entity).
    last_kinds: Any = None
    last_union: frozenset[Pair] | None = None
    kinds_json = union_json = ""
    for pk, entity_id in enumerate(ids, start=top + 1):
        kinds = new_types.get(entity_id)
        if kinds is None:
            kinds = types.get(entity_id, [])
        union = frozenset(pairs[entity_id])  # the same set when it is one (a shape's)
        if kinds.__class__ is not last_kinds.__class__ or kinds != last_kinds:
            last_kinds, kinds_json = kinds, _types_json(kinds, typings)
        if union is not last_union:
            last_union, union_json = union, _pairs_json(union)
        append((pk, tenant, entity_id, kinds_json, union_json))
        resolved[entity_id] = (pk, union)
    insert_rows(conn, _SQLITE["entities"], rows, tail=_SQLITE["entities_new"] if tail else "")
    return int(top)


class _EntityCache:
    """(tenant, entity id) -> (key, pairs known to be recorded), in objects the cyclic garbage
    collector never scans: a dict of str -> int per tenant (entity id -> key <<
    ``_SHAPE_BITS`` | the number of its pair set in ``shapes``). Held as (tenant, id) tuple
    -> (key, frozenset) tuple, 100,000 cached entities were 100,000 more tracked objects
    that every full collection walked (+15–28 ms each, with the GIL held) and ~196 bytes an
    entity besides its id string; now ~70 bytes and none (a dict whose keys and values are
    all strings and ints is not tracked by the collector; session 14). Only grows: the
    recorder replaces a full one (a reader keeps the one it took)."""

    __slots__ = ("_tenants", "_shape_numbers", "shapes", "_size")

    def __init__(self) -> None:
        self._tenants: dict[str, dict[str, int]] = {}
        self.shapes: list[frozenset[Pair]] = []  # the pair sets, each once
        self._shape_numbers: dict[frozenset[Pair], int] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def table(self, tenant: str) -> dict[str, int]:
        """Return the tenant's entity id -> packed entry (empty when none is cached)."""
        return self._tenants.get(tenant) or {}

    def get(self, tenant: str, entity_id: str) -> Known | None:
        packed = self.table(tenant).get(entity_id)
        if packed is None:
            return None
        return packed >> _SHAPE_BITS, self.shapes[packed & _SHAPE_MASK]

    def put(self, tenant: str, resolved: dict[str, Known]) -> None:
        """Add (or replace) entries; hold the recorder's lock."""
        table = self._tenants.get(tenant)
        if table is None:
            table = self._tenants[tenant] = {}
        numbers = self._shape_numbers
        before = len(table)
        for entity_id, (pk, pairs) in resolved.items():
            number = numbers.get(pairs)
            if number is None:
                if len(self.shapes) > _SHAPE_MASK:
                    continue  # no number left for another set: not cached (looked up)
                number = numbers[pairs] = len(self.shapes)
                self.shapes.append(pairs)
            table[entity_id] = pk << _SHAPE_BITS | number
        self._size += len(table) - before


class TemporalRecorder:
    """The change listener that writes history rows (one per store)."""

    def __init__(self) -> None:
        # committed: (tenant, entity id) -> (key, pairs known to be recorded); replaced, not
        # emptied, when full (a PostgreSQL write reads it without the lock)
        self._entities = _EntityCache()
        self._months: set[tuple[int, int]] = set()  # PostgreSQL partitions known to exist
        self._lock = threading.Lock()

    def __call__(self, tx: Transaction, changes: list[Change]) -> None:
        """Write the history of ``changes`` (and of ``tx.extra_instances``) into ``tx``."""
        rows: list[Row] = list(tx.extra_instances)
        made: list[ChangeRow] = []
        typed: list[Entity] = []
        types: dict[str, Any] = {}
        created: set[str] = set()
        # SQLite, nothing to merge: each change row's JSON is made as soon as the row is
        # built, so its elements and body copies are freed at once instead of living until
        # the INSERT (a batch of 1,000 then stays under the collector's 50,000 young
        # objects, as with history off). PostgreSQL sums the roll-ups from the elements.
        encode = tx.backend == "sqlite" and not rows
        dumps = orjson.dumps
        # the entity rows' JSON of this transaction (SQLite): change rows spliced from it
        texts = tx.attrs_json if encode and _NATIVE is not None else None
        # change rows of new entities made before the transaction (prepare_lane)
        ahead: dict[str, Any] = (tx.prepared.get(self) or {}) if texts is not None else {}
        for change in changes:
            text = None if texts is None else texts.get(change.entity_id)
            made_ahead = ahead.get(change.entity_id) if ahead else None
            if (
                made_ahead is not None
                and made_ahead[0] is change.after
                and made_ahead[1] is text
                and change.before is None
            ):
                spliced = made_ahead[2]
            else:
                if change.after is not None and "attrs" not in change.after:
                    tx.parse_unparsed()  # a lane entity without its row made ahead
                spliced = None if text is None else spliced_row(change, text)
            if spliced is not None:
                made.append(spliced)
            elif (found := change_row(change)) is None:
                rows.extend(changed_instances(change))
            elif encode and found[2] - found[1] <= MAX_SPAN:
                entity_id, lo, hi, items, pairs = found
                made.append((entity_id, lo, hi, bytearray(dumps(items)), pairs))
            else:
                made.append(found)
            after = change.after
            if after is None:
                continue
            entity_id = after["id"]
            kinds = types[entity_id] = after["type"]
            before = change.before
            if before is None:
                created.add(entity_id)
                typed.append(after)
            elif before["type"] != kinds:
                typed.append(after)
        if rows:
            # the superseded readings of a device write share its modifiedAt: one change
            # (only rows of entities without a change row of their own when ``encode``)
            made = _merge(made, group_changes(rows))
        if made or typed:
            self.write_changes(tx, made, typed, types=types, created=created)

    # reads no entity's "attrs" when its change row was made ahead (else it parses them)
    takes_unparsed = True

    def prepare_lane(
        self, changes: list[tuple[Entity, bytes, bytearray, int, int, tuple[str, ...]]]
    ) -> dict[str, tuple[Entity, bytes, ChangeRow]]:
        """Take the change rows the object-free lane made (``_native_lane``: (entity, its
        row's JSON, the change row's JSON, earliest and latest time, attribute IRIs)) as
        ``spliced_row`` would have made them in ``__call__``: entity id -> (entity, text,
        change row); ``__call__`` takes one only for that entity object and that text."""
        return {
            entity["id"]: (entity, text, (entity["id"], lo, hi, blob, _plain_pairs(names)))
            for entity, text, blob, lo, hi, names in changes
        }

    def write(
        self,
        tx: Transaction,
        rows: list[Row],
        typed: list[Entity],
        *,
        types: dict[str, Any] | None = None,
    ) -> None:
        """Write history ``rows`` and the types of ``typed`` entities in ``tx`` (``types``:
        the types of other entities of ``rows``, used if their history is new)."""
        self.write_changes(tx, group_changes(rows), typed, types=types)

    def write_changes(
        self,
        tx: Transaction,
        changes: list[ChangeRow],
        typed: list[Entity],
        *,
        types: dict[str, Any] | None = None,
        created: set[str] | None = None,
    ) -> None:
        """Write change rows and the types of ``typed`` entities in ``tx`` (``created``: the
        entities this transaction created, which have no history unless created again)."""
        tenant = tx.tenant
        new_types = {e["id"]: e["type"] for e in typed}
        pairs: dict[str, AbstractSet[Pair]] = {}
        wide = False
        for entity_id, lo, hi, _, found in changes:
            if hi - lo > MAX_SPAN:
                wide = True
            known = pairs.get(entity_id)
            if known is None:
                pairs[entity_id] = found
            else:
                pairs[entity_id] = known | found
        if wide:  # its rows' pairs are those of the row they are cut from
            changes = split_wide(changes)
        for entity_id in new_types:
            if entity_id not in pairs:  # not setdefault: it would make a set per entity
                pairs[entity_id] = set()
        if tx.backend == "postgresql":
            self._write_postgres(tx, changes, pairs, new_types, types or {})
            return
        conn = tx.connection
        keys, resolved = self._sqlite_entities(
            conn, tenant, pairs, new_types, types or {}, created or set()
        )
        first = next_pk(conn)  # roll-ups: folded in later (rollup.py)
        dumps = orjson.dumps
        # bytearray, not bytes: sqlite3 binds int, float, str and bytearray as they are,
        # any other type (bytes too) through its adapter protocol, whose failed look-ups
        # raise and format an AttributeError per parameter (~3,300 instructions); same BLOB.
        insert_rows(
            conn,
            _SQLITE["changes"],
            [
                (
                    first + i,
                    keys[c[0]],
                    c[1],
                    c[2],
                    c[3] if c[3].__class__ is bytearray else _blob(c[3], dumps),
                )
                for i, c in enumerate(changes)
            ],
        )
        if resolved:
            tx.after_commit.append(lambda: self._remember(tenant, resolved))

    def _sqlite_entities(
        self,
        conn: Any,
        tenant: str,
        pairs: dict[str, AbstractSet[Pair]],
        new_types: dict[str, Any],
        types: dict[str, Any],
        created: set[str],
    ) -> tuple[dict[str, int], dict[str, Known]]:
        """Return each entity's key, and what was resolved here (cached after COMMIT);
        describe new entities, new pairs and new types in ``hub_temporal_entities``.

        Runs inside the write's ``BEGIN IMMEDIATE`` transaction: no other writer (in any
        process) can allocate the same keys before it commits or rolls back.
        """
        cache = self._entities
        table = cache.table(tenant)
        shapes = cache.shapes
        keys: dict[str, int] = {}
        missing: list[str] = []
        for entity_id, wanted in pairs.items():
            packed = table.get(entity_id)
            if (
                packed is not None
                and entity_id not in new_types
                and shapes[packed & _SHAPE_MASK] >= wanted
            ):
                keys[entity_id] = packed >> _SHAPE_BITS
            else:
                missing.append(entity_id)  # a new entity: nothing to compare
        if not missing:
            return keys, {}
        resolved: dict[str, Known] = {}
        typings: dict[tuple[str, ...], str] = {}
        fresh = [e for e in missing if e in created]
        if fresh:
            # Entities created here have no history row unless they were created before:
            # insert them without looking them up first (hub_cost: ~3,000 instructions a new
            # entity); one that has a row already is skipped by ON CONFLICT (the change
            # count tells) and looked up below.
            before = conn.total_changes
            top = _describe_new(
                conn, tenant, fresh, pairs, new_types, types, typings, resolved, tail=True
            )
            if conn.total_changes - before < len(fresh):
                done = {
                    e
                    for (e,) in conn.execute(
                        "SELECT entity_id FROM hub_temporal_entities WHERE pk > ?", (top,)
                    )
                }
                for entity_id in fresh:
                    if entity_id not in done:
                        del resolved[entity_id]
            for entity_id, known in resolved.items():
                keys[entity_id] = known[0]
            missing = [e for e in missing if e not in resolved]
            if not missing:
                return keys, resolved
        stored_: dict[str, tuple[int, str]] = {}
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            for pk, entity_id, attrs in conn.execute(
                "SELECT pk, entity_id, attrs FROM hub_temporal_entities "
                f"WHERE tenant = ? AND entity_id IN ({','.join('?' * len(chunk))})",
                [tenant, *chunk],
            ):
                stored_[entity_id] = (pk, attrs)
        new: list[str] = []
        for entity_id in missing:
            found = stored_.get(entity_id)
            if found is None:
                new.append(entity_id)
                continue
            pk, raw = found
            had = frozenset(map(tuple, orjson.loads(raw)))
            union = had | pairs[entity_id]
            if entity_id in new_types:
                conn.execute(
                    "UPDATE hub_temporal_entities SET types = ?, attrs = ? WHERE pk = ?",
                    (_types_json(new_types[entity_id], typings), _pairs_json(union), pk),
                )
            elif union != had:
                conn.execute(
                    "UPDATE hub_temporal_entities SET attrs = ? WHERE pk = ?",
                    (_pairs_json(union), pk),
                )
            keys[entity_id] = pk
            resolved[entity_id] = (pk, union)
        if new:
            _describe_new(conn, tenant, new, pairs, new_types, types, typings, resolved)
            for entity_id in new:
                keys[entity_id] = resolved[entity_id][0]
        return keys, resolved

    def _remember_months(self, months: set[tuple[int, int]]) -> None:
        with self._lock:
            self._months |= months

    def _remember(self, tenant: str, resolved: dict[str, Known]) -> None:
        """Cache what a committed write resolved; an entity's pair set is replaced by the
        equal one already cached, so its own set (and pair tuples) is freed."""
        if len(resolved) > _ENTITY_CACHE_MAX:
            return
        with self._lock:
            cache = self._entities
            if len(cache) + len(resolved) > _ENTITY_CACHE_MAX or len(cache.shapes) >= _SHAPES_MAX:
                cache = self._entities = _EntityCache()
            cache.put(tenant, resolved)

    def _write_postgres(
        self,
        tx: Transaction,
        changes: list[ChangeRow],
        pairs: dict[str, AbstractSet[Pair]],
        new_types: dict[str, Any],
        types: dict[str, Any],
    ) -> None:
        """Write the history in one statement (:func:`_history_statement`), describing entities
        not known with these pairs, after making sure the partitions of months not known to
        exist do (``_MONTHS``); both go with COMMIT."""
        tenant = tx.tenant
        cache = self._entities
        keys: dict[str, int] = {}
        described: list[dict[str, Any]] = []
        resolved: dict[str, Known] = {}
        for entity_id, wanted in pairs.items():
            known = cache.get(tenant, entity_id)
            if _covers(known, entity_id, wanted, new_types):
                keys[entity_id] = known[0]
                continue
            pk = known[0] if known is not None else entity_key(tenant, entity_id)
            keys[entity_id] = pk
            union = frozenset(wanted) | (known[1] if known is not None else frozenset())
            resolved[entity_id] = (pk, union)
            described.append(
                {
                    "pk": pk,
                    "tenant": tenant,
                    "entity_id": entity_id,
                    "types": new_types.get(entity_id) or types.get(entity_id) or [],
                    "attrs": sorted(union),
                }
            )
        dumps = orjson.dumps
        rollups = hourly(keys, changes)
        params = [
            dumps(
                [
                    {"entity": keys[e], "ts_lo": a, "ts_hi": b, "instances": i}
                    for e, a, b, i, _ in changes
                ]
            )
        ]
        if described:
            params.insert(0, dumps(described))
        if rollups:
            params.append(
                dumps(
                    [
                        {"entity": k[0], "attr": k[1], "dataset_id": k[2], "hour": k[3]}
                        | {"n": a[0], "total": a[1], "total_sq": a[2], "lo": a[3], "hi": a[4]}
                        for k, a in sorted(rollups.items())
                    ]
                )
            )
        # Nothing here is read back: sent with the next statement, COMMIT (``_pg_prepared``).
        conn = tx.prepared_connection
        months = {month_of(c[1]) for c in changes} - self._months
        if months:
            checked = tuple(sorted(months))
            defer(conn, _MONTHS, _months_params(checked))
            # Only this month and later ones are remembered: retention may drop an older
            # partition (in any process), and a late reading for it must re-create it.
            this_month = month_of(to_micros(datetime.now(UTC)))
            later = {m for m in checked if m >= this_month}
            if later:
                tx.after_commit.append(lambda: self._remember_months(later))
        defer(conn, _history_statement(bool(described), bool(rollups)), params)
        if resolved:
            tx.after_commit.append(lambda: self._remember(tenant, resolved))
