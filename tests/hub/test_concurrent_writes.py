"""Concurrent writers (two stores, as two processes would have) lose no update: each
read-modify-write of an entity is atomic, and its history commits with it."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.db import upgrade
from cityos.hub import service
from cityos.hub.context import ContextResolver
from cityos.hub.store import open_store
from cityos.hub.temporal._db import read_db
from tests.conftest import run_async
from tests.hub.test_api_entities import BASE

H = {"NGSILD-Tenant": "concurrent"}
ENTITY = "urn:ngsi-ld:Sensor:twin-writers"
CORE = "https://uri.etsi.org/ngsi-ld/default-context/"
ROUNDS = 40


def test_two_writers_patching_one_entity_lose_no_update(
    client: TestClient, settings: Settings
) -> None:
    body = {
        "id": ENTITY,
        "type": "Sensor",
        "a": {"type": "Property", "value": 0},
        "b": {"type": "Property", "value": 0},
    }
    assert client.post(f"{BASE}/entities", json=body, headers=H).status_code == 201
    stores = [open_store(settings), open_store(settings)]
    ctx = ContextResolver(settings).core
    tenant = H["NGSILD-Tenant"]

    def writer(store_and_attr: tuple[int, str]) -> None:
        index, attr = store_and_attr
        for value in range(1, ROUNDS + 1):
            service.patch_attribute(stores[index], tenant, ENTITY, attr, {"value": value}, ctx)

    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(writer, [(0, "a"), (1, "b")]))
        entity = client.get(f"{BASE}/entities/{ENTITY}", headers=H).json()
        # a lost update would leave one attribute at an older value
        assert (entity["a"]["value"], entity["b"]["value"]) == (ROUNDS, ROUNDS)
        with read_db(stores[0]) as db:
            rows = db.rows(
                "SELECT t.attr, count(*) FROM hub_temporal_instances t "
                "JOIN hub_temporal_entities s ON s.pk = t.entity WHERE s.tenant = %s "
                "AND s.entity_id = %s GROUP BY t.attr",
                [tenant, ENTITY],
            )
        counts = {attr.removeprefix(CORE): int(n) for attr, n in rows}
        assert counts == {"a": ROUNDS + 1, "b": ROUNDS + 1}  # creation, then every PATCH
    finally:
        for store in stores:
            store.close()


def test_closing_a_sqlite_store_waits_for_the_statement_its_thread_steps(
    tmp_path: Path,
) -> None:
    """A store call still running on the store's threads (a subscription delivery whose
    bounded stop gave up waiting) finishes before close() closes the connection it steps
    a statement on: closing it under the statement can crash the process."""
    url = f"sqlite:///{tmp_path}/close.db"
    settings = Settings(database_url=url, seed_city=False, jobs="off")
    upgrade(settings)
    store = open_store(settings)
    started = threading.Event()
    count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
    count += "SELECT count(*) FROM c"

    def long_statement() -> int:
        conn = store._conn()  # type: ignore[attr-defined]
        started.set()
        return int(conn.execute(count, (2_000_000,)).fetchone()[0])

    future = store.executor.submit(long_statement)
    assert started.wait(5)
    time.sleep(0.05)  # the statement is stepping
    store.close()
    assert future.done()
    assert future.result() == 2_000_000


@pytest.mark.backend("sqlite")
def test_a_sqlite_write_waits_for_a_held_write_lock_off_the_event_loop(
    client: TestClient,
) -> None:
    """A one-entity write runs inline on the loop, but not while another writer (a batch,
    the roll-up fold) holds SQLite's write lock: it then waits in a store thread, and the
    loop goes on answering other requests meanwhile."""
    entity = "urn:ngsi-ld:Sensor:held-lock"
    body = {"id": entity, "type": "Sensor", "a": {"type": "Property", "value": 0}}
    assert client.post(f"{BASE}/entities", json=body, headers=H).status_code == 201
    store = client.app.state.store  # type: ignore[attr-defined]
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.transaction(H["NGSILD-Tenant"]):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(5)

    async def scenario() -> tuple[int, int, bool]:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            url = f"{BASE}/entities/{entity}"
            patch = asyncio.ensure_future(
                http.patch(f"{url}/attrs/a", json={"value": 1}, headers=H)
            )
            await asyncio.sleep(0.05)
            read = await asyncio.wait_for(http.get(url, headers=H), 5)  # the loop is free
            waiting = not patch.done()  # the PATCH still waits for the lock, in a thread
            release.set()
            written = await asyncio.wait_for(patch, 10)
            return read.status_code, written.status_code, waiting

    try:
        read, written, waiting = run_async(scenario())
    finally:
        release.set()
        thread.join(10)
    assert (read, written, waiting) == (200, 204, True)
    assert client.get(f"{BASE}/entities/{entity}", headers=H).json()["a"]["value"] == 1
