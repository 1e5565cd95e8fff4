"""A measure mapped to a GeoProperty (value type ``Point``): moving devices such as buses."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.ingest.smartdata import fits
from tests.conftest import make_callers
from tests.ingest.conftest import history_count

TENANT = "urn:ngsi-ld:tenant:geo-measure"
TRANSPORT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld"
LINK = {
    "Link": f'<{TRANSPORT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
}
LOCATION = "https://uri.etsi.org/ngsi-ld/location"


@pytest.fixture(scope="module")
def admin(client: TestClient, settings: Settings) -> dict[str, str]:
    """Return the admin's headers."""
    return make_callers(client, settings, tenant=TENANT)["admin"]


def _bus(client: TestClient, admin: dict[str, str], device_id: str) -> dict[str, Any]:
    body = {
        "device_id": device_id,
        "entity_type": "Vehicle",
        "attributes": {
            "loc": {"name": "location", "type": "Point"},
            "v": {"name": "speed", "type": "Number", "unitCode": "KMH"},
        },
        "static_attributes": {"vehicleType": "bus", "category": ["public"]},
        "transport": "http",
        "tenant": TENANT,
    }
    r = client.post("/ingest/v1/devices", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _send(client: TestClient, device: dict[str, Any], body: str, ctype: str) -> Any:
    return client.post(
        "/ingest/v1/measurements",
        params={"k": device["apikey"], "i": device["device_id"]},
        content=body,
        headers={"Content-Type": ctype},
    )


def test_point_fits_object_attributes_only() -> None:
    assert fits("Vehicle", "location", "Point")
    assert not fits("Vehicle", "speed", "Point")


def test_json_and_ultralight_points_move_the_entity_and_keep_history(
    client: TestClient, admin: dict[str, str], settings: Settings
) -> None:
    device = _bus(client, admin, "bus-geo-1")
    first = '{"loc": {"type": "Point", "coordinates": [127.25, 36.48]}, "v": 30, '
    first += '"TimeInstant": "2026-11-25T00:00:00Z"}'
    assert _send(client, device, first, "application/json").json() == {"measurements": 2}
    r = _send(client, device, "2026-11-25T00:01:00Z|loc|127.26,36.49|v|28", "text/plain")
    assert r.json() == {"measurements": 2}, r.text
    entity = client.get(
        f"/ngsi-ld/v1/entities/{device['entity_id']}",
        headers=admin | LINK | {"NGSILD-Tenant": TENANT},
    ).json()
    assert entity["location"]["type"] == "GeoProperty"
    assert entity["location"]["value"] == {"type": "Point", "coordinates": [127.26, 36.49]}
    assert entity["location"]["observedAt"].startswith("2026-11-25T00:01:00")
    assert entity["speed"]["value"] == 28
    near = client.get(
        "/ngsi-ld/v1/entities",
        params={
            "type": "Vehicle",
            "georel": "near;maxDistance==500",
            "geometry": "Point",
            "coordinates": "[127.26,36.49]",
        },
        headers=admin | LINK | {"NGSILD-Tenant": TENANT},
    )
    assert near.status_code == 200, near.text
    assert [e["id"] for e in near.json()] == [device["entity_id"]]
    assert history_count(settings, device["entity_id"], LOCATION) == 2


@pytest.mark.parametrize(
    ("body", "ctype", "words"),
    [
        ('{"loc": {"type": "Point", "coordinates": [500, 36]}}', "application/json", "GeoJSON"),
        (
            '{"loc": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}',
            "application/json",
            "Point",
        ),
        ('{"loc": 3}', "application/json", "Point"),
        ("loc|127.2;36.4", "text/plain", "Point"),
        ("loc|127.2,36.4,5,6", "text/plain", "Point"),
    ],
)
def test_bad_points_are_refused_whole(
    client: TestClient, admin: dict[str, str], body: str, ctype: str, words: str
) -> None:
    device = _bus(client, admin, f"bus-bad-{uuid.uuid4().hex[:8]}")
    r = _send(client, device, body, ctype)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]
    assert r.json()["detail_ko"]
    missing = client.get(
        f"/ngsi-ld/v1/entities/{device['entity_id']}",
        headers=admin | LINK | {"NGSILD-Tenant": TENANT},
    )
    assert missing.status_code == 404
