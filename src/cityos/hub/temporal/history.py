"""Answer a temporal query or retrieval against a hub store (the verb the API calls)."""

from __future__ import annotations

from dataclasses import replace

from cityos.hub.store.base import EntityQuery, HubStore
from cityos.hub.temporal._db import read_db
from cityos.hub.temporal.aggregate import Periods, aggregate
from cityos.hub.temporal.params import TemporalParams
from cityos.hub.temporal.query import TemporalPage, read_instances, select_entities

# More entities than this matching q/geo/scopeQ now are refused rather than listed in SQL.
MAX_FILTERED_IDS = 100_000


def current_matches(store: HubStore, tenant: str, query: EntityQuery) -> tuple[str, ...]:
    """Return the ids of the entities whose current state matches q, scopeQ and geo."""
    current = replace(query, attrs=None, limit=MAX_FILTERED_IDS, offset=0, count=False)
    return tuple(e["id"] for e in store.iter_all(tenant, current))


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

    ``q``, ``scopeQ`` and geo-queries select entities by their current state; the history
    of the selected entities is then read in the time window.
    """
    if query.q is not None or query.scope_q is not None or query.geo is not None:
        ids = current_matches(store, tenant, query)
        if query.ids is not None:
            asked = set(query.ids)
            ids = tuple(i for i in ids if i in asked)
        query = replace(query, ids=ids, q=None, scope_q=None, geo=None)
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
