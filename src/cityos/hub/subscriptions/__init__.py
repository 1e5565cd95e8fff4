"""NGSI-LD subscriptions with at-least-once notification delivery (docs/hub/subscriptions.md).

``schema`` checks bodies, ``service`` stores them, ``index`` files them for matching,
``matcher`` writes notifications into the outbox inside each write transaction, and
``dispatcher`` delivers the outbox over HTTP and MQTT.
"""

from __future__ import annotations

from cityos.hub.context import ContextResolver
from cityos.hub.store.base import HubStore
from cityos.hub.subscriptions.index import SubscriptionIndex
from cityos.hub.subscriptions.matcher import NotificationWriter


def notification_writer(store: HubStore) -> NotificationWriter | None:
    """Return the store's notification writer (None if it has none)."""
    for listener in store.listeners:
        if isinstance(listener, NotificationWriter):
            return listener
    return None


def add_notification_writer(store: HubStore, resolver: ContextResolver) -> NotificationWriter:
    """Make every write of ``store`` queue the notifications it triggers (once per store)."""
    writer = notification_writer(store)
    if writer is None:
        # Subscriptions may name @contexts stored through /jsonldContexts: a process that
        # writes without the API (the CLI, ingestion) must know them too.
        for record in store.contexts():
            resolver.add_stored(record["url"], record["body"])
        writer = NotificationWriter(SubscriptionIndex(resolver))
        store.add_listener(writer)
    return writer


__all__ = [
    "NotificationWriter",
    "SubscriptionIndex",
    "add_notification_writer",
    "notification_writer",
]
