"""The MQTT agent against the real Mosquitto on 127.0.0.1:1883, on both backends."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from tests.conftest import make_callers, wait_until
from tests.ingest.conftest import (
    LINK,
    PM25,
    device_body,
    end_session,
    history_count,
    publisher,
    require_broker,
)


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    return wait_until(condition, timeout, step=0.05)


@pytest.fixture(scope="module")
def settings(database_url: str) -> Iterator[Settings]:
    """Return settings with the MQTT agent on, under a client id of this module's own."""
    require_broker()
    client_id = f"cityos-test-{uuid.uuid4().hex[:8]}"
    yield Settings(
        database_url=database_url,
        mode="test",
        seed_city=False,
        log_level="warning",
        auth="off",
        mqtt_url="mqtt://127.0.0.1:1883",
        mqtt_client_id=client_id,
        ingest_batch_wait=0.01,
    )
    end_session(client_id)


@pytest.fixture(scope="module")
def admin(client: TestClient, settings: Settings) -> dict[str, str]:
    """Return an admin's headers."""
    return make_callers(client, settings, tenant="urn:ngsi-ld:tenant:mqtt")["admin"]


def _connected(client: TestClient) -> None:
    agent = client.app.state.ingest.agent  # type: ignore[attr-defined]
    assert agent.connected.wait(10), "the agent did not connect to Mosquitto"


def _provision(client: TestClient, admin: dict[str, str], **changes: Any) -> dict[str, Any]:
    r = client.post(
        "/ingest/v1/devices", json=device_body(transport="mqtt", **changes), headers=admin
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_qos1_measurements_are_committed(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    _connected(client)
    device = _provision(client, admin)
    pub = publisher()
    try:
        for n in range(500):
            payload = (
                f'{{"pm25": {n}, "TimeInstant": "2026-11-25T02:{n // 60:02d}:{n % 60:02d}Z"}}'
                if n % 2
                else f"2026-11-25T02:{n // 60:02d}:{n % 60:02d}Z|pm25|{n}|t|{n / 10}"
            )
            pub.publish(device["mqtt_topic"], payload, qos=1)
        assert _wait(lambda: history_count(settings, device["entity_id"], PM25) == 500)
    finally:
        pub.disconnect()
        pub.loop_stop()
    current = client.get(f"/ngsi-ld/v1/entities/{device['entity_id']}", headers=LINK).json()
    assert current["pm25"]["value"] == 499
    assert current["temperature"]["value"] == 49.8


def test_refused_mqtt_messages_become_dead_letters(
    client: TestClient, admin: dict[str, str]
) -> None:
    _connected(client)
    device = _provision(client, admin)
    key, did = device["apikey"], device["device_id"]
    cases = {
        f"cityos/{key}/{did}/attrs": b"pm25|",  # malformed
        f"cityos/{'w' * 32}/{did}/attrs": b"pm25|1",  # wrong key
        f"cityos/{key}/{did}-other/attrs": b"pm25|1",  # unknown device
        f"cityos/{key}/{did}/attributes": b"pm25|1",  # not our topic: never delivered
    }
    pub = publisher()
    try:
        for topic, payload in cases.items():
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        pub.disconnect()
        pub.loop_stop()

    def reasons() -> list[str]:
        letters = client.get("/ingest/v1/deadletters", params={"limit": 1000}, headers=admin).json()
        return sorted(d["reason"] for d in letters if (d["device_id"] or "").startswith(did))

    assert _wait(lambda: len(reasons()) == 3)
    assert reasons() == ["malformed_payload", "unknown_device", "wrong_apikey"]
    letters = client.get("/ingest/v1/deadletters", headers=admin).json()
    assert all(key not in (d["topic"] or "") for d in letters)  # keys are cut in topics
    assert any(d["topic"] == f"cityos/{key[:6]}…/{did}/attrs" for d in letters)
    # The agent lives on: a good message after the bad ones is written.
    pub = publisher()
    try:
        pub.publish(device["mqtt_topic"], b"pm25|5", qos=1).wait_for_publish(5)
    finally:
        pub.disconnect()
        pub.loop_stop()
    assert _wait(
        lambda: (
            client.get(f"/ngsi-ld/v1/entities/{device['entity_id']}", headers=LINK)
            .json()
            .get("pm25", {})
            .get("value")
            == 5
        )
    )


def test_messages_published_while_cityos_is_down_arrive_on_restart(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    """The persistent session (fixed client id, QoS 1) keeps what came during the outage."""
    _connected(client)
    device = _provision(client, admin)
    # Stop the agent as a shutdown does: CityOS is away, its session stays with the broker.
    client.app.state.ingest.agent.stop()  # type: ignore[attr-defined]
    client.app.state.ingest.agent.close()  # type: ignore[attr-defined]
    pub = publisher()
    try:
        for n in range(200):
            pub.publish(device["mqtt_topic"], f"pm25|{n}", qos=1).wait_for_publish(5)
    finally:
        pub.disconnect()
        pub.loop_stop()
    time.sleep(0.5)
    assert history_count(settings, device["entity_id"], PM25) == 0
    with TestClient(create_app(settings)) as restarted:
        _connected(restarted)
        assert _wait(lambda: history_count(settings, device["entity_id"], PM25) == 200)


def test_a_missing_broker_does_not_stop_cityos(database_url: str) -> None:
    """With the broker unreachable the agent keeps retrying and HTTP ingestion works."""
    settings = Settings(
        database_url=database_url,
        mode="test",
        seed_city=False,
        log_level="error",
        auth="off",
        mqtt_url="mqtt://127.0.0.1:1",  # nothing listens there
        mqtt_client_id=f"cityos-nobroker-{uuid.uuid4().hex[:6]}",
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        agent = client.app.state.ingest.agent  # type: ignore[attr-defined]
        assert not agent.connected.is_set()
        assert client.app.state.ingest.ingester.running  # type: ignore[attr-defined]


def test_a_bad_mqtt_url_is_explained() -> None:
    with pytest.raises(ValueError, match="mqtt://127.0.0.1:1883"):
        Settings(mqtt_url="http://broker:1883")
    assert Settings(mqtt_url="mqtt://broker").mqtt_url == "mqtt://broker"
