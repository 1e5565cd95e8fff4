"""Ingestion test helpers: callers, a device factory, history counts, and the real broker."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from fastapi.testclient import TestClient
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityos import db
from cityos.config import Settings
from tests.conftest import unavailable

BROKER = ("127.0.0.1", 1883)
ENVIRONMENT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
LINK = {
    "Link": f'<{ENVIRONMENT}>; rel="http://www.w3.org/ns/json-ld#context"; '
    'type="application/ld+json"'
}
PM25 = "https://smartdatamodels.org/dataModel.Environment/pm25"


def require_broker() -> None:
    """Skip (locally) or fail (CI=true) when Mosquitto is not on 127.0.0.1:1883."""
    try:
        socket.create_connection(BROKER, timeout=2).close()
    except OSError as exc:
        unavailable("MQTT", f"Mosquitto is not reachable on 127.0.0.1:1883 ({exc})")


def device_body(device_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """Return a valid AirQualityObserved device description (HTTP transport)."""
    body: dict[str, Any] = {
        "device_id": device_id or f"pm-{uuid.uuid4().hex[:8]}",
        "entity_type": "AirQualityObserved",
        "attributes": {
            "pm25": {"name": "pm25", "type": "Number", "unitCode": "GQ"},
            "t": {"name": "temperature", "type": "Number", "unitCode": "CEL"},
            "lvl": {"name": "airQualityLevel", "type": "Text"},
        },
        "static_attributes": {
            "location": {"type": "Point", "coordinates": [127.257, 36.48]},
            "areaServed": "한솔동",
        },
        "transport": "http",
    }
    body.update(changes)
    return body


def history_count(settings: Settings, entity_id: str, attr: str) -> int:
    """Return how many instances of ``attr`` (an IRI) the temporal store holds."""
    engine = db.make_engine(settings)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.text(
                        "SELECT count(*) FROM hub_temporal_instances t "
                        "JOIN hub_temporal_entities s ON t.entity = s.pk "
                        "WHERE s.entity_id = :e AND t.attr = :a"
                    ),
                    {"e": entity_id, "a": attr},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def history_values(settings: Settings, entity_id: str, attr: str) -> list[float]:
    """Return the numeric values of ``attr``'s history, in time order."""
    engine = db.make_engine(settings)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT t.num FROM hub_temporal_instances t JOIN hub_temporal_entities s "
                    "ON t.entity = s.pk WHERE s.entity_id = :e AND t.attr = :a ORDER BY t.ts"
                ),
                {"e": entity_id, "a": attr},
            )
            return [float(r[0]) for r in rows]
    finally:
        engine.dispose()


def provision(client: TestClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    """Provision a device through the API and return the 201 body (with its key)."""
    r = client.post("/ingest/v1/devices", json=device_body(**changes), headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def end_session(client_id: str) -> None:
    """Make the broker forget a persistent session (a clean start that expires at once)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0
    client.connect(*BROKER, clean_start=True, properties=properties)
    client.disconnect()


def publisher(client_id: str | None = None) -> mqtt.Client:
    """Return a connected MQTT 3.1.1 publisher running its network loop."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}"
    )
    client.max_inflight_messages_set(100)
    client.connect(*BROKER)
    client.loop_start()
    return client
