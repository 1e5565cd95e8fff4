"""The in-memory subscription index: which subscriptions can a change concern, in O(1).

Subscriptions are compiled once (q, geoQ and scopeQ parsed, the @context resolved) and
filed by tenant → entity type → entity id (or any id) → watched attribute (or any). A
change looks up only the buckets of its entity's types, id and changed attributes, so the
cost of a write does not grow with the number of subscriptions that cannot match it
(benchmarks/subscription_bench.py). Subscriptions without ``entities`` (only
``watchedAttributes``) are filed under the attribute alone.

The index is current when its ``version`` equals the database's counter
(``hub_subscription_version``), which every subscription change raises in its own
transaction; the change listener compares the two in each write, so a subscription made by
another process sharing the database is seen by the next write here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cityos.hub.context import ActiveContext, ContextResolver
from cityos.hub.geo import GeoQuery, parse_geo_query
from cityos.hub.join import LinkedQuery
from cityos.hub.query.evaluate import compile_predicate
from cityos.hub.query.qlang import parse_q
from cityos.hub.query.scope import ScopeExpr, parse_scope_q, scope_matches
from cityos.hub.render import RenderOptions
from cityos.hub.subscriptions.repository import SubscriptionRow
from cityos.hub.typeq import TypeSelection, parse_type_selection
from cityos.observability import log

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Selector:
    """One member of ``entities``: a type (or a v1.8 type expression), maybe an id or pattern.

    ``types`` is the expression in disjunctive normal form; a plain type is one group of one.
    """

    types: TypeSelection
    id: str | None
    pattern: re.Pattern[str] | None

    @property
    def filed_under(self) -> set[str]:
        """Return the types to file the selector under: one of each AND-group (any entity
        the selector matches has at least that type)."""
        return {min(group) for group in self.types.groups}

    def matches(self, entity: dict[str, Any]) -> bool:
        """Return True if the entity is selected."""
        if not self.types.matches(entity["type"]):
            return False
        if self.id is not None:
            return bool(entity["id"] == self.id)
        return self.pattern is None or self.pattern.fullmatch(entity["id"]) is not None


@dataclass(slots=True)
class Compiled:
    """A subscription ready to be matched against changes and rendered."""

    tenant: str
    id: str
    body: dict[str, Any]
    selectors: tuple[Selector, ...]
    watched: frozenset[str] | None
    triggers: frozenset[str]
    q: Predicate | None
    geo: GeoQuery | None
    scope: ScopeExpr | None
    owner_types: frozenset[str] | None
    ctx: ActiveContext
    opts: RenderOptions
    show_changes: bool
    expires_at: datetime | None
    active: bool
    periodic: float | None  # timeInterval [s]
    throttling: float | None  # [s]
    endpoint: dict[str, Any] = field(default_factory=dict)
    last_notification: str | None = None
    linked: LinkedQuery | None = None  # notification.join / joinLevel (4.5.23)

    def may_read(self, types: Iterable[str]) -> bool:
        """Return True if the owner may read entities of ``types`` (linked entities too)."""
        return self.owner_types is None or not self.owner_types.isdisjoint(types)

    def live(self, now: datetime) -> bool:
        """Return True if the subscription notifies now (active and not expired)."""
        return self.active and (self.expires_at is None or now < self.expires_at)

    def selects(self, entity: dict[str, Any]) -> bool:
        """Return True if entity selectors, q, geoQ, scopeQ and the owner's rights all pass."""
        if self.selectors and not any(s.matches(entity) for s in self.selectors):
            return False
        if not self.may_read(entity["type"]):
            return False
        if self.q is not None and not self.q(entity):
            return False
        if self.scope is not None and not scope_matches(self.scope, entity.get("scope", [])):
            return False
        return self.geo is None or self.geo.entity_matches(entity)


def compile_row(row: SubscriptionRow, resolver: ContextResolver) -> Compiled:
    """Compile a stored subscription (its @context resolved through ``resolver``)."""
    body = row.body
    context = body.get("jsonldContext") or body.get("context")
    ctx = resolver.resolve(context)
    parse_ctx = resolver.resolve(body.get("context"))
    selectors = tuple(
        Selector(
            parse_type_selection(s["type"], str),
            s.get("id"),
            re.compile(s["idPattern"]) if "idPattern" in s and "id" not in s else None,
        )
        for s in body.get("entities", [])
    )
    geo_q = body.get("geoQ")
    geo = None
    if geo_q is not None:
        geo = parse_geo_query(
            geo_q["georel"],
            geo_q["geometry"],
            geo_q["coordinates"],
            geo_q.get("geoproperty"),
            expand=parse_ctx.expand,
        )
    note = body["notification"]
    attrs = note.get("attributes")
    expires = body.get("expiresAt")
    return Compiled(
        tenant=row.tenant,
        id=row.id,
        body=body,
        selectors=selectors,
        watched=frozenset(body["watchedAttributes"]) if "watchedAttributes" in body else None,
        triggers=frozenset(body["notificationTrigger"]),
        q=compile_predicate(parse_q(body["q"]).expanded(parse_ctx.expand)) if "q" in body else None,
        geo=geo,
        scope=parse_scope_q(body["scopeQ"]) if "scopeQ" in body else None,
        owner_types=row.owner_types,
        ctx=ctx,
        opts=RenderOptions(
            format=note["format"],
            sys_attrs=note.get("sysAttrs", False),
            lang=body.get("lang"),
            attrs=frozenset(attrs) if attrs else None,
            pick=frozenset(note["pick"]) if "pick" in note else None,
            omit=frozenset(note.get("omit", ())),
            datasets=_datasets(body.get("datasetId")),
        ),
        show_changes=note.get("showChanges", False),
        expires_at=None
        if expires is None
        else datetime.fromisoformat(expires.replace("Z", "+00:00")),
        active=body.get("isActive", True),
        periodic=body.get("timeInterval"),
        throttling=body.get("throttling"),
        endpoint=note["endpoint"],
        last_notification=row.last_notification,
        linked=LinkedQuery(note["join"], note["joinLevel"]) if "join" in note else None,
    )


