"""The app shuts down promptly while notifications are in flight or queued.

Regression: ``subscription_bench.py`` hung for ever on leaving ``TestClient(...)``: the
dispatcher's loop waited with ``asyncio.wait_for(event.wait(), poll)``, and on Python 3.11
``wait_for`` swallows a cancellation that arrives in the loop iteration after the event was
set (a delivery ending or a write committing just then), so the loop went on and
``Dispatcher.stop`` awaited it for ever. The tests queue notifications for 100 subscriptions
to a slow receiver, set the wake-up event exactly one loop iteration before the shutdown
(the losing race, made deterministic), and require the shutdown to return, and nothing
queued to be lost.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from cityos.hub.subscriptions.dispatcher import Dispatcher
from tests.hub.subscriptions.receiver import Receiver

HUB = "/ngsi-ld/v1"
SUBSCRIPTIONS = 100
WRITES = 5
BOUND = 30.0  # [s] a shutdown taking longer than this counts as hung


@pytest.fixture
def rx() -> Iterator[Receiver]:
    receiver = Receiver().start()
    receiver.delay = 0.02
    yield receiver
    receiver.stop()


def bounded(step: Callable[[], Any]) -> float:
    """Run ``step`` in a thread; return how long it took, or fail if it did not return."""
    started = time.monotonic()
    thread = threading.Thread(target=step, daemon=True)
    thread.start()
    thread.join(BOUND)
    assert not thread.is_alive(), f"the shutdown did not return within {BOUND:g} s"
    return time.monotonic() - started


def queue_notifications(client: TestClient, rx: Receiver, etype: str, first: bool) -> str:
    eid = f"urn:ngsi-ld:{etype}:1"
    if first:
        body = {"id": eid, "type": etype, "n": {"type": "Property", "value": -1}}
        assert client.post(f"{HUB}/entities", json=body).status_code == 201
        for _ in range(SUBSCRIPTIONS):
            sub = {
                "type": "Subscription",
                "entities": [{"type": etype}],
                "notificationTrigger": ["attributeUpdated"],
                "notification": {"endpoint": {"uri": rx.url}, "format": "keyValues"},
            }
            r = client.post(f"{HUB}/subscriptions", json=sub)
            assert r.status_code == 201, r.text
    for i in range(WRITES):
        patch = {"n": {"type": "Property", "value": i}}
        r = client.patch(f"{HUB}/entities/{eid}/attrs", json=patch)
        assert r.status_code == 204, r.text
    rx.wait_for(len(rx.received) + 1, timeout=5)  # deliveries are under way
    return eid


async def wake_then_stop(dispatcher: Dispatcher) -> None:
    dispatcher._event.set()  # what a commit or an ending delivery does
    await asyncio.sleep(0)  # the loop's event wait completes in this iteration …
    await dispatcher.stop()  # … and the cancellation arrives in the next


def test_stop_right_after_a_wake_up(settings: Settings, rx: Receiver) -> None:
    etype = f"T{uuid.uuid4().hex[:8]}"
    cycles = 3
    for cycle in range(cycles):
        client = TestClient(create_app(settings))
        client.__enter__()
        eid = queue_notifications(client, rx, etype, first=cycle == 0)
        dispatcher = client.app.state.notifications  # type: ignore[attr-defined]
        assert client.portal is not None
        took = bounded(partial(client.portal.call, wake_then_stop, dispatcher))
        assert took < 10, took  # sends in flight are abandoned, not waited for
        bounded(partial(client.__exit__, None, None, None))  # the lifespan stops it again
    rx.delay = 0
    with TestClient(create_app(settings)):  # a last app delivers what the others left
        expected = SUBSCRIPTIONS * cycles * WRITES
        deadline = time.monotonic() + 60
        distinct: set[str] = set()
        while len(distinct) < expected and time.monotonic() < deadline:
            rx.wait_for(len(rx.received) + 1, timeout=0.5)
            distinct = {n["id"] for n in rx.received if n["data"][0]["id"] == eid}
        assert len(distinct) == expected


def test_shutdown_as_deliveries_end(settings: Settings, rx: Receiver) -> None:
    """What the benchmark did: leave the app the moment the last notifications arrived."""
    rx.delay = 0
    etype = f"T{uuid.uuid4().hex[:8]}"
    for cycle in range(3):
        client = TestClient(create_app(settings))
        client.__enter__()
        before = len(rx.received)
        queue_notifications(client, rx, etype, first=cycle == 0)
        rx.wait_for(before + SUBSCRIPTIONS * WRITES, timeout=30)
        took = bounded(partial(client.__exit__, None, None, None))
        assert took < 10, took
