"""The storage interface every hub backend implements, and the query it answers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal, TypeVar

import orjson

from cityos.hub.geo import GeoQuery
from cityos.hub.query.qlang import QExpr
from cityos.hub.query.scope import ScopeExpr
from cityos.hub.typeq import TypeSelection

Entity = dict[str, Any]


class Busy(Enum):
    """The answer of a store call that cannot run on the event loop now (see get_on_loop)."""

    BUSY = 0


BUSY: Final = Busy.BUSY

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def one_transaction(func: F) -> F:
    """Mark ``func`` (a service call taking the store first) as one whose only database work
    is ``store.transaction`` blocks, no other store call: a store may then run it on the
    event loop (``HubStore.call_on_loop``)."""
    func.one_transaction = True  # type: ignore[attr-defined]
    return func


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


@dataclass(slots=True)
class Change:
    """One entity's change in a transaction: as it was loaded, and as it was written.

    ``before`` is None for an entity the transaction created; ``after`` is None for one it
    deleted. ``before`` is a shallow snapshot (its attribute lists are the loaded ones: the
    service replaces an attribute's list when it changes it, never edits it in place).
    """

    entity_id: str
    before: Entity | None
    after: Entity | None


@dataclass(slots=True)
class PreparedInsert:
    """The work of inserting new entities that a store did apart from the insert itself
    (SQLite's ``prepare_lane``, at the transaction's start, for the object-free lane, whose
    entities have no "attrs" until a listener needs them: ``Transaction.parse_unparsed``):
    the store's rows by entity id,
    and what each change listener with a ``prepare_lane`` hook made of them (a listener
    finds its own in ``Transaction.prepared``). The transaction uses a prepared row only for
    the very entity object it was made from."""

    rows: dict[str, Any]
    listeners: dict[object, Any] = field(default_factory=dict)


def _snapshot(entity: Entity) -> Entity:
    snap = dict(entity)
    snap["type"] = list(entity["type"])
    if "scope" in entity:
        snap["scope"] = list(entity["scope"])
    snap["attrs"] = dict(entity["attrs"])
    return snap


class Transaction(ABC):
    """Changes to one tenant's entities that commit together or not at all.

    Backends report what they load and write (``_loaded``, ``_wrote``, ``_removed``) so the
    store's change listeners (temporal history, the subscription outbox) can add their rows
    to the same transaction just before it commits.
    """

    tenant: str
    _before: dict[str, Entity]
    _after: dict[str, Entity | None]

    def _track(self) -> None:
        self._before = {}
        self._after = {}
        self.after_commit: list[Callable[[], None]] = []  # run once the COMMIT succeeded
        # The subscription version counter, if the backend read it along with the
        # transaction's first entity read (PostgreSQL: one round trip less per write); the
        # notification writer reads it itself when this is None.
        self.subscription_version: int | None = None
        # History rows (``cityos.hub.temporal.record.Row``) of readings a writer folded into
        # a later one of the same attribute in this transaction; the recorder keeps them too.
        self.extra_instances: list[Any] = []
        # SQLite: each entity this transaction wrote, its attributes as the JSON of its row
        # (the last write's), so the history writer splices change rows from that text
        self.attrs_json: dict[str, bytes] = {}
        # listener -> what its ``prepare_lane`` hook made for this transaction's inserts
        self.prepared: dict[object, Any] = {}
        # True while entities written here lack "attrs" (the lane's: their rows' JSON is in
        # attrs_json); parse_unparsed fills them in
        self.unparsed = False

    def parse_unparsed(self) -> None:
        """Give every entity written here without "attrs" (the object-free lane's) its
        attributes, parsed from its row's JSON, for a listener that reads them."""
        if not self.unparsed:
            return
        texts = self.attrs_json
        for entity_id, entity in self._after.items():
            if entity is not None and "attrs" not in entity:
                entity["attrs"] = orjson.loads(texts[entity_id])
        self.unparsed = False

    def _loaded(self, entity: Entity) -> None:
        if entity["id"] not in self._before and entity["id"] not in self._after:
            self._before[entity["id"]] = _snapshot(entity)

    def _wrote(self, entity: Entity) -> None:
        self._after[entity["id"]] = entity

    def _removed(self, entity_id: str) -> None:
        self._after[entity_id] = None

    def changes(self) -> list[Change]:
        """Return every entity this transaction wrote or deleted, in first-write order."""
        return [Change(i, self._before.get(i), after) for i, after in self._after.items()]

    @property
    @abstractmethod
    def backend(self) -> str:
        """Return "sqlite" or "postgresql" (listeners write backend-specific SQL)."""

    @property
    @abstractmethod
    def connection(self) -> Any:
        """Return the open database connection (sqlite3 or psycopg) of this transaction."""

    @property
    def prepared_connection(self) -> Any:
        """Return the connection for ``store._pg_prepared`` calls (PostgreSQL): unlike
        ``connection``, statements deferred on it may still be queued, to be sent with the
        next one."""
        return self.connection

    @abstractmethod
    def get_many(self, ids: list[str]) -> dict[str, Entity]:
        """Return the entities that exist among ``ids``, locked until the end."""

    @abstractmethod
    def peek_many(self, ids: list[str]) -> dict[str, Entity]:
        """Return the entities that exist among ``ids`` as this transaction sees them, without
        locking them or counting them as read for a change (a listener's lookup)."""

    @abstractmethod
    def insert(self, entities: list[Entity], prepared: PreparedInsert | None = None) -> None:
        """Insert new entities (their ids must not exist); ``prepared``: what the store
        made of them beforehand, if anything (SQLite's ``prepare_lane``)."""

    @abstractmethod
    def replace(self, entities: list[Entity], *, changed: Collection[str] | None = None) -> None:
        """Rewrite existing entities whole (types, scopes, attributes, geometries).

        ``changed``: the caller's promise that each entity differs from what this
        transaction read of it only in these attributes' instances and in modifiedAt (same
        types, scopes and attribute names): a backend may then write just those
        (PostgreSQL: an attribute PATCH's UPDATE). None: no such promise.
        """

    @abstractmethod
    def delete(self, ids: list[str]) -> None:
        """Delete existing entities."""


# Called with the transaction and its changes just before COMMIT; what it writes commits
# with the change, and an exception it raises rolls the whole transaction back. A listener
# object may also have ``wants_changes(tx) -> bool``: when False it is not called for ``tx``.
ChangeListener = Callable[[Transaction, list[Change]], None]


class HubStore(ABC):
    """A hub database: entities by tenant, queries, discovery and stored @contexts."""

    listeners: list[ChangeListener]

    def add_listener(self, listener: ChangeListener) -> None:
        """Run ``listener`` in every write transaction that changes an entity."""
        self.listeners.append(listener)

    @staticmethod
    def _after_commit(tx: Transaction) -> None:
        for callback in tx.after_commit:
            callback()

    def _before_commit(self, tx: Transaction) -> None:
        if self.listeners and tx._after:
            # The list of changes (a Change per entity) is made only for a listener that
            # wants it: a listener may have ``wants_changes(tx)``, False when it has nothing
            # to do with this transaction (the notification writer when no subscription
            # watches the tenant), which spares a batch of 1,000 entities 1,000 Changes.
            changes: list[Change] | None = None
            for listener in self.listeners:
                wants = getattr(listener, "wants_changes", None)
                if wants is not None and not wants(tx):
                    continue
                if changes is None:
                    changes = tx.changes()
                if tx.unparsed and not getattr(listener, "takes_unparsed", False):
                    tx.parse_unparsed()
                listener(tx, changes)

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
        """Stop the store's threads, waiting for the calls they run (SQLite: close does it
        first; PostgreSQL: after close, which ends the waits on its connections)."""
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

    async def call_on_loop(self, call: Callable[[], T]) -> T | Literal[Busy.BUSY]:
        """Run ``call`` on the event loop, its database waits awaited there, or answer BUSY.

        ``call`` is store code whose only database work is its transactions (a function
        marked with :func:`one_transaction`); BUSY: the store cannot (now), and the caller
        runs it in a thread.
        """
        return BUSY

    async def get_on_loop(self, tenant: str, entity_id: str) -> Entity | None | Literal[Busy.BUSY]:
        """Return one entity (None if none) read on the event loop itself, or BUSY.

        BUSY: the store cannot read there (now); the caller runs ``get`` as any store call.
        """
        return BUSY

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
    def contexts(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Return the stored @context records (id, url, kind, body, createdAt, tenant, …).

        With a tenant: only that tenant's and the shared ones (tenant NULL); else every one.
        """

    @abstractmethod
    def put_context(self, record: dict[str, Any]) -> None:
        """Store a @context record (raises AlreadyExists for a known url)."""

    @abstractmethod
    def delete_context(self, context_id: str) -> bool:
        """Delete a stored @context; return False if there was none."""

    @abstractmethod
    def count_context_hits(self, hits: Mapping[str, tuple[int, str]]) -> None:
        """Add (count, last use) to the numberOfHits and lastUsage of each @context URL."""


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
