"""Hub storage: one interface (``base.HubStore``), a SQLite and a PostgreSQL implementation."""

from __future__ import annotations

from cityos.config import Settings
from cityos.hub.store.base import EntityQuery, HubStore, QueryPage, Transaction


def open_store(settings: Settings) -> HubStore:
    """Return the store the settings' database URL selects (migrations must have run)."""
    if settings.backend == "sqlite":
        from cityos.hub.store.sqlite import SQLiteStore

        return SQLiteStore(settings.sqlite_path)
    from cityos.hub.store.postgres import PostgresStore

    return PostgresStore(settings.database_url, pool_size=settings.pool_size)


__all__ = ["EntityQuery", "HubStore", "QueryPage", "Transaction", "open_store"]