def _datasets(dataset_ids: list[str] | None) -> frozenset[str | None] | None:
    """Return the datasetIds a notification keeps (None for ``@none``, the default one)."""
    if dataset_ids is None:
        return None
    return frozenset(None if d == "@none" else d for d in dataset_ids)


@dataclass(slots=True)
class _Bucket:
    """Subscriptions by watched attribute, and those watching every attribute."""

    by_attr: dict[str, list[Compiled]] = field(default_factory=dict)
    any_attr: list[Compiled] = field(default_factory=list)

    def add(self, sub: Compiled) -> None:
        if sub.watched is None:
            self.any_attr.append(sub)
        else:
            for attr in sub.watched:
                self.by_attr.setdefault(attr, []).append(sub)

    def collect(self, attrs: Iterable[str], into: dict[int, Compiled]) -> None:
        for sub in self.any_attr:
            into[id(sub)] = sub
        if self.by_attr:
            for attr in attrs:
                for sub in self.by_attr.get(attr, ()):
                    into[id(sub)] = sub


@dataclass(slots=True)
class _TypeIndex:
    by_id: dict[str, _Bucket] = field(default_factory=dict)
    any_id: _Bucket = field(default_factory=_Bucket)


@dataclass(slots=True)
class _TenantIndex:
    by_type: dict[str, _TypeIndex] = field(default_factory=dict)
    untyped: _Bucket = field(default_factory=_Bucket)
    subs: dict[str, Compiled] = field(default_factory=dict)

    def add(self, sub: Compiled) -> None:
        self.subs[sub.id] = sub
        if sub.periodic is not None:
            return  # periodic subscriptions never match changes
        if not sub.selectors:
            self.untyped.add(sub)
            return
        for sel in {(kind, s.id) for s in sub.selectors for kind in s.filed_under}:
            typed = self.by_type.setdefault(sel[0], _TypeIndex())
            if sel[1] is None:
                typed.any_id.add(sub)
            else:
                typed.by_id.setdefault(sel[1], _Bucket()).add(sub)


class SubscriptionIndex:
    """Every tenant's compiled subscriptions, filed for lookup by change."""

    def __init__(self, resolver: ContextResolver) -> None:
        self.resolver = resolver
        self.version = -1  # never loaded
        self._tenants: dict[str, _TenantIndex] = {}
        self.lock = threading.RLock()

    def load(self, rows: list[SubscriptionRow], version: int) -> None:
        """Replace the index with ``rows`` as of database ``version``."""
        tenants: dict[str, _TenantIndex] = {}
        for row in rows:
            try:
                sub = compile_row(row, self.resolver)
            except Exception as error:  # noqa: BLE001 - one broken row must not stop the rest
                log.error("subscription_unusable", id=row.id, tenant=row.tenant, error=str(error))
                continue
            tenants.setdefault(row.tenant, _TenantIndex()).add(sub)
        with self.lock:
            self._tenants = tenants
            self.version = version

    def add(self, sub: Compiled, version: int) -> None:
        """File one new subscription and move to ``version`` (the caller holds ``lock``)."""
        self._tenants.setdefault(sub.tenant, _TenantIndex()).add(sub)
        self.version = version

    def replace(self, tenant: str, sub_id: str, sub: Compiled | None, version: int) -> None:
        """Swap (or drop, for None) one subscription and move to ``version`` (caller locks).

        The tenant's buckets are re-filed from its compiled subscriptions: no recompiling.
        """
        old = self._tenants.get(tenant)
        rebuilt = _TenantIndex()
        for other in old.subs.values() if old is not None else ():
            if other.id != sub_id:
                rebuilt.add(other)
        if sub is not None:
            rebuilt.add(sub)
        self._tenants = {**self._tenants, tenant: rebuilt}
        self.version = version

    def watches(self, tenant: str) -> bool:
        """Return False when ``tenant`` has no subscription (its changes need no matching)."""
        return tenant in self._tenants

    def candidates(
        self, tenant: str, types: Iterable[str], entity_id: str, attrs: Iterable[str]
    ) -> list[Compiled]:
        """Return the subscriptions a change of these types, id and attributes may match."""
        index = self._tenants.get(tenant)
        if index is None:
            return []
        found: dict[int, Compiled] = {}
        attrs = list(attrs)
        for kind in types:
            typed = index.by_type.get(kind)
            if typed is None:
                continue
            typed.any_id.collect(attrs, found)
            exact = typed.by_id.get(entity_id)
            if exact is not None:
                exact.collect(attrs, found)
        index.untyped.collect(attrs, found)
        return list(found.values())

    def get(self, tenant: str, sub_id: str) -> Compiled | None:
        """Return one compiled subscription, or None."""
        index = self._tenants.get(tenant)
        return None if index is None else index.subs.get(sub_id)

    def periodic(self) -> list[Compiled]:
        """Return every periodic (timeInterval) subscription."""
        return [s for index in self._tenants.values() for s in index.subs.values() if s.periodic]

    def count(self) -> int:
        """Return how many subscriptions the index holds."""
        return sum(len(index.subs) for index in self._tenants.values())
