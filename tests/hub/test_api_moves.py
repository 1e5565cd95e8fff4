"""Entities that move: the geo index follows every way a location can change."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.hub.test_api_entities import BASE

H = {"NGSILD-Tenant": "moves"}
A = [127.2653, 36.5047]  # Government Complex
B = [127.2890, 36.4800]  # about 3.5 km away


def bus(where: list[float]) -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:Vehicle:bus-1",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": 30},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": where}},
    }


def near(client: TestClient, where: list[float]) -> list[str]:
    r = client.get(
        f"{BASE}/entities",
        headers=H,
        params={
            "type": "Vehicle",
            "georel": "near;maxDistance==300",
            "geometry": "Point",
            "coordinates": f"[{where[0]},{where[1]}]",
        },
    )
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()]


def test_every_kind_of_move_updates_the_geo_index(client: TestClient) -> None:
    me = ["urn:ngsi-ld:Vehicle:bus-1"]
    assert (
        client.post(f"{BASE}/entityOperations/upsert", json=[bus(A)], headers=H).status_code == 201
    )
    assert near(client, A) == me
    # batch upsert (replace) to B
    assert (
        client.post(f"{BASE}/entityOperations/upsert", json=[bus(B)], headers=H).status_code == 204
    )
    assert (near(client, A), near(client, B)) == ([], me)
    # batch upsert (update) back to A
    r = client.post(
        f"{BASE}/entityOperations/upsert", json=[bus(A)], headers=H, params={"options": "update"}
    )
    assert r.status_code == 204
    assert (near(client, A), near(client, B)) == (me, [])
    # partial attribute update to B
    r = client.patch(
        f"{BASE}/entities/{me[0]}/attrs/location",
        headers=H,
        json={"value": {"type": "Point", "coordinates": B}},
    )
    assert r.status_code == 204
    assert (near(client, A), near(client, B)) == ([], me)
    # a second location instance (datasetId) at A: found near both
    r = client.post(
        f"{BASE}/entities/{me[0]}/attrs",
        headers=H,
        json={
            "location": {
                "type": "GeoProperty",
                "datasetId": "urn:ngsi-ld:Dataset:gps2",
                "value": {"type": "Point", "coordinates": A},
            }
        },
    )
    assert r.status_code == 204, r.text
    assert (near(client, A), near(client, B)) == (me, me)
    # location deleted: found nowhere
    r = client.delete(
        f"{BASE}/entities/{me[0]}/attrs/location", headers=H, params={"deleteAll": "true"}
    )
    assert r.status_code == 204
    assert (near(client, A), near(client, B)) == ([], [])
