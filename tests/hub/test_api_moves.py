"""Entities that move: the geo index follows every way a location can change."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.hub.store import open_store
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


def test_a_write_that_keeps_the_location_keeps_the_entity_findable(client: TestClient) -> None:
    """PostgreSQL rewrites hub_geo only when geometries change; a write that keeps them
    keeps the entity where it was."""
    me = ["urn:ngsi-ld:Vehicle:bus-1"]
    r = client.post(f"{BASE}/entityOperations/upsert", json=[bus(A)], headers=H)
    assert r.status_code in (201, 204), r.text
    r = client.patch(f"{BASE}/entities/{me[0]}/attrs/speed", headers=H, json={"value": 42})
    assert r.status_code == 204, r.text
    assert (near(client, A), near(client, B)) == (me, [])
    # one request moving it to B and back to A: the last location counts
    r = client.post(f"{BASE}/entityOperations/upsert", json=[bus(B), bus(A)], headers=H)
    assert r.status_code == 204, r.text
    assert (near(client, A), near(client, B)) == (me, [])
    r = client.post(f"{BASE}/entityOperations/upsert", json=[bus(A), bus(B)], headers=H)
    assert r.status_code == 204, r.text
    assert (near(client, A), near(client, B)) == ([], me)


def test_two_replacements_in_one_transaction_leave_the_last_location(
    client: TestClient, settings: Settings
) -> None:
    """A writer may replace an entity twice in one transaction: hub_geo follows the last
    version, also when that one is back where the transaction found it."""
    me = "urn:ngsi-ld:Vehicle:bus-1"
    r = client.post(f"{BASE}/entityOperations/upsert", json=[bus(A)], headers=H)
    assert r.status_code in (201, 204), r.text
    store = open_store(settings)
    try:
        with store.transaction(H["NGSILD-Tenant"]) as tx:
            entity = tx.get_many([me])[me]
            iri = next(k for k, v in entity["attrs"].items() if v[0]["type"] == "GeoProperty")

            def moved(where: list[float]) -> dict[str, Any]:
                point = {"type": "Point", "coordinates": where}
                instance = {**entity["attrs"][iri][0], "value": point}
                return {**entity, "attrs": {**entity["attrs"], iri: [instance]}}

            tx.replace([moved(B)])
            tx.replace([moved(A)])
    finally:
        store.close()
    assert (near(client, A), near(client, B)) == ([me], [])
