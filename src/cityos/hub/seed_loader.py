"""Load the built-in Sejong reference entities into an empty hub (first start only)."""

from __future__ import annotations

from cityos.hub.api._http import DEFAULT_TENANT
from cityos.hub.batch import run_batch
from cityos.hub.context import ContextResolver
from cityos.hub.errors import InternalError
from cityos.hub.seed import sejong_entities
from cityos.hub.store.base import HubStore


def load_city_if_empty(store: HubStore, resolver: ContextResolver) -> int:
    """Upsert Sejong's reference entities when the default tenant is empty; return how many."""
    if store.tenant_exists(DEFAULT_TENANT) and store.entity_count(DEFAULT_TENANT) > 0:
        return 0
    entities = sejong_entities()
    ctx = resolver.resolve(entities[0]["@context"])
    result = run_batch(store, DEFAULT_TENANT, "upsert", entities, ctx)
    if result.errors:
        raise InternalError(
            f"the built-in city data failed to load: {result.errors[:3]}"
            f" / 내장 도시 데이터를 불러오지 못했습니다: {result.errors[:3]}"
        )
    return len(result.success)
