"""Geo-queries and ``scopeQ`` on temporal queries, checked per instance in the time window.

GS CIM 009 v1.8, 5.7.4.4 (Query Temporal Evolution of Entities), steps S3 and S4:

* **geo-query** (S3): "those geospatial restrictions shall be checked against the
  GeoProperty instances that are within the interval defined by the temporal query". An
  entity matches when one instance of its GeoProperty (``location``, or ``geoproperty=``)
  *in the window* satisfies the relation; the entity's current location is not looked at
  (an entity whose history holds no such instance in the window never matches, not even
  ``disjoint``). The predicates are the hub's geo layer (:mod:`cityos.hub.geo`): PostGIS in
  SQL on PostgreSQL (:func:`~cityos.hub.geo.postgis_condition`), shapely and geodesic
  distances (:meth:`~cityos.hub.geo.GeoQuery.entity_matches`) on SQLite, so ``near``
  measures metres on the WGS84 ellipsoid and the topological relations are planar on
  longitude/latitude, as on ``/entities``.
* **scopeQ** (S4, 4.18/4.19): a scope instance is valid from its time until the next one
  (4.18: "until the time it has been explicitly removed by an update or delete"); an
  entity matches when one scope instance valid at some time in the window matches the
  whole ``scopeQ`` (patterns joined by ``;`` must be matched by that one instance's
  scopes), and the answer keeps the instances observed while a matching scope was valid
  (annex C.5.16: a scope set in the window bounds the instances from then on). The
  scope's history is the instances of the attribute ``SCOPE_IRI``, recorded by
  entity writes and by ``POST /temporal/entities`` with a ``scope`` member; an entity
  without scope history is judged on its current scope (``hub_entities``).

Both give an SQL condition on the entity row ``e`` of ``hub_temporal_entities``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cityos.hub.geo import GeoQuery, postgis_condition
from cityos.hub.query.scope import ScopeExpr, scope_matches
from cityos.hub.temporal._db import Db, window_sql
from cityos.hub.temporal.params import TimeWindow
from cityos.hub.temporal.record import SCOPE_IRI

_PG_GEOMETRY = (
    "CASE WHEN t.kind = 'GeoProperty' AND jsonb_typeof(t.instance->'value') = 'object' "
    "THEN ST_GeomFromGeoJSON(t.instance->>'value')::geography END"
)


def _window(db: Db, column: str, window: TimeWindow) -> tuple[list[str], list[Any]]:
    cond, params = window_sql(db, column, window)
    return [cond], params


def _id_set(db: Db, ids: Iterable[str]) -> tuple[str, list[Any]]:
    """Return SQL true when ``e.entity_id`` is one of ``ids`` (one parameter, any size)."""
    listed = sorted(set(ids))
    if db.postgres:
        return "e.entity_id = ANY(%s)", [listed]
    return "e.entity_id IN (SELECT value FROM json_each(%s))", [orjson.dumps(listed).decode()]


def geo_sql(db: Db, tenant: str, geo: GeoQuery, window: TimeWindow) -> tuple[str, list[Any]]:
    """Return SQL true when one GeoProperty instance of ``e`` in the window meets ``geo``."""
    column = f"t.{window.column}"
    where, params = _window(db, column, window)
    if db.postgres:
        test, more = postgis_condition(geo, "g.geom")
        parts = ["t.entity = e.pk", "t.attr = %s", "t.kind = 'GeoProperty'", *where, test]
        sql = (
            "EXISTS (SELECT 1 FROM hub_temporal_instances t "
            f"CROSS JOIN LATERAL (SELECT {_PG_GEOMETRY} AS geom) g WHERE {' AND '.join(parts)})"
        )
        return sql, [geo.geoproperty, *params, *more]
    # SQLite: read the window's instances of the GeoProperty once, test them with shapely
    rows = db.rows(
        "SELECT s.entity_id, t.instance FROM hub_temporal_entities s JOIN "
        "hub_temporal_instances t ON t.entity = s.pk WHERE s.tenant = %s AND t.attr = %s "
        "AND t.kind = 'GeoProperty'"
        + "".join(f" AND {w}" for w in where)
        + " ORDER BY s.entity_id",
        [tenant, geo.geoproperty, *params],
    )
    instances: dict[str, list[dict[str, Any]]] = {}
    for entity_id, raw in rows:
        instances.setdefault(entity_id, []).append(orjson.loads(raw))
    matched = [
        entity_id
        for entity_id, found in instances.items()
        if geo.entity_matches({"attrs": {geo.geoproperty: found}})
    ]
    return _id_set(db, matched)


def _scopes(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [s for s in items if isinstance(s, str)]


@dataclass(frozen=True)
class ScopeMatch:
    """The entities a ``scopeQ`` selects, and when a matching scope was valid [µs].

    ``valid`` has the intervals (start, end; None: open) of the entities judged on their
    scope history; an entity judged on its current scope has none (no bound).
    """

    ids: frozenset[str]
    valid: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)

    def keeps(self, entity_id: str, at: int) -> bool:
        """Return whether an instance of the entity at ``at`` lies where a matching scope
        was valid (always, for an entity without scope history)."""
        spans = self.valid.get(entity_id)
        if spans is None:
            return True
        return any(start <= at and (end is None or at < end) for start, end in spans)


def match_scopes(db: Db, tenant: str, scope_q: ScopeExpr, window: TimeWindow) -> ScopeMatch:
    """Return the entities one of whose scopes valid in the window matches ``scope_q``."""
    column = f"t.{window.column}"
    end = []
    params: list[Any] = [tenant, SCOPE_IRI]
    if window.end is not None:
        end.append(f" AND {column} < %s")
        params.append(db.instant(window.end))
    rows = db.rows(
        f"SELECT s.entity_id, {column}, t.instance FROM hub_temporal_entities s "
        "JOIN hub_temporal_instances t ON t.entity = s.pk WHERE s.tenant = %s "
        f"AND t.attr = %s{''.join(end)} "
        f"ORDER BY s.entity_id, {column}, t.pk",
        params,
    )
    history: dict[str, list[tuple[int, list[str]]]] = {}
    for entity_id, at, raw in rows:
        body = raw if isinstance(raw, dict) else orjson.loads(raw)
        history.setdefault(entity_id, []).append((db.micros(at), _scopes(body.get("value"))))
    valid: dict[str, list[tuple[int, int | None]]] = {}
    for entity_id, instances in history.items():
        for i, (at, scopes) in enumerate(instances):
            # valid until the next instance; it counts when that is after the window starts
            following = instances[i + 1][0] if i + 1 < len(instances) else None
            if window.start is not None and following is not None and following <= window.start:
                continue
            if scopes and scope_matches(scope_q, scopes):
                valid.setdefault(entity_id, []).append((at, following))
    matched = set(valid)
    # an entity whose scope has no history: its current scope (GS CIM 009 4.18)
    with_history = set(history)
    recorded = db.rows(
        "SELECT s.entity_id FROM hub_temporal_entities s WHERE s.tenant = %s "
        "AND EXISTS (SELECT 1 FROM hub_temporal_instances t WHERE t.entity = s.pk "
        "AND t.attr = %s)",
        [tenant, SCOPE_IRI],
    )
    with_history.update(r[0] for r in recorded)
    current = db.rows(
        "SELECT id, scopes FROM hub_entities WHERE tenant = %s AND scopes IS NOT NULL", [tenant]
    )
    for entity_id, raw in current:
        if entity_id in with_history:
            continue
        scopes = list(raw) if isinstance(raw, list) else _scopes(orjson.loads(raw))
        if scopes and scope_matches(scope_q, scopes):
            matched.add(entity_id)
    return ScopeMatch(frozenset(matched), valid)


def scope_sql(db: Db, match: ScopeMatch) -> tuple[str, list[Any]]:
    """Return SQL true when ``e`` is one of the entities ``match`` selected."""
    return _id_set(db, match.ids)
