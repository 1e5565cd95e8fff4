"""The SQLite store's connections: every write on one writer connection, reads on each
thread's own (store/sqlite.py: SQLite drops a connection's whole page cache when another
connection committed since its last transaction, so writers taking turns on their threads'
connections read every index page of a batch again)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityos.config import Settings
from cityos.db import upgrade
from cityos.hub.store.base import EntityQuery
from cityos.hub.store.sqlite import READER_CACHE_KIB, WRITER_CACHE_KIB, SQLiteStore

TENANT = "urn:ngsi-ld:tenant:writer"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    upgrade(Settings(database_url=f"sqlite:///{tmp_path}/hub.db"))
    opened = SQLiteStore(tmp_path / "hub.db")
    try:
        yield opened
    finally:
        opened.close()


def _entity(entity_id: str) -> dict[str, object]:
    now = "2026-12-02T00:00:00Z"
    return {
        "id": entity_id,
        "type": ["https://example.org/Sensor"],
        "createdAt": now,
        "modifiedAt": now,
        "attrs": {"https://example.org/v": [{"type": "Property", "value": 1}]},
    }


def test_writes_on_every_thread_use_one_connection(store: SQLiteStore) -> None:
    used: list[sqlite3.Connection] = []
    readers: list[sqlite3.Connection] = []

    def write(n: int) -> None:
        with store.transaction(TENANT) as tx:
            tx.insert([_entity(f"urn:ngsi-ld:Sensor:w{n}")])  # type: ignore[list-item]
            used.append(tx.connection)
        readers.append(store._conn())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(used) == 4
    assert all(conn is used[0] for conn in used)
    assert all(conn is not used[0] for conn in readers)  # reads outside: the thread's own
    assert len({id(conn) for conn in readers}) == 4
    ids = tuple(f"urn:ngsi-ld:Sensor:w{n}" for n in range(4))
    page = store.query(TENANT, EntityQuery(ids=ids, limit=4))
    assert sorted(e["id"] for e in page.entities) == list(ids)


def test_a_read_inside_a_transaction_sees_its_writes(store: SQLiteStore) -> None:
    with store.transaction(TENANT) as tx:
        tx.insert([_entity("urn:ngsi-ld:Sensor:own")])  # type: ignore[list-item]
        assert store._conn() is tx.connection
        (count,) = (
            store._conn()
            .execute("SELECT count(*) FROM hub_entities WHERE id = ?", ("urn:ngsi-ld:Sensor:own",))
            .fetchone()
        )
        assert count == 1
    assert store._conn() is not store._writer_conn()  # after it: the thread's reader again


def _fail_after_insert(store: SQLiteStore) -> None:
    with store.transaction(TENANT) as tx:
        tx.insert([_entity("urn:ngsi-ld:Sensor:gone")])  # type: ignore[list-item]
        raise RuntimeError("the request failed")


def test_a_failed_transaction_leaves_the_writer_usable(store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError):
        _fail_after_insert(store)
    assert store._conn() is not store._writer_conn()
    with store.transaction(TENANT) as tx:
        tx.insert([_entity("urn:ngsi-ld:Sensor:kept")])  # type: ignore[list-item]
    ids = {r[0] for r in store._conn().execute("SELECT id FROM hub_entities")}
    assert ids == {"urn:ngsi-ld:Sensor:kept"}


def test_the_writer_has_its_own_cache_size_and_reopens_after_close(store: SQLiteStore) -> None:
    writer = store._writer_conn()
    assert writer.execute("PRAGMA cache_size").fetchone() == (-WRITER_CACHE_KIB,)
    assert store._conn().execute("PRAGMA cache_size").fetchone() == (-READER_CACHE_KIB,)
    assert writer.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()
    with store.transaction(TENANT) as tx:
        tx.insert([_entity("urn:ngsi-ld:Sensor:again")])  # type: ignore[list-item]
        assert tx.connection is not writer
