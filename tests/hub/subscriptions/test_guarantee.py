"""The delivery guarantee: nothing is lost while the receiver is down or the hub restarts.

Each test runs its own CityOS apps on the module's database (both backends) and a real HTTP
receiver on a local port that the test stops and starts again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from tests.hub.subscriptions.receiver import Receiver

HUB = "/ngsi-ld/v1"
ENTITIES = 4


@pytest.fixture
def rx() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def setup_entities(client: TestClient, etype: str) -> list[str]:
    ids = [f"urn:ngsi-ld:{etype}:{n}" for n in range(ENTITIES)]
    for eid in ids:
        body = {"id": eid, "type": etype, "count": {"type": "Property", "value": -1}}
        assert client.post(f"{HUB}/entities", json=body).status_code == 201
    return ids


def subscribe(client: TestClient, url: str, etype: str) -> str:
    body = {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notificationTrigger": ["attributeUpdated"],
        "notification": {"endpoint": {"uri": url}, "format": "keyValues"},
    }
    r = client.post(f"{HUB}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    return str(r.headers["location"].rsplit("/", 1)[1])


def write_updates(client: TestClient, ids: list[str], count: int) -> None:
    """Write ``count`` updates round-robin over ``ids``; update i sets count=i."""
    for i in range(count):
        r = client.patch(
            f"{HUB}/entities/{ids[i % len(ids)]}/attrs",
            json={"count": {"type": "Property", "value": i}},
        )
        assert r.status_code == 204, r.text


def check_complete(received: list[dict[str, Any]], sub_id: str, ids: list[str], count: int) -> None:
    """Every update arrived once (after de-duplication by id), in order per entity."""
    mine = [n for n in received if n["subscriptionId"] == sub_id]
    unique: dict[str, dict[str, Any]] = {}
    for note in mine:
        unique.setdefault(note["id"], note)
    assert len(unique) == count, f"{len(unique)} distinct notifications of {count}"
    per_entity: dict[str, list[int]] = {eid: [] for eid in ids}
    for note in mine:  # arrival order, duplicates included
        for entity in note["data"]:
            values = per_entity[entity["id"]]
            if not values or values[-1] != entity["count"]:  # a repeat is not a reordering
                values.append(entity["count"])
    for n, eid in enumerate(ids):
        assert per_entity[eid] == list(range(n, count, len(ids))), eid


def wait_for(rx: Receiver, sub_id: str, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = {n["id"] for n in rx.received if n["subscriptionId"] == sub_id}
        if len(mine) >= count:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # anything extra (a duplicate, a stray) would show now
    return list(rx.received)


@pytest.mark.slow
def test_receiver_down_during_1000_updates_gets_them_all(settings: Settings, rx: Receiver) -> None:
    etype = f"G{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(settings)) as client:
        ids = setup_entities(client, etype)
        sub_id = subscribe(client, rx.url, etype)
        rx.stop()  # the receiver is down: connection refused
        write_updates(client, ids, 1000)
        time.sleep(1.0)
        stats = client.get(f"{HUB}/subscriptions/{sub_id}").json()["notification"]
        assert stats["timesFailed"] >= 1
        assert stats["timesSent"] == 0
        rx.start()  # back, on the same port
        received = wait_for(rx, sub_id, 1000, timeout=90)
        check_complete(received, sub_id, ids, 1000)
        time.sleep(0.3)
        stats = client.get(f"{HUB}/subscriptions/{sub_id}").json()["notification"]
        assert stats["timesSent"] >= 1000
        assert stats["status"] == "ok"


@pytest.mark.slow
def test_restart_between_write_and_delivery_loses_nothing(settings: Settings, rx: Receiver) -> None:
    etype = f"R{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(settings)) as first:
        ids = setup_entities(first, etype)
        sub_id = subscribe(first, rx.url, etype)
        rx.stop()
        write_updates(first, ids, 200)
    # the first app is gone with 200 undelivered notifications; the receiver comes back
    rx.start()
    with TestClient(create_app(settings)) as second:
        received = wait_for(rx, sub_id, 200, timeout=30)
        check_complete(received, sub_id, ids, 200)
        stats = second.get(f"{HUB}/subscriptions/{sub_id}").json()
        assert stats["status"] == "active"


def test_a_subscription_made_in_another_process_is_honoured_at_once(
    settings: Settings, rx: Receiver
) -> None:
    etype = f"P{uuid.uuid4().hex[:8]}"
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        ids = setup_entities(one, etype)
        one.get(f"{HUB}/entities/{ids[0]}")  # both apps have their index loaded
        two.get(f"{HUB}/entities/{ids[0]}")
        sub_id = subscribe(two, rx.url, etype)  # made through the other app
        write_updates(one, ids, 8)  # the very next writes, through this one
        received = wait_for(rx, sub_id, 8, timeout=15)
        check_complete(received, sub_id, ids, 8)
