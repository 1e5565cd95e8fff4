"""The SSE stream of the live feed ends when cancelled, even as a message arrives.

Regression: ``stream`` waited with ``asyncio.wait_for(queue.get(), KEEP_ALIVE_S)``; on
Python 3.11 ``wait_for`` swallows a cancellation that arrives in the loop iteration where
the awaited get completed (CPython gh-86296): the generator returned the message instead of
ending, so a browser that left (or a server stopping) just as an event was queued kept its
stream going. The test makes that race deterministic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request

from cityos import db
from cityos.config import Settings
from cityos.hub.api._auth import Grant
from cityos.hub.context import ContextResolver
from cityos.hub.store import open_store
from cityos.web import live
from cityos.web.live import LiveFeed, stream
from tests.conftest import run_async

TENANT = "urn:ngsi-ld:tenant:default"


@pytest.fixture
def feed(settings: Settings) -> Iterator[LiveFeed]:
    db.upgrade(settings)
    store = open_store(settings)
    yield LiveFeed(store, ContextResolver(settings))
    store.close()


def request(disconnected: bool) -> Request:
    async def receive() -> dict[str, Any]:
        if disconnected:
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)  # the browser stays
        raise AssertionError("unreachable")

    return Request({"type": "http", "method": "GET", "path": "/web/live"}, receive)


def grant() -> Grant:
    return Grant(
        principal=None,
        tenant=TENANT,
        action="read",
        types=frozenset({"*"}),
        iris=frozenset({"*"}),
    )


@pytest.mark.backend("sqlite")  # the stream never touches the database
def test_a_cancellation_racing_a_message_ends_the_stream(feed: LiveFeed) -> None:
    async def race() -> tuple[bool, int]:
        subscriber = feed.subscribe(TENANT, grant())
        events = stream(request(disconnected=False), feed, subscriber)
        assert (await events.__anext__()).startswith(b"retry:")
        waiting = asyncio.create_task(events.__anext__())  # type: ignore[arg-type]
        await asyncio.sleep(0.01)  # it now waits on the empty queue
        subscriber.queue.put_nowait(b"event: entity\ndata: {}\n\n")  # wakes the get …
        waiting.cancel()  # … and the cancellation arrives in the same iteration
        try:
            await waiting
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False  # the message came back: the cancellation was lost
        await events.aclose()
        return cancelled, subscriber.queue.qsize()

    cancelled, left = run_async(race())
    assert cancelled
    assert left == 1  # the message was not taken from the queue by the cancelled wait
    assert not feed.subscribers  # the stream's end unsubscribed it


@pytest.mark.backend("sqlite")
def test_keep_alive_then_end_when_the_browser_left(
    feed: LiveFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "KEEP_ALIVE_S", 0.05)

    async def read(disconnected: bool) -> list[bytes]:
        subscriber = feed.subscribe(TENANT, grant())
        got = []
        async for message in stream(request(disconnected), feed, subscriber):
            got.append(message)
            if len(got) == 3:
                break
        return got

    stayed = run_async(read(disconnected=False))
    assert stayed[1:] == [b": keep-alive\n\n", b": keep-alive\n\n"]
    assert run_async(read(disconnected=True))[1:] == []  # no keep-alive after it left
    assert not feed.subscribers
