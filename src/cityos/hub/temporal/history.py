"""Answer a temporal query or retrieval against a hub store (the verb the API calls)."""

from __future__ import annotations

from cityos.hub.store.base import EntityQuery, HubStore
from cityos.hub.temporal._db import read_db
from cityos.hub.temporal.aggregate import Periods, aggregate, rollups_possible
from cityos.hub.temporal.geoscope import match_scopes
from cityos.hub.temporal.params import TemporalParams
from cityos.hub.temporal.query import TemporalPage, read_instances, select_entities
from cityos.hub.temporal.rollup import fold


def query_history(
    store: HubStore,
    tenant: str,
    query: EntityQuery,
    params: TemporalParams,
    *,
    instance_limit: int,
    need_history: bool = True,
) -> tuple[TemporalPage, dict[int, Periods]]:
    """Return one page of entities with their instances (or their aggregated periods).

    ``q`` is checked against the instances in the time window (GS CIM 009 5.7.4.4, see
    :mod:`cityos.hub.temporal.qfilter`): an entity is listed when its instances in the
    window satisfy it, with all its instances of the asked attributes in the window.
    The geo-query and ``scopeQ`` are checked the same way, on the GeoProperty and scope
    instances of the window (:mod:`cityos.hub.temporal.geoscope`); with ``scopeQ`` only the
    instances observed while a matching scope was valid are answered (not bounded:
    aggregations, and entities judged on their current scope).
    """
    if params.aggregation is not None and rollups_possible(params.window, params.aggregation):
        fold(store)  # SQLite: the roll-ups hold every instance written so far
    with read_db(store) as db:
        scopes = None
        if query.scope_q is not None:
            scopes = match_scopes(db, tenant, query.scope_q, params.window)
        entities, total = select_entities(
            db, tenant, query, params, need_history=need_history, scopes=scopes
        )
        page = TemporalPage(entities, total)
        periods: dict[int, Periods] = {}
        if params.aggregation is not None:
            series = [s for e in entities for s in e.series]
            periods = aggregate(db, series, params.window, params.aggregation)
        else:
            page.partial = read_instances(db, entities, params, instance_limit=instance_limit)
            if scopes is not None:  # only what was observed under a matching scope (C.5.16)
                for entity in entities:
                    for pk, found in entity.instances.items():
                        entity.instances[pk] = [i for i in found if scopes.keeps(entity.id, i.at)]
    return page, periods
