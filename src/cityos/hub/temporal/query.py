"""Read temporal history: which entities match, and their instances, one page at a time.

Entities are selected in SQL on ``hub_temporal_entities`` (types, ids, idPattern; ``q``,
the geo-query and ``scopeQ`` on the instances in the window) and must hold at least one
instance of the asked attributes in the time window; the page is ordered
by entity id. Instances are read from the view ``hub_temporal_instances`` (migration 0013:
the change rows expanded, one row per instance), one query per entity, with the change
rows prefiltered on the (entity, ts_hi) index by the entity and the window; at most
``instance_limit`` per series (attribute and datasetId); when a series has more, every
series of the page is cut at one common instant and the page is partial (the caller
answers 206 with Content-Range, GS CIM 009 v1.8, 6.3.10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from cityos.hub.store.base import EntityQuery
from cityos.hub.temporal._db import Db, change_bounds, window_sql
from cityos.hub.temporal.geoscope import ScopeMatch, geo_sql, scope_sql
from cityos.hub.temporal.params import TemporalParams, TimeWindow
from cityos.hub.temporal.qfilter import temporal_q_sql


@dataclass(frozen=True, slots=True)
class Series:
    """One attribute's history: (entity, attribute IRI, datasetId); ``pk`` numbers it within
    one answer, ``entity`` is the entity's key in ``hub_temporal_entities``."""

    pk: int
    entity: int
    entity_id: str
    attr: str
    dataset_id: str


@dataclass(slots=True)
class Instance:
    """One stored attribute instance; times in µs since the epoch."""

    pk: int
    kind: str
    at: int  # the query's time property
    observed_at: int | None
    created_at: int
    modified_at: int
    instance: dict[str, Any]


@dataclass
class TemporalEntity:
    """An entity's history as read: its types and its series with their instances."""

    id: str
    types: list[str]
    series: list[Series] = field(default_factory=list)
    instances: dict[int, list[Instance]] = field(default_factory=dict)


@dataclass
class TemporalPage:
    """One page of entities; ``partial`` is (start, end, size) of a cut instance range."""

    entities: list[TemporalEntity]
    total: int | None = None
    partial: tuple[int, int, str] | None = None


def _types_sql(db: Db, query: EntityQuery) -> tuple[str, list[Any]]:
    assert query.types is not None
    alternatives = []
    params: list[Any] = []
    for group in query.types.groups:
        if db.postgres:
            alternatives.append("e.types @> %s")
            params.append(sorted(group))
        else:
            parts = []
            for type_iri in sorted(group):
                parts.append("EXISTS (SELECT 1 FROM json_each(e.types) j WHERE j.value = %s)")
                params.append(type_iri)
            alternatives.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(alternatives) + ")", params


