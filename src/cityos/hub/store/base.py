"""The storage interface every hub backend implements, and the query it answers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from cityos.hub.geo import GeoQuery
from cityos.hub.query.qlang import QExpr
from cityos.hub.query.scope import ScopeExpr
from cityos.hub.typeq import TypeSelection

Entity = dict[str, Any]


@dataclass(frozen=True)
class EntityQuery:
    """Which entities to return: every given condition must hold (all names expanded)."""

    types: TypeSelection | None = None
    ids: tuple[str, ...] | None = None
    id_pattern: str | None = None
    attrs: tuple[str, ...] | None = None  # the entity has at least one of these attributes
    q: QExpr | None = None
    scope_q: ScopeExpr | None = None
    geo: GeoQuery | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False


@dataclass
class QueryPage:
    """One page of query results, and the total number of matches if it was asked for."""

    entities: list[Entity] = field(default_factory=list)
    total: int | None = None


@dataclass(frozen=True)
class TypeInfo:
    """What discovery reports of one entity type."""

    type: str
    entity_count: int
    attributes: dict[str, set[str]]  # attribute IRI -> attribute kinds (Property, …)


@dataclass(frozen=True)
class AttributeInfo:
    """What discovery reports of one attribute."""

    attr: str
    count: int
    kinds: set[str]
    types: set[str]  # entity types that have it


class Transaction(ABC):
    """Changes to one tenant's entities that commit together or not at all."""

    @abstractmethod
    def get_many(self, ids: list[str]) -> dict[str, Entity]:
        """Return the entities that exist among ``ids``, locked until the end."""

    @abstractmethod
    def insert(self, entities: list[Entity]) -> None:
        """Insert new entities (their ids must not exist)."""

    @abstractmethod
    def replace(self, entities: list[Entity]) -> None:
        """Rewrite existing entities whole (types, scopes, attributes, geometries)."""

    @abstractmethod
    def delete(self, ids: list[str]) -> None:
        """Delete existing entities."""


class HubStore(ABC):
    """A hub database: entities by tenant, queries, discovery and stored @contexts."""

    backend: str
    # True when one-entity reads and writes are so fast that running them on the event loop
    # beats a thread-pool hop (embedded SQLite); False for a networked database.
    inline_short_calls: bool = False
    # Threads that run store calls off the event loop: each holds a database connection,
    # so the count bounds memory (SQLite page caches) and connections (PostgreSQL).
    worker_threads: int = 4
    _executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """Return the store's own thread pool (created on first use)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.worker_threads, thread_name_prefix=f"cityos-{self.backend}"
            )
        return self._executor

    def shutdown_executor(self) -> None:
        """Stop the store's threads (after close)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    @abstractmethod
    def close(self) -> None:
        """Release every connection."""

    @abstractmethod
    def transaction(self, tenant: str) -> AbstractContextManager[Transaction]:
        """Open a write transaction on ``tenant``; it commits on success, rolls back on error."""

    @abstractmethod
    def tenant_exists(self, tenant: str) -> bool:
        """Return True once ``tenant`` has been written to."""

    @abstractmethod
    def get(self, tenant: str, entity_id: str) -> Entity | None:
        """Return one entity, or None."""

    @abstractmethod
    def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        """Return the entities matching ``query`` in a stable order, one page."""

    @abstractmethod
    def iter_all(self, tenant: str, query: EntityQuery) -> Iterator[Entity]:
        """Yield every entity matching ``query``, ignoring limit and offset."""

    @abstractmethod
    def entity_count(self, tenant: str) -> int:
        """Return how many entities ``tenant`` holds."""

    @abstractmethod
    def type_infos(self, tenant: str, types: list[str] | None = None) -> list[TypeInfo]:
        """Return discovery information for every (or the given) entity type."""

    @abstractmethod
    def attribute_infos(self, tenant: str, attrs: list[str] | None = None) -> list[AttributeInfo]:
        """Return discovery information for every (or the given) attribute."""

    @abstractmethod
    def contexts(self) -> list[dict[str, Any]]:
        """Return every stored @context record (id, url, kind, body, createdAt, …)."""

    @abstractmethod
    def put_context(self, record: dict[str, Any]) -> None:
        """Store a @context record (raises AlreadyExists for a known url)."""

    @abstractmethod
    def delete_context(self, context_id: str) -> bool:
        """Delete a stored @context; return False if there was none."""


def attribute_kinds(entity: Entity) -> dict[str, str]:
    """Return attribute IRI -> kind (of its first instance) for the side tables."""
    return {iri: instances[0]["type"] for iri, instances in entity["attrs"].items() if instances}


def geometries(entity: Entity) -> list[tuple[str, dict[str, Any]]]:
    """Return (attribute IRI, GeoJSON geometry) for every GeoProperty instance."""
    found = []
    for iri, instances in entity["attrs"].items():
        for inst in instances:
            if inst.get("type") == "GeoProperty":
                found.append((iri, inst["value"]))
    return found
