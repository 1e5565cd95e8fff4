"""Answer a temporal query or retrieval against a hub store (the verb the API calls)."""

from __future__ import annotations

from cityos.hub.store.base import EntityQuery, HubStore
from cityos.hub.temporal._db import read_db
from cityos.hub.temporal.aggregate import Periods, aggregate
from cityos.hub.temporal.params import TemporalParams
from cityos.hub.temporal.query import TemporalPage, read_instances, select_entities


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
    instances of the window (:mod:`cityos.hub.temporal.geoscope`).
    """
    with read_db(store) as db:
        entities, total = select_entities(db, tenant, query, params, need_history=need_history)
        page = TemporalPage(entities, total)
        periods: dict[int, Periods] = {}
        if params.aggregation is not None:
            series = [s.pk for e in entities for s in e.series]
            periods = aggregate(db, series, params.window, params.aggregation)
        else:
            page.partial = read_instances(db, entities, params, instance_limit=instance_limit)
    return page, periods