def _entity_where(
    db: Db,
    tenant: str,
    query: EntityQuery,
    params: TemporalParams,
    *,
    need_history: bool,
    scopes: ScopeMatch | None,
) -> tuple[str, list[Any]]:
    clauses = ["e.tenant = %s"]
    values: list[Any] = [tenant]
    if query.ids is not None:
        sql, more = db.in_list("e.entity_id", query.ids)
        clauses.append(sql)
        values.extend(more)
    if query.id_pattern is not None:
        clauses.append("e.entity_id ~ %s" if db.postgres else "e.entity_id REGEXP %s")
        values.append(query.id_pattern)
    if query.types is not None:
        sql, more = _types_sql(db, query)
        clauses.append(sql)
        values.extend(more)
    narrow: list[str] = []
    narrow_values: list[Any] = []
    if query.attrs:
        sql, more = db.in_list("{t}.attr", query.attrs)
        narrow.append(sql)
        narrow_values.extend(more)
    if params.datasets is not None:
        sql, more = db.in_list("{t}.dataset_id", params.datasets)
        narrow.append(sql)
        narrow_values.extend(more)
    # An entity is in the answer when it holds data of the asked attributes: in the window
    # for a query, ever for a retrieval (whose empty answer is an entity without attributes).
    window = params.window if need_history else TimeWindow()
    cond, more = window_sql(db, f"t.{window.column}", window)
    # "(SELECT 1 … ORDER BY t.hi LIMIT 1) IS NOT NULL", not EXISTS: PostgreSQL turns an
    # EXISTS into a semi-join that expanded every change row of the window (1.3 s for 100
    # sensors over 30 days). The ORDER BY keeps it on the (entity, ts_hi) index in order, so
    # it stops at the entity's first matching change row; without it PostgreSQL chose a
    # bitmap scan that collected every change row of the entity first (~5 ms an entity).
    history = (
        "(SELECT 1 FROM hub_temporal_instances t WHERE t.entity = e.pk AND "
        + " AND ".join([*(n.format(t="t") for n in narrow), cond])
        + " ORDER BY t.hi LIMIT 1) IS NOT NULL"
    )
    history_values = [*narrow_values, *more]
    if window.column == "ts" and (params.aggregation is not None or not need_history):
        # roll-ups outlive raw instances (retention); their primary key is asked first,
        # the cheaper of the two
        cond, more = window_sql(db, "h.hour", _hour_floor(window))
        hourly = (
            "(SELECT 1 FROM hub_temporal_hourly h WHERE h.entity = e.pk AND "
            + " AND ".join([*(n.format(t="h") for n in narrow), cond])
            + " LIMIT 1) IS NOT NULL"
        )
        history = f"({hourly} OR {history})"
        history_values = [*narrow_values, *more, *history_values]
    values.extend(history_values)
    clauses.append(history)
    if query.q is not None:  # on the instances in the window (5.7.4.4)
        sql, more = temporal_q_sql(db, query.q, params.window)
        clauses.append(sql)
        values.extend(more)
    if query.geo is not None:  # on the GeoProperty instances in the window (S3)
        sql, more = geo_sql(db, tenant, query.geo, params.window)
        clauses.append(sql)
        values.extend(more)
    if scopes is not None:  # on the scopes valid in the window (S4)
        sql, more = scope_sql(db, scopes)
        clauses.append(sql)
        values.extend(more)
    return " AND ".join(clauses), values


def _hour_floor(window: TimeWindow) -> TimeWindow:
    """Return the window widened to whole hours (roll-up rows are stamped by hour start)."""
    hour = 3_600_000_000
    start = None if window.start is None else window.start - window.start % hour
    return TimeWindow(window.timerel, start, window.end, window.timeproperty)


def _types_of(db: Db, raw: Any) -> list[str]:
    return list(raw) if db.postgres else list(orjson.loads(raw))


def select_entities(
    db: Db,
    tenant: str,
    query: EntityQuery,
    params: TemporalParams,
    *,
    need_history: bool = True,
    scopes: ScopeMatch | None = None,
) -> tuple[list[TemporalEntity], int | None]:
    """Return one page of entities with history matching ``query`` (and the count if asked);
    ``scopes``: the entities ``query.scope_q`` selected (:func:`match_scopes`)."""
    where, values = _entity_where(
        db, tenant, query, params, need_history=need_history, scopes=scopes
    )
    rows = db.rows(
        f"SELECT e.entity_id, e.types FROM hub_temporal_entities e WHERE {where} "
        "ORDER BY e.entity_id LIMIT %s OFFSET %s",
        [*values, query.limit, query.offset],
    )
    total = None
    if query.count:
        total = int(
            db.rows(f"SELECT count(*) FROM hub_temporal_entities e WHERE {where}", values)[0][0]
        )
    entities = [TemporalEntity(r[0], _types_of(db, r[1])) for r in rows]
    if entities:
        _attach_series(db, tenant, entities, query.attrs, params.datasets)
    return entities, total


