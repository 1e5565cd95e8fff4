"""A batch of new entities whose shapes change from one entity to the next is stored right.

The SQLite store reuses the attribute set and geometry attributes of the entity before when
the names and kinds repeat (``_SQLiteTransaction.insert``); these batches change exactly
those from one entity to the next.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

NGSI = "/ngsi-ld/v1"


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def _entities() -> list[dict[str, Any]]:
    return [
        {"id": "urn:ngsi-ld:Shape:1", "type": "Shape", "x": {"type": "Property", "value": 1},
         "location": _point(127.0, 36.5)},
        {"id": "urn:ngsi-ld:Shape:2", "type": "Shape", "x": {"type": "Property", "value": 2},
         "location": _point(127.1, 36.6)},
        # the same names, another kind
        {"id": "urn:ngsi-ld:Shape:3", "type": "Shape",
         "x": {"type": "Relationship", "object": "urn:ngsi-ld:Thing:1"},
         "location": _point(127.2, 36.7)},
        # the same names in another order
        {"id": "urn:ngsi-ld:Shape:4", "type": "Shape", "location": _point(127.3, 36.8),
         "x": {"type": "Property", "value": 4}},
        # two instances of the geometry: both are indexed
        {"id": "urn:ngsi-ld:Shape:5", "type": "Shape", "x": {"type": "Property", "value": 5},
         "location": [_point(127.4, 36.9),
                      {**_point(126.0, 35.0), "datasetId": "urn:ngsi-ld:Dataset:b"}]},
        {"id": "urn:ngsi-ld:Shape:6", "type": "Shape", "x": {"type": "Property", "value": 6},
         "location": _point(127.5, 37.0)},
        # a second geometry attribute
        {"id": "urn:ngsi-ld:Shape:7", "type": "Shape", "x": {"type": "Property", "value": 7},
         "location": _point(127.6, 37.1), "area": _point(128.0, 38.0)},
        {"id": "urn:ngsi-ld:Shape:8", "type": "Shape", "x": {"type": "Property", "value": 8},
         "location": _point(127.7, 37.2), "area": _point(128.5, 38.5)},
    ]  # fmt: skip


def _near(client: TestClient, lon: float, lat: float, prop: str = "location") -> list[str]:
    response = client.get(
        f"{NGSI}/entities",
        params={
            "type": "Shape",
            "georel": "near;maxDistance==100",
            "geometry": "Point",
            "coordinates": f"[{lon},{lat}]",
            "geoproperty": prop,
        },
    )
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()]


def test_changing_shapes_in_one_batch(client: TestClient) -> None:
    response = client.post(f"{NGSI}/entityOperations/upsert", json=_entities())
    assert response.status_code == 201, response.text
    assert _near(client, 127.3, 36.8) == ["urn:ngsi-ld:Shape:4"]
    assert _near(client, 126.0, 35.0) == ["urn:ngsi-ld:Shape:5"]  # its second instance
    assert _near(client, 127.5, 37.0) == ["urn:ngsi-ld:Shape:6"]
    assert _near(client, 128.0, 38.0, "area") == ["urn:ngsi-ld:Shape:7"]
    assert _near(client, 128.5, 38.5, "area") == ["urn:ngsi-ld:Shape:8"]
    assert _near(client, 127.7, 37.2) == ["urn:ngsi-ld:Shape:8"]
    detail = client.get(f"{NGSI}/attributes/x", params={"details": "true"}).json()
    assert sorted(detail["attributeTypes"]) == ["Property", "Relationship"]
    assert detail["attributeCount"] == 8
    area = client.get(f"{NGSI}/attributes/area", params={"details": "true"}).json()
    assert area["attributeCount"] == 2
    rels = client.get(f"{NGSI}/entities", params={"type": "Shape", "q": "x==urn:ngsi-ld:Thing:1"})
    assert [e["id"] for e in rels.json()] == ["urn:ngsi-ld:Shape:3"]
