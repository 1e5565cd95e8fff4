"""Read temporal history: which entities match, and their instances, one page at a time.

Entities are selected in SQL on ``hub_temporal_entities`` (types, ids, idPattern; ``q``,
the geo-query and ``scopeQ`` on the instances in the window) and must hold at least one
instance of the asked attributes in the time window; the page is ordered
by entity id. Instances are read per attribute series on the (series, ts) index, at most
``instance_limit`` per series; when a series has more, every series of the page is cut at
one common instant and the page is partial (the caller answers 206 with Content-Range,
GS CIM 009 v1.8, 6.3.10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from cityos.hub.store.base import EntityQuery
from cityos.hub.temporal._db import Db
from cityos.hub.temporal.geoscope import ScopeMatch, geo_sql, scope_sql
from cityos.hub.temporal.params import TemporalParams, TimeWindow
from cityos.hub.temporal.qfilter import temporal_q_sql


@dataclass(frozen=True, slots=True)
class Series:
    """One attribute's history: (entity, attribute IRI, datasetId)."""

    pk: int
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


def window_sql(db: Db, column: str, window: TimeWindow) -> tuple[str, list[Any]]:
    """Return the SQL condition (and parameters) that keeps ``column`` inside the window."""
    parts: list[str] = []
    params: list[Any] = []
    if window.start is not None:
        parts.append(f"{column} >= %s")
        params.append(db.instant(window.start))
    if window.end is not None:
        parts.append(f"{column} < %s")
        params.append(db.instant(window.end))
    return (" AND ".join(parts) or "1=1"), params


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
    series = ["s.tenant = e.tenant", "s.entity_id = e.entity_id"]
    if query.attrs:
        sql, more = db.in_list("s.attr", query.attrs)
        series.append(sql)
        values.extend(more)
    if params.datasets is not None:
        sql, more = db.in_list("s.dataset_id", params.datasets)
        series.append(sql)
        values.extend(more)
    # An entity is in the answer when one of its series holds data: in the window for a
    # query, ever for a retrieval (whose empty answer is an entity without attributes).
    window = params.window if need_history else TimeWindow()
    history, more = _holds_data(db, "hub_temporal t", "t.series", f"t.{window.column}", window)
    values.extend(more)
    if window.column == "ts" and (params.aggregation is not None or not need_history):
        # roll-ups outlive raw instances (retention)
        hourly, more = _holds_data(
            db, "hub_temporal_hourly h", "h.series", "h.hour", _hour_floor(window)
        )
        history = f"({history} OR {hourly})"
        values.extend(more)
    series.append(history)
    clauses.append(f"EXISTS (SELECT 1 FROM hub_temporal_series s WHERE {' AND '.join(series)})")
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


def _holds_data(
    db: Db, table: str, series: str, column: str, window: TimeWindow
) -> tuple[str, list[Any]]:
    """Return SQL true when the series ``s`` has a row in the window.

    Written as "the first row at or after the start lies before the end" (ORDER BY … LIMIT
    1 on the (series, time) index), so the database reads one index entry per series
    instead of every entry in the window.
    """
    if column.endswith((".created_at", ".modified_at")):  # no index to walk: plain EXISTS
        cond, found = window_sql(db, column, window)
        return f"EXISTS (SELECT 1 FROM {table} WHERE {series} = s.pk AND {cond})", found
    params: list[Any] = []
    start = ""
    if window.start is not None:
        start = f" AND {column} >= %s"
        params.append(db.instant(window.start))
    first = f"(SELECT {column} FROM {table} WHERE {series} = s.pk{start} ORDER BY {column} LIMIT 1)"
    if window.end is None:
        return f"{first} IS NOT NULL", params
    params.append(db.instant(window.end))
    return f"{first} < %s", params


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
    where = f"tenant = %s AND {sql}"
    values = [tenant, *values]
    if attrs:
        more_sql, more = db.in_list("attr", attrs)
        where += f" AND {more_sql}"
        values.extend(more)
    if datasets is not None:
        more_sql, more = db.in_list("dataset_id", datasets)
        where += f" AND {more_sql}"
        values.extend(more)
    rows = db.rows(
        f"SELECT pk, entity_id, attr, dataset_id FROM hub_temporal_series WHERE {where} "
        "ORDER BY entity_id, attr, dataset_id",
        values,
    )
    for pk, entity_id, attr, dataset_id in rows:
        by_id[entity_id].series.append(Series(int(pk), entity_id, attr, dataset_id))


def _instance(db: Db, row: tuple[Any, ...], at: int) -> Instance:
    raw = row[7]
    body = raw if isinstance(raw, dict) else orjson.loads(raw)
    return Instance(
        pk=int(row[0]),
        kind=row[1],
        at=db.micros(row[at]),
        observed_at=None if row[3] is None else db.micros(row[3]),
        created_at=db.micros(row[4]),
        modified_at=db.micros(row[5]),
        instance=body,
    )


_AT_INDEX = {"ts": 2, "created_at": 4, "modified_at": 5}


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
        "SELECT t.pk, t.kind, t.ts, t.observed_at, t.created_at, t.modified_at, t.num, "
        f"t.instance FROM hub_temporal t WHERE t.series = %s AND {cond} ORDER BY {order} "
        "LIMIT %s"
    )
    at = _AT_INDEX[column]
    cuts: list[int] = []
    firsts: list[int] = []
    for entity in entities:
        for series in entity.series:
            rows = db.rows(sql, [series.pk, *values, fetch])
            found = [_instance(db, r, at) for r in rows]
            if len(found) > instance_limit:
                found = found[:instance_limit]
                cuts.append(found[-1].at)
            if found:
                firsts.append(found[0].at)
            entity.instances[series.pk] = found
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
