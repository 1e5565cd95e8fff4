"""Notifications over MQTT to the real Mosquitto broker at 127.0.0.1:1883 (both backends)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import unavailable

HUB = "/ngsi-ld/v1"
BROKER = ("127.0.0.1", 1883)


class Listener:
    """A paho subscriber that keeps every message of one topic."""

    def __init__(self, topic: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        ready = threading.Event()

        def on_connect(client: mqtt.Client, *args: Any) -> None:
            client.subscribe(topic, qos=1)

        def on_subscribe(*args: Any) -> None:
            ready.set()

        def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            with self._cond:
                self.messages.append(json.loads(msg.payload))
                self._cond.notify_all()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        try:
            self.client.connect(*BROKER)
        except OSError as error:
            unavailable("MQTT", f"no MQTT broker at {BROKER}: {error}")
        self.client.loop_start()
        assert ready.wait(5), "the broker did not confirm the subscription"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._cond.wait(0.1)
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def topic() -> str:
    return f"cityos-test/{uuid.uuid4().hex}"


@pytest.fixture
def listener(topic: str) -> Iterator[Listener]:
    made = Listener(topic)
    yield made
    made.close()


@pytest.mark.parametrize(("version", "qos"), [("mqtt3.1.1", "1"), ("mqtt5.0", "1"), (None, "0")])
def test_notifications_are_published_to_the_topic(
    client: TestClient, topic: str, listener: Listener, version: str | None, qos: str
) -> None:
    etype = f"M{uuid.uuid4().hex[:8]}"
    info = [{"key": "MQTT-QoS", "value": qos}]
    if version is not None:
        info.append({"key": "MQTT-Version", "value": version})
    body = {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notification": {
            "format": "keyValues",
            "endpoint": {
                "uri": f"mqtt://{BROKER[0]}:{BROKER[1]}/{topic}",
                "accept": "application/json",
                "notifierInfo": info,
                "receiverInfo": [{"key": "X-Source", "value": "cityos"}],
            },
        },
    }
    r = client.post(f"{HUB}/subscriptions", json=body)
    assert r.status_code == 201, r.text
    sub_id = r.headers["location"].rsplit("/", 1)[1]
    eid = f"urn:ngsi-ld:{etype}:1"
    body = {"id": eid, "type": etype, "pm25": {"type": "Property", "value": 0}}
    assert client.post(f"{HUB}/entities", json=body).status_code == 201
    for value in range(1, 20):
        r = client.patch(
            f"{HUB}/entities/{eid}/attrs", json={"pm25": {"type": "Property", "value": value}}
        )
        assert r.status_code == 204
    messages = listener.wait_for(20)
    assert len(messages) == 20
    assert [m["body"]["data"][0]["pm25"] for m in messages] == list(range(20))
    first = messages[0]
    assert first["metadata"]["Content-Type"] == "application/json"
    assert first["metadata"]["X-Source"] == "cityos"
    assert "Link" in first["metadata"]
    assert first["body"]["subscriptionId"] == sub_id
    assert len({m["body"]["id"] for m in messages}) == 20
    time.sleep(0.3)
    stats = client.get(f"{HUB}/subscriptions/{sub_id}").json()["notification"]
    assert stats["timesSent"] == 20


def test_unreachable_broker_is_retried_and_counted(client: TestClient) -> None:
    etype = f"U{uuid.uuid4().hex[:8]}"
    body = {
        "type": "Subscription",
        "entities": [{"type": etype}],
        "notification": {"endpoint": {"uri": "mqtt://127.0.0.1:9/nowhere"}},
    }
    r = client.post(f"{HUB}/subscriptions", json=body)
    assert r.status_code == 201
    sub_id = r.headers["location"].rsplit("/", 1)[1]
    entity = {"id": f"urn:ngsi-ld:{etype}:1", "type": etype, "a": {"type": "Property", "value": 1}}
    assert client.post(f"{HUB}/entities", json=entity).status_code == 201
    deadline = time.monotonic() + 10
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = client.get(f"{HUB}/subscriptions/{sub_id}").json()["notification"]
        if stats["timesFailed"]:
            break
        time.sleep(0.1)
    assert stats["timesFailed"] >= 1
    assert "MQTT" in stats["lastErrorReason"]
    assert client.delete(f"{HUB}/subscriptions/{sub_id}").status_code == 204
