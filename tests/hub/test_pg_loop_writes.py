"""PostgreSQL one-entity writes run on the event loop in a greenlet, their waits awaited.

What must hold: the write's result is the threaded path's; the loop keeps serving other
work while a write waits (a row lock, a slow statement); two writes on one loop that want
the same row take turns instead of deadlocking the loop; an error rolls back and leaves a
clean connection; a cancelled request's write still ends, done or not at all; and the HTTP
API takes this path for PATCH and the other one-entity writes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.hub import service
from cityos.hub.context import ContextResolver
from cityos.hub.errors import ResourceNotFound
from cityos.hub.store import open_store
from cityos.hub.store._greenlet import await_, in_loop_greenlet, run_in_greenlet
from cityos.hub.store.base import BUSY, HubStore
from cityos.hub.store.postgres import PostgresStore
from tests.conftest import run_async
from tests.hub.test_api_entities import BASE
from tests.hub.test_pg_loop import settle

pytestmark = pytest.mark.backend("postgresql")

H = {"NGSILD-Tenant": "green"}

TENANT = "green"
CORE = "https://uri.etsi.org/ngsi-ld/default-context/"


@pytest.fixture
def store(client: TestClient, settings: Settings) -> Iterator[PostgresStore]:
    """A store on the module's migrated database, with two loop connections open."""
    global CTX
    CTX = ContextResolver(settings).core
    opened = open_store(settings)
    assert isinstance(opened, PostgresStore)
    try:
        assert run_async(opened.call_on_loop(lambda: None)) is BUSY  # and one opens
        settle(opened.loop_reader, 1)
        run_async(_two_at_once(opened))  # and a second one opens
        settle(opened.loop_reader, 2)
        yield opened
    finally:
        opened.close()
        opened.shutdown_executor()


async def _two_at_once(store: HubStore) -> None:
    await asyncio.gather(store.call_on_loop(lambda: None), store.call_on_loop(lambda: None))


CTX: Any = None  # the core context's expander, set by the store fixture


def _ctx() -> Any:
    return CTX


def _create(store: HubStore, entity_id: str, value: int = 0) -> None:
    body = {"id": entity_id, "type": "Sensor", "temperature": {"type": "Property", "value": value}}
    service.create_entity(store, TENANT, body, _ctx())


def _temperature(store: HubStore, entity_id: str) -> Any:
    found = store.get(TENANT, entity_id)
    assert found is not None
    return found["attrs"][CORE + "temperature"][0]["value"]


def test_a_write_runs_in_a_greenlet_on_the_loop_thread_and_commits(store: PostgresStore) -> None:
    seen: dict[str, Any] = {}

    def call() -> str:
        seen["thread"] = threading.current_thread().name
        seen["greenlet"] = in_loop_greenlet()
        _create(store, "urn:ngsi-ld:Sensor:green-1", 7)
        return "done"

    async def scenario() -> Any:
        seen["loop thread"] = threading.current_thread().name
        return await store.call_on_loop(call)

    assert run_async(scenario()) == "done"
    assert seen["thread"] == seen["loop thread"]  # no thread hop
    assert seen["greenlet"] is True
    assert _temperature(store, "urn:ngsi-ld:Sensor:green-1") == 7
    assert len(store.loop_reader._idle) == 2  # both connections back, clean


def test_the_loop_keeps_running_while_a_write_waits_on_the_database(store: PostgresStore) -> None:
    """A slow statement inside the transaction (psycopg's own execute on the connection)
    is awaited: a ticker on the same loop keeps ticking meanwhile."""

    def slow() -> None:
        with store.transaction(TENANT) as tx:
            tx.connection.execute("SELECT pg_sleep(0.3)")

    async def scenario() -> int:
        ticks = 0
        done = asyncio.ensure_future(store.call_on_loop(slow))
        while not done.done():
            ticks += 1
            await asyncio.sleep(0.01)
        assert await done is None
        return ticks

    assert run_async(scenario()) >= 10  # ~30 turns of 10 ms; a blocked loop gives 1


def test_two_writes_on_one_loop_wanting_one_row_take_turns(store: PostgresStore) -> None:
    """The first holds the row lock across an awaited pause; the second's lock wait is
    awaited too, so the first can finish: no deadlock of the loop, both writes land."""
    entity_id = "urn:ngsi-ld:Sensor:green-lock"
    _create(store, entity_id, 0)
    order: list[str] = []

    def first() -> None:
        with store.transaction(TENANT) as tx:
            entity = tx.get_many([entity_id])[entity_id]
            order.append("first locked")
            await_(asyncio.sleep(0.2))  # the second starts and waits for the row
            entity["attrs"][CORE + "temperature"][0]["value"] = 1
            tx.replace([entity])
        order.append("first committed")

    def second() -> None:
        body = {"value": 2}
        service.patch_attribute(store, TENANT, entity_id, "temperature", body, _ctx())
        order.append("second committed")

    async def scenario() -> None:
        one = asyncio.ensure_future(store.call_on_loop(first))
        await asyncio.sleep(0.05)
        two = asyncio.ensure_future(store.call_on_loop(second))
        assert await asyncio.wait_for(asyncio.gather(one, two), 10) == [None, None]

    run_async(scenario())
    assert order == ["first locked", "first committed", "second committed"]
    assert _temperature(store, entity_id) == 2


