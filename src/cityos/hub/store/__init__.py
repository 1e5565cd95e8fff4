"""Hub storage: one interface (``base.HubStore``), a SQLite and a PostgreSQL implementation."""

from __future__ import annotations

from cityos.config import Settings
from cityos.hub.store.base import EntityQuery, HubStore, QueryPage, Transaction


def open_store(settings: Settings) -> HubStore:
    """Return the store the settings' database URL selects (migrations must have run).

    With ``temporal_history`` on (the default) every write also keeps its attribute
    instances in the temporal tables, in the same transaction. Every write also queues the
    notifications of the subscriptions it matches (the outbox), in the same transaction.
    """
    store: HubStore
    if settings.backend == "sqlite":
        from cityos.hub.store.sqlite import SQLiteStore

        store = SQLiteStore(settings.sqlite_path)
    else:
        from cityos.hub.store.postgres import PostgresStore

        store = PostgresStore(settings.database_url, pool_size=settings.pool_size)
    if settings.temporal_history:
        from cityos.hub.temporal import TemporalRecorder

        store.add_listener(TemporalRecorder())
    from cityos.hub.context import ContextResolver
    from cityos.hub.subscriptions import add_notification_writer

    add_notification_writer(store, ContextResolver(settings))
    return store


__all__ = ["EntityQuery", "HubStore", "QueryPage", "Transaction", "open_store"]
