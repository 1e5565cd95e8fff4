"""Live updates for the web app: hub changes pushed to browsers as Server-Sent Events.

The feed is fed by **hub subscriptions** (the transactional outbox), not by polling the
database and not by an in-process hook, so a change written by any process sharing the
database reaches the browsers of every process:

- When the first browser of a tenant connects, this process creates an NGSI-LD subscription
  in that tenant (id ``urn:ngsi-ld:Subscription:cityos-web-live:<process>:<tenant hash>``) for
  every entity type of the map's layers, normalized, with the core @context. Its endpoint is
  this process's own ``POST /web/live/notify`` (at the address the browser's connection came
  in on) with a random per-process secret in ``receiverInfo``. It expires after
  ``EXPIRES_S``, is renewed while browsers are connected and deleted when the process stops
  (a crashed process's subscriptions expire; the next process to start removes them).
- Every write, in any process, matches it and queues a notification row in the same
  transaction (so only committed changes are sent). This process's dispatcher delivers its
  own rows **in process** (``Dispatcher.local``: no HTTP hop) as soon as the writing
  transaction commits; when another process's dispatcher holds the delivery lease it POSTs
  the notification to the notify route, which checks the secret. A write made by another
  process reaches the browsers within a dispatcher poll interval (1 s) at most.
- Each notified entity is rendered once per map layer of its type (with the layer's
  ``@context``, keyValues, as a GeoJSON feature) and copied to every connected browser of the
  tenant that may read it.

``GET /web/live?tenant=…`` is the stream (``text/event-stream``): one ``event: entity`` per
change, ``data`` = ``{"layer", "id", "type", "feature"}`` or ``{"layer", "id", "deleted":
true}``; a comment every 15 s keeps proxies from closing it. Access is the hub's read rule for
the tenant (cookie session, bearer token or API key); a caller whose grant covers some entity
types only gets the events of those types. A browser that falls more than ``MAX_QUEUE``
events behind is disconnected (its EventSource reconnects and the page reloads its layers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from cityos.hub._time import utc_now
from cityos.hub.api._auth import Grant
from cityos.hub.context import ActiveContext, ContextResolver
from cityos.hub.errors import AlreadyExists, ResourceNotFound
from cityos.hub.geojson import feature
from cityos.hub.model import NGSI_LD, expand_entity, expand_types
from cityos.hub.render import RenderOptions, render_entity
from cityos.hub.store.base import Change, HubStore
from cityos.hub.subscriptions import notification_writer, repository, schema, service
from cityos.hub.subscriptions.dispatcher import Dispatcher, LocalSender
from cityos.observability import log
from cityos.web.layers import Layer, layers

MAX_QUEUE = 20_000
KEEP_ALIVE_S = 15.0
KEY_VALUES = RenderOptions(format="keyValues")
LOCATION = NGSI_LD + "location"
Event = tuple[frozenset[str], bytes]  # the entity's expanded types, the SSE message
SECRET_HEADER = "X-CityOS-Live-Secret"
SUBSCRIPTION_PREFIX = "urn:ngsi-ld:Subscription:cityos-web-live:"
OWNER = "cityos:web-live"
EXPIRES_S = 900.0  # [s] a subscription's lifetime; renewed while browsers are connected
RENEW_S = 300.0  # [s] renewed when a browser connects this long after the last renewal
NOTIFY_PATH = "/web/live/notify"


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
    """Fan-out of hub notifications to the connected browsers (one per application)."""

    def __init__(
        self, store: HubStore, resolver: ContextResolver, dispatcher: Dispatcher | None = None
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.resolver = resolver
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[Subscriber] = set()
        self._layers: list[tuple[Layer, ActiveContext, str]] | None = None
        self.process = uuid.uuid4().hex[:12]
        self.secret = secrets.token_urlsafe(32)
        self.endpoint: str | None = None  # this process's notify URL, from the first browser
        self._renewed: dict[str, float] = {}  # tenant -> monotonic time of the last renewal
        self._tenants: dict[str, str] = {}  # subscription id -> tenant
        self._lock: asyncio.Lock | None = None
        self._renewer: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on ``loop`` (the server's event loop) from now on."""
        self.loop = loop
        self._lock = asyncio.Lock()
        self._renewer = loop.create_task(self._renew_forever(), name="cityos-web-live-renew")

    def close(self) -> None:
        """End every stream (the application is stopping)."""
        for subscriber in list(self.subscribers):
            subscriber.queue.put_nowait(None)
        self.subscribers.clear()
        self.loop = None
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None

    def subscribe(self, tenant: str, grant: Grant) -> Subscriber:
        """Register a browser for the changes of ``tenant`` that ``grant`` lets it read."""
        subscriber = Subscriber(tenant, grant)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a browser (its stream ended)."""
        self.subscribers.discard(subscriber)

    # --- this process's hub subscriptions ---------------------------------------------------

    def subscription_id(self, tenant: str) -> str:
        """Return the id of this process's subscription in ``tenant``."""
        digest = hashlib.sha256(tenant.encode()).hexdigest()[:12]
        return f"{SUBSCRIPTION_PREFIX}{self.process}:{digest}"

    def _body(self, tenant: str) -> dict[str, Any]:
        assert self.endpoint is not None
        types = sorted({type_iri for _, _, type_iri in self._layer_types()})
        expires = datetime.now(UTC) + timedelta(seconds=EXPIRES_S)
        raw = {
            "id": self.subscription_id(tenant),
            "type": "Subscription",
            "subscriptionName": "CityOS web map live feed",
            "description": f"Live map updates of CityOS process {self.process} (docs/web.md)",
            "entities": [{"type": t} for t in types],
            "notificationTrigger": ["entityCreated", "entityUpdated", "entityDeleted"],
            "expiresAt": expires.isoformat().replace("+00:00", "Z"),
            "notification": {
                "format": "normalized",
                "endpoint": {
                    "uri": self.endpoint,
                    "accept": "application/json",
                    "receiverInfo": [{"key": SECRET_HEADER, "value": self.secret}],
                },
            },
        }
        return schema.validate(raw, self.resolver.core)

    async def ensure(self, tenant: str, endpoint: str) -> None:
        """Make sure this process is subscribed to ``tenant``'s map changes (create or renew)."""
        assert self._lock is not None, "LiveFeed.start() was not called"
        async with self._lock:
            if self.endpoint is None:
                self.endpoint = endpoint
                if self.dispatcher is not None:  # our own rows: delivered without HTTP
                    self.dispatcher.local[endpoint] = LocalSender(self.deliver)
                await asyncio.to_thread(self.remove_expired)
            renewed = self._renewed.get(tenant)
            if renewed is not None and time.monotonic() - renewed < RENEW_S:
                return
            await asyncio.to_thread(self._put, tenant)
            self._renewed[tenant] = time.monotonic()
            self._tenants[self.subscription_id(tenant)] = tenant

    async def _renew_forever(self) -> None:
        """Renew the subscriptions of the tenants with connected browsers before they expire."""
        while True:
            await asyncio.sleep(RENEW_S / 5)
            assert self._lock is not None
            for tenant in {s.tenant for s in self.subscribers}:
                renewed = self._renewed.get(tenant, 0.0)
                if self.endpoint is None or time.monotonic() - renewed < RENEW_S:
                    continue
                try:
                    async with self._lock:
                        await asyncio.to_thread(self._put, tenant)
                        self._renewed[tenant] = time.monotonic()
                except Exception:  # noqa: BLE001 - retried at the next tick
                    log.warning("web_live_renew_failed", tenant=tenant)

    def _put(self, tenant: str) -> None:
        writer = notification_writer(self.store)
        assert writer is not None
        body = self._body(tenant)
        try:
            service.create(
                self.store, writer.index, tenant=tenant, body=body, owner=OWNER, owner_types=None
            )
        except AlreadyExists:
            service.replace(self.store, writer.index, tenant=tenant, body=body)

    def unsubscribe_all(self) -> None:
        """Delete this process's subscriptions (blocking; the application is stopping)."""
        writer = notification_writer(self.store)
        if writer is None:
            return
        for sub_id, tenant in list(self._tenants.items()):
            try:
                service.delete(self.store, writer.index, tenant=tenant, sub_id=sub_id)
            except ResourceNotFound:
                pass
            except Exception:  # noqa: BLE001 - stopping: the subscription expires anyway
                log.warning("web_live_unsubscribe_failed", subscription=sub_id)
        self._tenants.clear()
        self._renewed.clear()

    def remove_expired(self) -> None:
        """Delete the web-live subscriptions of processes that stopped without cleaning up."""
        writer = notification_writer(self.store)
        if writer is None:
            return
        with repository.reading(self.store) as db:
            rows = repository.load_all(db)
        now = datetime.now(UTC)
        for row in rows:
            ours = row.id.startswith(SUBSCRIPTION_PREFIX)
            if ours and schema.status_of(row.body, now) == "expired":
                with contextlib.suppress(ResourceNotFound):
                    service.delete(self.store, writer.index, tenant=row.tenant, sub_id=row.id)

    # --- notifications (on the event loop) --------------------------------------------------

    def owns(self, secret: str | None) -> bool:
        """Return True when ``secret`` is this process's notify secret (constant time)."""
        return secret is not None and hmac.compare_digest(secret.encode(), self.secret.encode())

    def deliver(self, payload: bytes) -> None:
        """Fan one NGSI-LD Notification out to the browsers of its subscription's tenant.

        Raises ``BadRequestData`` (or ``KeyError``/``ValueError``) for a body that is not a
        notification of normalized entities.
        """
        note = json.loads(payload)
        tenant = self._tenants.get(note.get("subscriptionId", ""))
        if tenant is None:
            return  # not (or no longer) one of this process's subscriptions
        deleted = note.get("triggerReason") == "entityDeleted"
        core = self.resolver.core
        events: list[Event] = []
        for data in note.get("data", ()):
            if deleted or "deletedAt" in data:
                gone = {"id": data["id"], "type": expand_types(data["type"], core), "attrs": {}}
                change = Change(data["id"], gone, None)
            else:
                entity = expand_entity(data, core, now=utc_now())
                change = Change(entity["id"], None, entity)
            events.extend(self.events(change))
        if events:
            self._fanout(tenant, events)

    def _layer_types(self) -> list[tuple[Layer, ActiveContext, str]]:
        if self._layers is None:
            found = []
            for layer in layers():
                if layer.source == "entities":
                    ctx = self.resolver.resolve(layer.query.get("context") or None)
                    found.append((layer, ctx, ctx.expand(layer.query["type"])))
            self._layers = found
        return self._layers

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
            # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the message and
            # swallows a cancellation (the browser left, the server stops) that arrives in
            # the loop iteration where the message was queued (CPython gh-86296), and the
            # stream then went on; see docs/hub/subscriptions.md, "Shutdown".
            try:
                async with asyncio.timeout(KEEP_ALIVE_S):
                    message = await subscriber.queue.get()
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
