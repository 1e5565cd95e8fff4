"""The PostgreSQL store reads one entity on the event loop, over connections of its own."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cityos.hub.store._pg_loop import LoopReader
from cityos.hub.store._pg_prepared import Statement
from cityos.hub.store.base import BUSY
from tests.conftest import run_async
from tests.hub.test_api_entities import BASE, H

pytestmark = pytest.mark.backend("postgresql")

SLEEP = Statement(b"test_loop_sleep", b"SELECT pg_sleep($1::float8), 'slept'")
DIVIDE = Statement(b"test_loop_divide", b"SELECT 10 / $1::int")


def settle(reader: LoopReader, idle: int) -> None:
    """Wait until ``reader`` has ``idle`` idle connections (they open in a thread)."""
    deadline = time.monotonic() + 30
    while len(reader._idle) < idle:
        assert time.monotonic() < deadline, "the loop reader's connection never opened"
        time.sleep(0.01)


@pytest.fixture
def reader(database_url: str) -> Iterator[LoopReader]:
    with ThreadPoolExecutor(2) as pool:
        made = LoopReader(
            lambda: psycopg.Connection.connect(database_url, autocommit=True),
            [SLEEP, DIVIDE],
            lambda: pool,
            size=1,
        )
        yield made
        made.close()


def value(result: Any) -> bytes:
    assert result is not BUSY
    return bytes(result.get_value(0, 1 if result.nfields > 1 else 0))


def test_reads_answer_busy_until_a_connection_is_open_then_run_on_the_loop(
    reader: LoopReader,
) -> None:
    assert run_async(reader.run(DIVIDE, [b"5"])) is BUSY  # and one connection opens
    settle(reader, 1)
    assert value(run_async(reader.run(DIVIDE, [b"5"]))) == b"2"
    assert value(run_async(reader.run(SLEEP, [b"0"]))) == b"slept"
    assert len(reader._idle) == 1
    assert reader._opened == 1


def test_all_connections_busy_a_read_waits_for_one_without_opening_more(
    reader: LoopReader,
) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)

    async def two_at_once() -> list[Any]:
        return await asyncio.gather(reader.run(SLEEP, [b"0.2"]), reader.run(DIVIDE, [b"1"]))

    slept, divided = run_async(two_at_once())
    assert value(slept) == b"slept"
    assert value(divided) == b"10"  # on the same connection, once the first read ended
    assert reader._opened == 1  # size 1: no second connection
    assert len(reader._idle) == 1
    assert not reader._waiters


def test_reads_waiting_for_a_connection_are_served_in_turn(reader: LoopReader) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)

    async def many() -> list[Any]:
        return await asyncio.gather(
            reader.run(SLEEP, [b"0.05"]),
            *(reader.run(DIVIDE, [str(n).encode()]) for n in (1, 2, 5)),
        )

    slept, *divided = run_async(many())
    assert value(slept) == b"slept"
    assert [value(r) for r in divided] == [b"10", b"5", b"2"]
    assert reader._opened == 1
    assert len(reader._idle) == 1


def test_a_cancelled_waiting_read_leaves_the_connection_to_the_next(reader: LoopReader) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(reader.run(SLEEP, [b"0.1"]))
        await asyncio.sleep(0)
        gone = asyncio.ensure_future(reader.run(DIVIDE, [b"1"]))
        last = asyncio.ensure_future(reader.run(DIVIDE, [b"2"]))
        await asyncio.sleep(0.01)
        gone.cancel()
        return await asyncio.gather(first, last)

    slept, divided = run_async(scenario())
    assert value(slept) == b"slept"
    assert value(divided) == b"5"
    assert reader._opened == 1
    assert len(reader._idle) == 1
    assert value(run_async(reader.run(DIVIDE, [b"5"]))) == b"2"


def test_a_waiting_read_answers_busy_when_the_busy_connection_is_dropped(
    reader: LoopReader,
) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)

    async def scenario() -> Any:
        first = asyncio.ensure_future(reader.run(SLEEP, [b"5"]))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(reader.run(DIVIDE, [b"1"]))
        await asyncio.sleep(0.05)
        first.cancel()  # mid-statement: its connection is closed
        return await waiting

    assert run_async(scenario()) is BUSY  # the caller reads in a thread
    assert reader._opened == 0
    assert not reader._waiters


def test_closing_the_reader_sends_waiting_reads_to_the_threads(reader: LoopReader) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(reader.run(SLEEP, [b"0.2"]))
        await asyncio.sleep(0)
        waiting = asyncio.ensure_future(reader.run(DIVIDE, [b"1"]))
        await asyncio.sleep(0.05)
        reader.close()
        return await asyncio.gather(first, waiting)

    slept, busy = run_async(scenario())
    assert value(slept) == b"slept"
    assert busy is BUSY
    assert reader._opened == 0  # the busy one closed when its read ended
    assert not reader._idle


def test_a_connection_is_handed_to_a_read_waiting_on_another_loop(reader: LoopReader) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)
    started = threading.Event()

    async def holder() -> Any:
        task = asyncio.ensure_future(reader.run(SLEEP, [b"0.3"]))
        await asyncio.sleep(0)
        started.set()
        return await task

    async def other() -> Any:
        started.wait(10)
        await asyncio.sleep(0.05)
        assert not reader._idle  # the holder's loop has it
        return await reader.run(DIVIDE, [b"2"])

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(run_async, holder())
        waited = pool.submit(run_async, other())
        assert value(held.result(10)) == b"slept"
        assert value(waited.result(10)) == b"5"
    assert reader._opened == 1
    assert len(reader._idle) == 1


def test_an_error_result_raises_as_psycopg_and_keeps_the_connection(reader: LoopReader) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)
    with pytest.raises(psycopg.errors.DivisionByZero):
        run_async(reader.run(DIVIDE, [b"0"]))
    assert value(run_async(reader.run(DIVIDE, [b"2"]))) == b"5"


def test_a_cancelled_read_closes_its_connection(reader: LoopReader) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)

    async def cancelled() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.run(SLEEP, [b"5"]), timeout=0.2)

    run_async(cancelled())
    # its result would have come in the next read's place: the connection is gone
    assert reader._opened == 0
    assert not reader._idle
    assert run_async(reader.run(DIVIDE, [b"1"])) is BUSY
    settle(reader, 1)
    assert value(run_async(reader.run(DIVIDE, [b"2"]))) == b"5"


def test_a_connection_the_server_ended_answers_busy_and_is_replaced(
    reader: LoopReader, database_url: str
) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)
    with psycopg.connect(database_url, autocommit=True) as admin:
        pid = reader._idle[0].info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))  # waits for its end
    assert run_async(reader.run(DIVIDE, [b"1"])) is BUSY  # the caller reads in a thread
    assert reader._opened == 0
    assert run_async(reader.run(DIVIDE, [b"1"])) is BUSY  # opens a new one
    settle(reader, 1)
    assert value(run_async(reader.run(DIVIDE, [b"2"]))) == b"5"


def test_a_closed_reader_answers_busy_and_opens_nothing(reader: LoopReader) -> None:
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)
    reader.close()
    assert reader._opened == 0
    assert not reader._idle
    assert run_async(reader.run(DIVIDE, [b"1"])) is BUSY
    assert reader._opened == 0


def test_get_by_id_on_the_loop_sees_the_latest_write_and_none_for_others(
    client: TestClient,
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    entity = {
        "id": "urn:ngsi-ld:Sensor:loop-1",
        "type": "Sensor",
        "temperature": {"type": "Property", "value": 1},
    }
    assert client.post(f"{BASE}/entities", headers=H, json=entity).status_code == 201
    client.get(f"{BASE}/entities/{entity['id']}", headers=H)  # opens the loop's connections
    settle(store.loop_reader, 1)
    for n in range(2, 5):
        r = client.patch(
            f"{BASE}/entities/{entity['id']}/attrs/temperature", headers=H, json={"value": n}
        )
        assert r.status_code == 204, r.text
        r = client.get(f"{BASE}/entities/{entity['id']}", headers=H)
        assert r.status_code == 200
        assert r.json()["temperature"]["value"] == n
    found = run_async(store.get_on_loop("urn:ngsi-ld:tenant:default", entity["id"]))
    assert found is not BUSY
    assert found["attrs"]
    assert found == store.get("urn:ngsi-ld:tenant:default", entity["id"])
    assert run_async(store.get_on_loop("urn:ngsi-ld:tenant:default", "urn:x:none")) is None
    assert run_async(store.get_on_loop("other-tenant", entity["id"])) is None
    r = client.get(f"{BASE}/entities/urn:ngsi-ld:Sensor:none", headers=H)
    assert r.status_code == 404
    assert r.json()["type"].endswith("ResourceNotFound")


def test_a_connection_read_on_two_live_loops_in_turn_keeps_answering(reader: LoopReader) -> None:
    """Each read watches the socket on its own loop; the loop that watched it before stops
    (in its own thread) unless it watches it again by then."""
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)
    loops = [asyncio.new_event_loop() for _ in range(2)]
    threads = [threading.Thread(target=loop.run_forever, daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        for turn in range(6):
            loop = loops[turn % 2]
            answer = asyncio.run_coroutine_threadsafe(reader.run(DIVIDE, [b"2"]), loop)
            assert value(answer.result(timeout=10)) == b"5"
        assert reader._opened == 1
    finally:
        for loop in loops:
            loop.call_soon_threadsafe(loop.stop)
        for thread in threads:
            thread.join(10)
        for loop in loops:
            loop.close()


def test_every_waiting_read_answers_busy_when_the_busy_connection_is_dropped(
    reader: LoopReader,
) -> None:
    """No read is left waiting for a connection that will not come back."""
    run_async(reader.run(DIVIDE, [b"1"]))
    settle(reader, 1)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(reader.run(SLEEP, [b"5"]))
        await asyncio.sleep(0)
        waiting = [asyncio.ensure_future(reader.run(DIVIDE, [b"1"])) for _ in range(3)]
        await asyncio.sleep(0.05)
        first.cancel()  # mid-statement: its connection, the only one, is closed
        return await asyncio.wait_for(asyncio.gather(*waiting), timeout=10)

    assert run_async(scenario()) == [BUSY, BUSY, BUSY]
    assert reader._opened == 0
    assert not reader._waiters


def test_after_a_failed_open_no_connection_is_tried_until_the_wait_is_over(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that refuses (down, restarting, no hub tables) costs one failed connect
    per wait, doubling, not one per request; requests take the threaded path meanwhile."""
    from cityos.hub.store import _pg_loop

    monkeypatch.setattr(_pg_loop, "RETRY_FIRST", 1.0)
    attempts: list[float] = []

    def connect() -> psycopg.Connection[Any]:
        attempts.append(time.monotonic())
        if len(attempts) <= 2:
            raise psycopg.OperationalError("refused (test) / 거부됨(테스트)")
        return psycopg.Connection.connect(database_url, autocommit=True)

    def tried(count: int) -> None:
        deadline = time.monotonic() + 10
        while made._opening or len(attempts) < count:
            assert time.monotonic() < deadline, "the open was never tried"
            time.sleep(0.01)

    def until(moment: float) -> None:
        time.sleep(max(0.0, moment - time.monotonic()))

    with ThreadPoolExecutor(2) as pool:
        made = LoopReader(connect, [DIVIDE], lambda: pool, size=1)
        try:
            assert run_async(made.run(DIVIDE, [b"1"])) is BUSY  # tries, fails
            tried(1)
            for _ in range(5):  # within the first wait (1 s): no new attempt
                assert run_async(made.run(DIVIDE, [b"1"])) is BUSY
            assert len(attempts) == 1
            until(attempts[0] + 1.2)
            assert run_async(made.run(DIVIDE, [b"1"])) is BUSY  # tries again, fails
            tried(2)
            assert made._retry_wait == pytest.approx(2.0)  # doubled
            until(attempts[1] + 1.0)
            assert run_async(made.run(DIVIDE, [b"1"])) is BUSY
            assert len(attempts) == 2  # within the doubled wait
            until(attempts[1] + 2.2)
            run_async(made.run(DIVIDE, [b"1"]))  # tries a third time: it opens
            settle(made, 1)
            assert value(run_async(made.run(DIVIDE, [b"2"]))) == b"5"
            assert made._retry_wait == 0.0  # reset once one opened
        finally:
            made.close()
