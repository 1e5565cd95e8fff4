"""Match each committed change against the subscriptions and write notifications to the outbox.

``NotificationWriter`` is a store change listener (``HubStore.add_listener``): it runs just
before COMMIT, inside the writing transaction, so a notification row exists exactly when its
change committed (the transactional outbox). Triggers (GS CIM 009 v1.8, 5.2.12):

- a new entity: ``entityCreated``, and ``attributeCreated`` for each of its attributes;
- a deleted entity: ``entityDeleted``;
- an updated entity: ``attributeCreated`` / ``attributeUpdated`` / ``attributeDeleted`` per
  attribute, and ``entityUpdated`` if any attribute changed.

A subscription with ``watchedAttributes`` only considers those attributes. ``q``, ``geoQ``
and ``scopeQ`` are evaluated on the entity as written (as it was, for a deletion).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from cityos.hub._time import utc_now
from cityos.hub.errors import TooManyResults
from cityos.hub.join import link_entities
from cityos.hub.model import NULL_URI
from cityos.hub.render import render_entity, render_instance
from cityos.hub.store.base import Change, Entity, HubStore, Transaction
from cityos.hub.subscriptions import repository
from cityos.hub.subscriptions.index import Compiled, SubscriptionIndex
from cityos.observability import log

# Most specific first: the reason a notification reports when several triggers fire.
_REASONS = (
    "entityCreated",
    "entityDeleted",
    "attributeCreated",
    "attributeDeleted",
    "attributeUpdated",
    "entityUpdated",
)
_PREVIOUS = {
    "Property": ("value", "previousValue"),
    "GeoProperty": ("value", "previousValue"),
    "Relationship": ("object", "previousObject"),
    "LanguageProperty": ("languageMap", "previousLanguageMap"),
    "VocabProperty": ("vocab", "previousVocab"),
    "JsonProperty": ("json", "previousJson"),
    "ListProperty": ("valueList", "previousValueList"),
}


class Events:
    """What one change did: entity-level events and the attributes created/updated/deleted."""

    __slots__ = ("created", "deleted", "entity", "kind", "touched", "updated")

    def __init__(self, change: Change) -> None:
        before, after = change.before, change.after
        self.created: set[str] = set()
        self.updated: set[str] = set()
        self.deleted: set[str] = set()
        if before is None:
            assert after is not None
            self.kind = "entityCreated"
            self.entity = after
            self.created = set(after["attrs"])
        elif after is None:
            self.kind = "entityDeleted"
            self.entity = before
            self.deleted = set(before["attrs"])
        else:
            self.kind = "entityUpdated"
            self.entity = after
            old, new = before["attrs"], after["attrs"]
            for name, instances in new.items():
                previous = old.get(name)
                if previous is None:
                    self.created.add(name)
                elif previous is not instances and previous != instances:
                    self.updated.add(name)
            self.deleted = set(old) - set(new)
        self.touched = self.created | self.updated | self.deleted

    def reason(self, sub: Compiled) -> str | None:
        """Return the trigger that makes ``sub`` notify this change, or None."""
        watched = sub.watched
        triggers = sub.triggers

        def seen(names: set[str]) -> bool:
            return bool(names) if watched is None else not watched.isdisjoint(names)

        fired = set()
        if self.kind == "entityCreated":
            fired.add("entityCreated")
            if seen(self.created):
                fired.add("attributeCreated")
        elif self.kind == "entityDeleted":
            fired.add("entityDeleted")
        else:
            if seen(self.created):
                fired.add("attributeCreated")
            if seen(self.updated):
                fired.add("attributeUpdated")
            if seen(self.deleted):
                fired.add("attributeDeleted")
            if seen(self.touched):
                fired.add("entityUpdated")
        for reason in _REASONS:
            if reason in fired and reason in triggers:
                return reason
        return None


def _null_attribute(kind: str, fmt: str) -> Any:
    """Return a deleted attribute as NGSI-LD Null of its own type (its value member)."""
    if fmt == "keyValues":
        return NULL_URI
    if kind == "LanguageProperty":
        return {"type": "LanguageProperty", "languageMap": {"@none": NULL_URI}}
    if kind in ("Relationship", "GeoProperty", "VocabProperty", "JsonProperty"):
        return {"type": kind, _PREVIOUS[kind][0]: NULL_URI}
    return {"type": "Property", "value": NULL_URI}


def _deleted_attribute(sub: Compiled, instances: list[dict[str, Any]], now: str) -> Any:
    """Return a deleted attribute for a notification: NGSI-LD Null, with its previous value
    when the subscription shows changes (5.2.12 showChanges: "in case of modifications and
    deletions") and its system attributes and ``deletedAt`` when it asks for sysAttrs."""
    opts = sub.opts
    kind = instances[0]["type"]
    out = _null_attribute(kind, opts.format)
    if not isinstance(out, dict):
        return out
    member = _PREVIOUS.get(kind)
    if len(instances) == 1 and (opts.sys_attrs or (sub.show_changes and member)):
        previous = render_instance(instances[0], sub.ctx, opts)
        if isinstance(previous, dict):
            if sub.show_changes and member is not None and member[0] in previous:
                out[member[1]] = previous[member[0]]
            for key in ("createdAt", "modifiedAt"):
                if key in previous:
                    out[key] = previous[key]
    if opts.sys_attrs:
        out["deletedAt"] = now
    return out


def render_change(sub: Compiled, change: Change, events: Events, now: str) -> dict[str, Any]:
    """Return the entity a notification of ``change`` carries, in the subscription's format."""
    ctx, opts = sub.ctx, sub.opts
    wanted = opts.attrs
    if events.kind == "entityDeleted":
        entity = events.entity
        types = [ctx.compact(t) for t in entity["type"]]
        out: dict[str, Any] = {"id": entity["id"], "type": types[0] if len(types) == 1 else types}
        if opts.sys_attrs:
            for key in ("createdAt", "modifiedAt"):
                if entity.get(key):
                    out[key] = entity[key]
        out["deletedAt"] = now
        # the attributes the subscription names; with showChanges every one, each with the
        # value it had (there is nothing else to show the previous values on)
        shown = wanted if wanted is not None else entity["attrs"] if sub.show_changes else ()
        for name in shown:
            if name in entity["attrs"]:
                out[ctx.compact(name)] = _deleted_attribute(sub, entity["attrs"][name], now)
        return out
    entity = events.entity
    out = render_entity(entity, ctx, opts)
    before = change.before
    for name in events.deleted:
        if wanted is None or name in wanted:
            assert before is not None
            out[ctx.compact(name)] = _deleted_attribute(sub, before["attrs"][name], now)
    if sub.show_changes and before is not None and opts.format != "keyValues":
        for name in events.updated:
            if wanted is not None and name not in wanted:
                continue
            old, new = before["attrs"][name], entity["attrs"][name]
            if len(old) != 1 or len(new) != 1:
                continue  # several datasetIds: no single previous value to show
            member = _PREVIOUS.get(old[0]["type"])
            rendered = out.get(ctx.compact(name))
            if member is None or not isinstance(rendered, dict):
                if member is not None and opts.format == "concise":
                    rendered = {"value": rendered}
                    out[ctx.compact(name)] = rendered
                else:
                    continue
            previous = render_instance(old[0], ctx, opts)
            if isinstance(previous, dict):
                rendered[member[1]] = previous.get(member[0])
            else:
                rendered[member[1]] = previous
    return out


def with_linked(
    sub: Compiled,
    entity: Entity,
    rendered: dict[str, Any],
    fetch: Callable[[list[str]], Iterable[Entity]] | None = None,
    store: HubStore | None = None,
) -> list[dict[str, Any]]:
    """Return a notification's data for ``entity``: its rendering with the linked entities
    its subscription's ``join`` asks for (4.5.23) — inline in it, or flat after it.

    Linked entities are read with ``fetch`` (in the writing transaction) or from ``store``,
    in the subscription's tenant, and only of types its owner may read. A join too large to
    answer (TooManyResults) sends the entity without them: a notification never fails the
    write that caused it.
    """
    linked = sub.linked
    if linked is None:
        return [rendered]
    pairs = [(entity, rendered)]
    try:
        extra = link_entities(
            store, sub.tenant, pairs, sub.ctx, sub.opts, linked,
            expand=sub.ctx.expand, may_read=sub.may_read, fetch=fetch,
        )  # fmt: skip
    except TooManyResults:
        log.warning("notification_join_too_large", subscription=sub.id, entity=entity["id"])
        return [rendered]
    return [rendered, *(r for _, r in extra)]


def notification(sub: Compiled, data: list[dict[str, Any]], reason: str | None) -> dict[str, Any]:
    """Return a Notification (5.2.14) with a new unique id (receivers de-duplicate by it)."""
    note: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": sub.id,
        "notifiedAt": utc_now(),
        "data": data,
    }
    if reason is not None:
        note["triggerReason"] = reason
    return note