def _attach_series(
    db: Db,
    tenant: str,
    entities: list[TemporalEntity],
    attrs: tuple[str, ...] | None,
    datasets: tuple[str, ...] | None,
) -> None:
    by_id = {e.id: e for e in entities}
    sql, values = db.in_list("entity_id", list(by_id))
    rows = db.rows(
        f"SELECT pk, entity_id, attrs FROM hub_temporal_entities WHERE tenant = %s AND {sql}",
        [tenant, *values],
    )
    wanted = None if not attrs else set(attrs)
    kept = None if datasets is None else set(datasets)
    number = 0
    for pk, entity_id, raw in sorted(rows, key=lambda r: r[1]):
        pairs = raw if isinstance(raw, list) else orjson.loads(raw)
        for attr, dataset_id in sorted(map(tuple, pairs)):
            if (wanted is None or attr in wanted) and (kept is None or dataset_id in kept):
                number += 1
                by_id[entity_id].series.append(Series(number, int(pk), entity_id, attr, dataset_id))


def _instance(row: tuple[Any, ...], at: int) -> Instance:
    raw = row[9]
    body = raw if isinstance(raw, dict) else orjson.loads(raw)
    return Instance(
        pk=int(row[2]),
        kind=row[3],
        at=int(row[at]),
        observed_at=None if row[5] is None else int(row[5]),
        created_at=int(row[6]),
        modified_at=int(row[7]),
        instance=body,
    )


_AT_INDEX = {"ts": 4, "created_at": 6, "modified_at": 7}


def _expanded(db: Db, descending: bool) -> str:
    """Return SQL for the instances of one entity's first (or last) ``%s`` change rows in
    a window, by ``ts_hi`` on the (entity, ts_hi) index; parameters: entity, the window's
    change-row bounds, the row count, then the attributes."""
    way = "DESC" if descending else "ASC"
    if db.postgres:
        columns = (
            "j.v ->> 0, j.v ->> 1, c.pk * 1048576 + j.o - 1, j.v ->> 2, (j.v ->> 3)::bigint, "
            "(j.v ->> 4)::bigint, (j.v ->> 5)::bigint, (j.v ->> 6)::bigint, "
            "(j.v ->> 7)::double precision, j.v -> 8"
        )
        expand = "jsonb_array_elements(c.instances) WITH ORDINALITY j(v, o)"
        live = "jsonb_typeof(j.v) = 'array'"
        attr = "j.v ->> 0"
    else:
        columns = (
            "j.value ->> 0, j.value ->> 1, c.pk * 1048576 + j.key, j.value ->> 2, "
            "j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6, j.value ->> 7, "
            "j.value -> 8"
        )
        expand = "json_each(c.instances) j"
        live = "j.type = 'array'"
        attr = "j.value ->> 0"
    return (
        f"SELECT {columns} FROM (SELECT pk, instances FROM hub_temporal_changes "
        "WHERE entity = %s AND {bounds} "
        f"ORDER BY ts_hi {way}, pk {way} LIMIT %s) c, {expand} WHERE {live} AND {attr} IN "
    )


def _first_instances(
    db: Db,
    entity: TemporalEntity,
    named: dict[tuple[str, str], int],
    window: TimeWindow,
    fetch: int,
    *,
    descending: bool,
) -> dict[int, list[Instance]]:
    """Return up to ``fetch`` instances per series of ``entity`` in the window, the first
    (or, ``descending``, the last) by time, read change row by change row.

    Change rows are taken in ``ts_hi`` order, ``rows`` at a time, growing until what was
    not read cannot come first: a row not read has ``ts_hi`` at or past the boundary row's
    ``b``, so its instances lie at or after ``b - span`` (forward; at or before ``b``
    backward, ``hub_temporal_span``). One round for the usual page.
    """
    key = entity.series[0].entity
    bounds, params = change_bounds(db, window, "ts_hi", "ts_lo")
    where = " AND ".join(["1=1", *bounds])
    attrs = sorted({a for a, _ in named})
    way = "DESC" if descending else "ASC"
    sql = _expanded(db, descending).replace("{bounds}", where)
    sql += "(" + ", ".join(["%s"] * len(attrs)) + ")"
    edge = (
        f"SELECT ts_hi FROM hub_temporal_changes WHERE entity = %s AND {where} "
        f"ORDER BY ts_hi {way}, pk {way} LIMIT 1 OFFSET %s"
    )
    rows_wanted = max(16, fetch * len(named))
    while True:
        grouped: dict[int, list[Instance]] = {pk: [] for pk in named.values()}
        for r in db.rows(sql, [key, *params, rows_wanted, *attrs]):
            pk = named.get((r[0], r[1]))
            at = int(r[4])
            if pk is None:
                continue
            if (window.start is not None and at < window.start) or (
                window.end is not None and at >= window.end
            ):
                continue
            grouped[pk].append(_instance(r, 4))
        for found in grouped.values():
            found.sort(key=lambda i: (i.at, i.pk), reverse=descending)
        boundary = db.rows(edge, [key, *params, rows_wanted])  # the first row not read
        if not boundary:  # every change row of the window was read
            break
        b = int(boundary[0][0])
        if descending:
            done = all(len(f) >= fetch and f[fetch - 1].at > b for f in grouped.values())
        else:
            limit = b - db.span()
            done = all(len(f) >= fetch and f[fetch - 1].at < limit for f in grouped.values())
        if done:
            break
        rows_wanted *= 4
    return {pk: found[:fetch] for pk, found in grouped.items()}


