"""Live updates for the web app: committed hub changes pushed to browsers as Server-Sent Events.

A :class:`LiveFeed` is a change listener of the hub store (``HubStore.add_listener``), the same
in-process hook the temporal history and the subscription outbox use: it sees every write
transaction's changes just before COMMIT and queues an ``after_commit`` callback, so only
committed changes are pushed, at once, and nothing polls the database. The callback renders
each changed entity once per map layer of its type (layer registry, with the layer's
``@context``, as a GeoJSON feature in keyValues form) and hands the events to the event loop,
which copies them to the queue of every connected browser of that tenant that may read them.

``GET /web/live?tenant=…`` is the stream (``text/event-stream``): one ``event: entity`` per
change, ``data`` = ``{"layer", "id", "type", "feature"}`` or ``{"layer", "id", "deleted":
true}``; a comment every 15 s keeps proxies from closing it. Access is the hub's read rule for
the tenant (cookie session, bearer token or API key); a caller whose grant covers some entity
types only gets the events of those types. A browser that falls more than ``MAX_QUEUE``
events behind is disconnected (its EventSource reconnects and reloads nothing it missed:
the page reloads its layers on reconnect).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from cityos.hub.api._auth import Grant
from cityos.hub.context import ActiveContext, ContextResolver
from cityos.hub.geojson import feature
from cityos.hub.model import NGSI_LD
from cityos.hub.render import RenderOptions, render_entity
from cityos.hub.store.base import Change, HubStore, Transaction
from cityos.web.layers import Layer, layers

MAX_QUEUE = 20_000
KEEP_ALIVE_S = 15.0
KEY_VALUES = RenderOptions(format="keyValues")
LOCATION = NGSI_LD + "location"
Event = tuple[frozenset[str], bytes]  # the entity's expanded types, the SSE message


@dataclass(eq=False)
class Subscriber:
    """One connected browser: its tenant, what it may read, and its queue of messages."""

    tenant: str
    grant: Grant
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUE))

    def may_read(self, types: frozenset[str]) -> bool:
        """Return True when the grant covers one of the entity's expanded types."""
        return self.grant.every_type or not types.isdisjoint(self.grant.iris)


class LiveFeed:
    """Fan-out of committed hub changes to the connected browsers (one per application)."""

    def __init__(self, store: HubStore, resolver: ContextResolver) -> None:
        self.resolver = resolver
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[Subscriber] = set()
        self._layers: list[tuple[Layer, ActiveContext, str]] | None = None
        store.add_listener(self._listen)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on ``loop`` (the server's event loop) from now on."""
        self.loop = loop

    def close(self) -> None:
        """End every stream (the application is stopping)."""
        for subscriber in list(self.subscribers):
            subscriber.queue.put_nowait(None)
        self.subscribers.clear()
        self.loop = None

    def subscribe(self, tenant: str, grant: Grant) -> Subscriber:
        """Register a browser for the changes of ``tenant`` that ``grant`` lets it read."""
        subscriber = Subscriber(tenant, grant)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a browser (its stream ended)."""
        self.subscribers.discard(subscriber)

    # --- in the writer's thread -------------------------------------------------------------

    def _listen(self, tx: Transaction, changes: list[Change]) -> None:
        """Change listener: after the COMMIT, publish the transaction's changes."""
        if not self.subscribers or self.loop is None:
            return  # nobody is watching: no work on the write path
        tenant = tx.tenant
        tx.after_commit.append(lambda: self._committed(tenant, changes))

    def _layer_types(self) -> list[tuple[Layer, ActiveContext, str]]:
        if self._layers is None:
            found = []
            for layer in layers():
                if layer.source == "entities":
                    ctx = self.resolver.resolve(layer.query.get("context") or None)
                    found.append((layer, ctx, ctx.expand(layer.query["type"])))
            self._layers = found
        return self._layers

    def _committed(self, tenant: str, changes: list[Change]) -> None:
        events = [event for change in changes for event in self.events(change)]
        loop = self.loop
        if events and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fanout, tenant, events)

    def events(self, change: Change) -> list[Event]:
        """Return the SSE messages of one change: one per map layer of the entity's type."""
        entity = change.after or change.before
        if entity is None:
            return []
        types = frozenset(entity["type"])
        out: list[Event] = []
        for layer, ctx, type_iri in self._layer_types():
            if type_iri not in types:
                continue
            body: dict[str, Any] = {"layer": layer.id, "id": change.entity_id}
            if change.after is None:
                body["deleted"] = True
            else:
                rendered = render_entity(change.after, ctx, KEY_VALUES)
                if not layer.matches(rendered):
                    continue  # another layer of the type draws it (the page moves it there)
                body["type"] = layer.query["type"]
                body["feature"] = feature(change.after, rendered, LOCATION, ctx)
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            out.append((types, f"event: entity\ndata: {data}\n\n".encode()))
        return out

    # --- on the event loop ------------------------------------------------------------------

    def _fanout(self, tenant: str, events: list[Event]) -> None:
        for subscriber in list(self.subscribers):
            if subscriber.tenant != tenant:
                continue
            for types, message in events:
                if not subscriber.may_read(types):
                    continue
                if subscriber.queue.qsize() >= MAX_QUEUE - 1:
                    self.unsubscribe(subscriber)  # too slow: end its stream, it reconnects
                    subscriber.queue.put_nowait(None)
                    break
                subscriber.queue.put_nowait(message)


async def stream(request: Request, feed: LiveFeed, subscriber: Subscriber) -> AsyncIterator[bytes]:
    """Yield the SSE messages of one browser until it disconnects or the feed ends it."""
    try:
        yield b"retry: 2000\n: connected\n\n"
        while True:
            try:
                message = await asyncio.wait_for(subscriber.queue.get(), KEEP_ALIVE_S)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            if message is None:
                return
            yield message
    finally:
        feed.unsubscribe(subscriber)