class NotificationWriter:
    """The change listener that writes matching notifications into ``hub_outbox``."""

    def __init__(self, index: SubscriptionIndex, wake: Callable[[], None] | None = None) -> None:
        self.index = index
        self.wake = wake  # called after a COMMIT that queued notifications

    def refresh(self, db: repository.Db, current: int | None = None) -> None:
        """Reload the index if the database's subscription version (``current``, else
        read from ``db``) moved."""
        if current is None:
            current = repository.version(db)
        if current != self.index.version:
            with self.index.lock:
                if current != self.index.version:
                    self.index.load(repository.load_all(db), current)

    def wants_changes(self, tx: Transaction) -> bool:
        """Return False when no subscription can match a change of ``tx`` (its tenant has
        none), after reloading the index if the subscription version moved; the store then
        neither lists the changes nor calls the writer. The version read is kept on ``tx``,
        so the call that follows does not read it again. With the version already read
        and the index current it touches no connection: on PostgreSQL ``tx.connection``
        would send the statements deferred until COMMIT (``store._pg_prepared``), a round
        trip more per write."""
        version = tx.subscription_version
        if version is None or version != self.index.version:
            db = repository.Db(tx.connection, tx.backend)
            if version is None:
                tx.subscription_version = version = repository.version(db)
            self.refresh(db, version)
        return self.index.watches(tx.tenant)

    def __call__(self, tx: Transaction, changes: list[Change]) -> None:
        """Queue a notification for every (matching subscription, change) of ``tx``."""
        db = repository.Db(tx.connection, tx.backend)
        self.refresh(db, tx.subscription_version)
        tenant = tx.tenant
        if not self.index.watches(tenant):
            return  # no subscription can match: skip working out each change's events
        rows = []
        now = datetime.now(UTC)
        stamp = utc_now()

        def peek(ids: list[str]) -> Iterable[Entity]:  # linked entities, as this tx sees them
            return tx.peek_many(ids).values()

        for change in changes:
            entity = change.after if change.after is not None else change.before
            assert entity is not None
            events = Events(change)
            if not events.touched and events.kind == "entityUpdated":
                continue
            attrs = events.touched or entity["attrs"].keys()
            for sub in self.index.candidates(tenant, entity["type"], change.entity_id, attrs):
                if not sub.live(now):
                    continue
                reason = events.reason(sub)
                if reason is None or not sub.selects(events.entity):
                    continue
                rendered = render_change(sub, change, events, stamp)
                if change.after is None:  # a deletion: no linked entities (docs)
                    data = [rendered]
                else:
                    data = with_linked(sub, change.after, rendered, fetch=peek)
                body = notification(sub, data, reason)
                rows.append((tenant, sub.id, change.entity_id, orjson.dumps(body), stamp))
        if rows:
            repository.enqueue(db, rows)
            if self.wake is not None:
                tx.after_commit.append(self.wake)