def test_an_error_rolls_back_and_the_connection_is_reused_clean(store: PostgresStore) -> None:
    entity_id = "urn:ngsi-ld:Sensor:green-error"
    _create(store, entity_id, 5)

    def failing() -> None:
        with store.transaction(TENANT) as tx:
            entity = tx.get_many([entity_id])[entity_id]
            entity["attrs"][CORE + "temperature"][0]["value"] = 6
            tx.replace([entity])
            tx.connection.execute("SELECT 1 / 0")

    with pytest.raises(psycopg.errors.DivisionByZero):
        run_async(store.call_on_loop(failing))
    assert _temperature(store, entity_id) == 5  # nothing of it committed
    assert store.loop_reader._opened == 2
    assert len(store.loop_reader._idle) == 2  # rolled back: kept, not dropped

    def missing() -> None:
        service.patch_attribute(store, TENANT, "urn:x:none", "temperature", {"value": 1}, _ctx())

    with pytest.raises(ResourceNotFound):
        run_async(store.call_on_loop(missing))
    assert run_async(store.call_on_loop(lambda: _create(store, "urn:ngsi-ld:Sensor:g2"))) is None
    assert _temperature(store, "urn:ngsi-ld:Sensor:g2") == 0


def test_a_deferred_statement_error_surfaces_at_commit_and_rolls_back(
    store: PostgresStore,
) -> None:
    """A PATCH's UPDATE is deferred to COMMIT's pipeline (``_pg_prepared``): its error is
    raised there, on the loop as in a thread, and the entity stays as it was."""
    entity_id = "urn:ngsi-ld:Sensor:green-deferred"
    _create(store, entity_id, 3)

    def bad_update() -> None:
        with store.transaction(TENANT) as tx:
            entity = tx.get_many([entity_id])[entity_id]
            # jsonb refuses a NUL character, which Python and orjson carry
            entity["attrs"][CORE + "temperature"][0]["value"] = "a\u0000b"
            tx.replace([entity], changed=(CORE + "temperature",))

    with pytest.raises(psycopg.errors.UntranslatableCharacter):
        run_async(store.call_on_loop(bad_update))
    assert _temperature(store, entity_id) == 3
    assert len(store.loop_reader._idle) == 2


def test_a_cancelled_request_still_finishes_its_write(store: PostgresStore) -> None:
    entity_id = "urn:ngsi-ld:Sensor:green-cancel"
    _create(store, entity_id, 0)
    finished = threading.Event()

    def slow_patch() -> None:
        with store.transaction(TENANT) as tx:
            tx.connection.execute("SELECT pg_sleep(0.2)")
        service.patch_attribute(store, TENANT, entity_id, "temperature", {"value": 9}, _ctx())
        finished.set()

    async def scenario() -> None:
        request = asyncio.ensure_future(store.call_on_loop(slow_patch))
        await asyncio.sleep(0.05)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        deadline = time.monotonic() + 10
        while not finished.is_set():  # the shielded call goes on on this loop
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)

    run_async(scenario())
    assert _temperature(store, entity_id) == 9
    settle(store.loop_reader, 2)


def test_outside_a_loop_greenlet_the_loop_connection_waits_as_usual(
    store: PostgresStore,
) -> None:
    """A loop connection used from a thread (the reader's own prepare, a test) blocks as
    any psycopg connection; ``await_`` outside a greenlet is refused."""
    conn = store.loop_reader._idle[0]
    assert conn.execute("SELECT 41 + 1").fetchone() == (42,)
    with pytest.raises(RuntimeError, match="loop greenlet"):
        await_(asyncio.sleep(0))

    async def nested() -> int:
        return await run_in_greenlet(lambda: await_(asyncio.sleep(0, result=5)), None)

    assert run_async(nested()) == 5


def test_http_writes_take_the_loop_path(client: TestClient, monkeypatch: Any) -> None:
    """PATCH (and the other one-entity writes) go through ``call_on_loop`` once a loop
    connection is open, and answer as before."""
    app_store = client.app.state.store  # type: ignore[attr-defined]
    calls: list[str] = []
    original = app_store.call_on_loop

    async def spy(call: Any) -> Any:
        result = await original(call)
        calls.append(call.func.__name__ if result is not BUSY else "busy")
        return result

    monkeypatch.setattr(app_store, "call_on_loop", spy)
    entity = {"id": "urn:ngsi-ld:Sensor:green-http", "type": "Sensor"}
    entity["temperature"] = {"type": "Property", "value": 1}  # type: ignore[assignment]
    assert client.post(f"{BASE}/entities", headers=H, json=entity).status_code == 201
    client.get(f"{BASE}/entities/{entity['id']}", headers=H)
    settle(app_store.loop_reader, 1)
    url = f"{BASE}/entities/{entity['id']}/attrs/temperature"
    for n in range(2, 6):
        assert client.patch(url, headers=H, json={"value": n}).status_code == 204
    assert (
        client.get(f"{BASE}/entities/{entity['id']}", headers=H).json()["temperature"]["value"] == 5
    )
    assert (
        client.patch(url, headers=H, json={"value": "x", "type": "Relationship"}).status_code == 400
    )
    assert client.delete(f"{BASE}/entities/{entity['id']}", headers=H).status_code == 204
    assert calls.count("patch_attribute") >= 4
    assert "delete_entity" in calls