def read_instances(
    db: Db, entities: list[TemporalEntity], params: TemporalParams, *, instance_limit: int
) -> tuple[int, int, str] | None:
    """Fill each entity's instances in time order; return the cut range if a series was cut."""
    window = params.window
    column = window.column
    cond, values = window_sql(db, f"t.{column}", window)
    descending = params.last_n is not None
    order = f"t.{column} DESC, t.pk DESC" if descending else f"t.{column}, t.pk"
    fetch = instance_limit + 1
    if params.last_n is not None:
        fetch = min(params.last_n, instance_limit + 1)
    sql = (
        "SELECT * FROM (SELECT t.attr, t.dataset_id, t.pk, t.kind, t.ts, t.observed_at, "
        "t.created_at, t.modified_at, t.num, t.instance, row_number() OVER (PARTITION BY "
        f"t.attr, t.dataset_id ORDER BY {order}) AS r FROM hub_temporal_instances t "
        "WHERE t.entity = %s AND {narrow} AND " + cond + ") x WHERE x.r <= %s "
        "ORDER BY x.attr, x.dataset_id, x.r"
    )
    at = _AT_INDEX[column]
    cuts: list[int] = []
    firsts: list[int] = []
    for entity in entities:
        if not entity.series:
            continue
        named = {(s.attr, s.dataset_id): s.pk for s in entity.series}
        narrow, more = db.in_list("t.attr", sorted({s.attr for s in entity.series}))
        if column == "ts":
            grouped = _first_instances(db, entity, named, window, fetch, descending=descending)
        else:  # createdAt/modifiedAt: no bound from the change rows' times
            rows = db.rows(
                sql.replace("{narrow}", narrow), [entity.series[0].entity, *more, *values, fetch]
            )
            grouped = {s.pk: [] for s in entity.series}
            for r in rows:
                pk = named.get((r[0], r[1]))
                if pk is not None:
                    grouped[pk].append(_instance(r, at))
        for pk, found in grouped.items():
            if len(found) > instance_limit:
                found = found[:instance_limit]
                cuts.append(found[-1].at)
            if found:
                firsts.append(found[0].at)
            entity.instances[pk] = found
    if not cuts:
        for entity in entities:
            for found in entity.instances.values():
                if descending:
                    found.reverse()
        return None
    # The page ends at the last instance returned of the series that were cut (6.3.10):
    # forward, every series keeps t <= end (the next page, after=<end>, includes end, 4.11,
    # so the instances at end come again); backward, t >= end (the next page is before=<end>,
    # exclusive: no repeats).
    if descending:
        end = max(cuts)
        start = window.end if window.end is not None else max(firsts)
        size = str(params.last_n)
    else:
        end = min(cuts)
        start = window.start if window.start is not None else min(firsts)
        size = "*"
    for entity in entities:
        for pk, found in entity.instances.items():
            kept = [i for i in found if (i.at >= end if descending else i.at <= end)]
            if descending:
                kept.reverse()
            entity.instances[pk] = kept
    return start, end, size
