"""Queries, batch operations and discovery over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.hub.test_api_entities import BASE, ERR, H

TENANT = {"NGSILD-Tenant": "query-tests"}
HT = {**H, **TENANT}


def sensor(n: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:OffStreetParking:P{n:03d}",
        "type": "OffStreetParking",
        "name": {"type": "Property", "value": f"parking {n}"},
        "availableSpotNumber": {
            "type": "Property",
            "value": n,
            "observedAt": f"2026-11-{1 + n % 28:02d}T00:00:00Z",
        },
        "almostFull": {"type": "Property", "value": n % 2 == 0},
        "subCategory": {
            "type": "Property",
            "value": {"kind": "underground" if n % 3 else "open", "floors": n % 4},
        },
        "source": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{n % 5}"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.25 + n * 0.001, 36.50]},
        },
    }


@pytest.fixture(scope="module")
def loaded(client: TestClient) -> TestClient:
    r = client.post(
        f"{BASE}/entityOperations/create", headers=HT, json=[sensor(n) for n in range(50)]
    )
    assert r.status_code == 201, r.text
    assert len(r.json()) == 50
    return client


def ids(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [e["id"].rsplit(":", 1)[1] for e in r.json()]


def query(client: TestClient, **params: Any) -> Any:
    return client.get(f"{BASE}/entities", params=params, headers=HT)


def test_type_query_pages_and_counts(loaded: TestClient) -> None:
    r = query(loaded, type="OffStreetParking", limit=10, offset=5, count="true")
    assert ids(r) == [f"P{n:03d}" for n in range(5, 15)]
    assert r.headers["NGSILD-Results-Count"] == "50"
    assert 'rel="next"' in r.headers["link"]
    assert 'rel="prev"' in r.headers["link"]
    r = query(loaded, type="OffStreetParking", limit=0, count="true")
    assert r.json() == []
    assert r.headers["NGSILD-Results-Count"] == "50"
    r = query(loaded, type="OffStreetParking", limit=5000)
    assert r.status_code == 403
    assert r.json()["type"] == ERR + "TooManyResults"


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("availableSpotNumber>45", [46, 47, 48, 49]),
        ("availableSpotNumber==3,7", [3, 7]),
        ("availableSpotNumber==10..12", [10, 11, 12]),
        ("availableSpotNumber<3|availableSpotNumber>48", [0, 1, 2, 49]),
        ("(availableSpotNumber<10;almostFull==true)", [0, 2, 4, 6, 8]),
        ('name=="parking 7"', [7]),
        ('name~="parking 4[0-2]$"', [40, 41, 42]),
        ('subCategory[kind]=="open";availableSpotNumber<10', [0, 3, 6, 9]),
        ("subCategory[floors]==3;availableSpotNumber<20", [3, 7, 11, 15, 19]),
        ("source==urn:ngsi-ld:Device:4;availableSpotNumber<20", [4, 9, 14, 19]),
        ("availableSpotNumber.observedAt>=2026-11-27T00:00:00Z", [26, 27]),
        ("!almostFull", []),
        ("almostFull;availableSpotNumber<2", [0, 1]),
    ],
)
def test_q_language(loaded: TestClient, q: str, expected: list[int]) -> None:
    r = query(loaded, type="OffStreetParking", q=q, limit=100)
    assert ids(r) == [f"P{n:03d}" for n in sorted(set(expected))]


def test_id_and_id_pattern_and_attrs(loaded: TestClient) -> None:
    r = query(loaded, id="urn:ngsi-ld:OffStreetParking:P001,urn:ngsi-ld:OffStreetParking:P002")
    assert ids(r) == ["P001", "P002"]
    r = query(loaded, idPattern=r".*P04[5-9]$")
    assert ids(r) == ["P045", "P046", "P047", "P048", "P049"]
    r = query(loaded, type="OffStreetParking", attrs="name", limit=1)
    assert set(r.json()[0]) == {"id", "type", "name"}


def test_geo_near_within(loaded: TestClient) -> None:
    # points are 0.001 deg of longitude apart (about 89.4 m at 36.5 N)
    r = query(
        loaded,
        type="OffStreetParking",
        georel="near;maxDistance==200",
        geometry="Point",
        coordinates="[127.26,36.5]",
    )
    assert sorted(ids(r)) == ["P008", "P009", "P010", "P011", "P012"]
    r = query(
        loaded,
        type="OffStreetParking",
        georel="within",
        geometry="Polygon",
        coordinates="[[[127.2495,36.49],[127.2525,36.49],[127.2525,36.51],"
        "[127.2495,36.51],[127.2495,36.49]]]",
    )
    assert ids(r) == ["P000", "P001", "P002"]
    r = query(
        loaded,
        type="OffStreetParking",
        georel="near;maxDistance==100",
        geometry="Point",
        coordinates="[127.26,36.5]",
        q="availableSpotNumber>9",
    )
    assert ids(r) == ["P010", "P011"]


def test_geo_query_pages_in_id_order_and_counts_each_entity_once(client: TestClient) -> None:
    """On PostgreSQL a geo-query's page is read from the sorted geo matches (one row per
    matching geometry, so an entity with two located instances is there twice)."""
    headers = {**H, "NGSILD-Tenant": "geo-pages"}
    body = [sensor(n) for n in range(30)]
    second = {**body[12]["location"], "datasetId": "urn:ngsi-ld:Dataset:gps"}
    body[12] = {**body[12], "location": [body[12]["location"], second]}
    r = client.post(f"{BASE}/entityOperations/create", headers=headers, json=body)
    assert r.status_code == 201, r.text
    near = {
        "type": "OffStreetParking",
        "georel": "near;maxDistance==1000",  # P000-P021 (89.4 m apart) of 127.26,36.5
        "geometry": "Point",
        "coordinates": "[127.26,36.5]",
        "q": "availableSpotNumber!=13",
    }
    try:
        r = client.get(f"{BASE}/entities", params={**near, "limit": 100}, headers=headers)
        everything = ids(r)
        expected = [f"P{n:03d}" for n in range(22) if n != 13]
        assert everything == expected
        pages = []
        for offset in range(0, 21, 4):
            params = {**near, "limit": 4, "offset": offset, "count": "true"}
            r = client.get(f"{BASE}/entities", params=params, headers=headers)
            assert r.headers["NGSILD-Results-Count"] == "21"
            pages += ids(r)
        assert pages == expected
    finally:
        client.post(
            f"{BASE}/entityOperations/delete", headers=headers, json=[e["id"] for e in body]
        )


def test_bad_queries_get_400(loaded: TestClient) -> None:
    for params in (
        {},
        {"type": "OffStreetParking", "q": "availableSpotNumber>>3"},
        {"type": "OffStreetParking", "q": "(a==1"},
        {
            "type": "OffStreetParking",
            "georel": "near",
            "geometry": "Point",
            "coordinates": "[127,36]",
        },
        {
            "type": "OffStreetParking",
            "georel": "within",
            "geometry": "Polygon",
            "coordinates": "[[1,2]]",
        },
        {"type": "OffStreetParking", "limit": "-1"},
        {"idPattern": "(["},
        {"type": "((A"},
    ):
        r = query(loaded, **params)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["type"].startswith(ERR)


def test_post_query(loaded: TestClient) -> None:
    r = loaded.post(
        f"{BASE}/entityOperations/query",
        headers=HT,
        params={"limit": 3},
        json={
            "type": "Query",
            "entities": [{"type": "OffStreetParking"}],
            "q": "availableSpotNumber>=20",
            "attrs": ["availableSpotNumber"],
        },
    )
    assert ids(r) == ["P020", "P021", "P022"]
    r = loaded.post(
        f"{BASE}/entityOperations/query",
        headers=HT,
        json={
            "type": "Query",
            "entities": [{"type": "OffStreetParking"}],
            "geoQ": {
                "georel": "near;maxDistance==50",
                "geometry": "Point",
                "coordinates": [127.26, 36.5],
            },
        },
    )
    assert ids(r) == ["P010"]


def test_query_returns_entities_as_get_does(client: TestClient) -> None:
    """A page is read apart from GET (PostgreSQL: one JSON text per row); same entities."""
    headers = {**H, "NGSILD-Tenant": "query-as-get"}
    scoped = {**sensor(1), "id": "urn:ngsi-ld:OffStreetParking:S1", "scope": ["/Sejong/a"]}
    plain = {**sensor(2), "id": "urn:ngsi-ld:OffStreetParking:S2"}
    r = client.post(f"{BASE}/entityOperations/create", headers=headers, json=[scoped, plain])
    assert r.status_code == 201, r.text
    try:
        r = client.get(
            f"{BASE}/entities",
            params={"type": "OffStreetParking", "options": "sysAttrs"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        got = {e["id"]: e for e in r.json()}
        assert list(got) == [scoped["id"], plain["id"]]
        for eid, entity in got.items():
            one = client.get(f"{BASE}/entities/{eid}?options=sysAttrs", headers=headers)
            assert entity == one.json()
        assert got[scoped["id"]]["scope"] == "/Sejong/a"
        assert "scope" not in got[plain["id"]]
        assert got[plain["id"]]["createdAt"].endswith("Z")
    finally:
        client.post(
            f"{BASE}/entityOperations/delete", headers=headers, json=[scoped["id"], plain["id"]]
        )


def test_key_values_query_and_geojson(loaded: TestClient) -> None:
    r = query(loaded, type="OffStreetParking", q="availableSpotNumber==1", options="keyValues")
    assert r.json()[0]["availableSpotNumber"] == 1
    r = loaded.get(
        f"{BASE}/entities",
        params={"type": "OffStreetParking", "limit": 2},
        headers={**HT, "Accept": "application/geo+json"},
    )
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 2
    assert body["features"][0]["geometry"]["type"] == "Point"


def test_discovery(loaded: TestClient) -> None:
    r = loaded.get(f"{BASE}/types", headers=HT)
    assert "OffStreetParking" in r.json()["typeList"]
    r = loaded.get(f"{BASE}/types/OffStreetParking", headers=HT)
    info = r.json()
    assert info["entityCount"] == 50
    names = {a["attributeName"]: a["attributeTypes"] for a in info["attributeDetails"]}
    assert names["source"] == ["Relationship"]
    assert names["location"] == ["GeoProperty"]
    r = loaded.get(f"{BASE}/attributes", headers=HT)
    assert "availableSpotNumber" in r.json()["attributeList"]
    r = loaded.get(f"{BASE}/attributes/availableSpotNumber", headers=HT)
    assert r.json()["attributeCount"] == 50
    assert r.json()["typeNames"] == ["OffStreetParking"]
    assert loaded.get(f"{BASE}/types/Nothing", headers=HT).status_code == 404
    r = loaded.get(f"{BASE}/types", params={"details": "true"}, headers=HT)
    assert r.json()[0]["type"] == "EntityType"


def test_batch_upsert_update_delete_partial_success(loaded: TestClient) -> None:
    eid = "urn:ngsi-ld:OffStreetParking:B1"
    good = {"id": eid, "type": "OffStreetParking", "name": {"type": "Property", "value": "b"}}
    bad = {
        "id": "urn:ngsi-ld:OffStreetParking:B2",
        "type": "OffStreetParking",
        "name": {"type": "Property"},
    }
    r = loaded.post(f"{BASE}/entityOperations/upsert", headers=HT, json=[good, bad])
    assert r.status_code == 207
    assert r.json()["success"] == [eid]
    assert r.json()["errors"][0]["entityId"] == "urn:ngsi-ld:OffStreetParking:B2"
    assert r.json()["errors"][0]["error"]["type"] == ERR + "BadRequestData"
    r = loaded.post(
        f"{BASE}/entityOperations/upsert",
        headers=HT,
        params={"options": "update"},
        json=[
            {
                "id": eid,
                "type": "OffStreetParking",
                "almostFull": {"type": "Property", "value": True},
            }
        ],
    )
    assert r.status_code == 204, r.text
    body = loaded.get(f"{BASE}/entities/{eid}", headers=HT).json()
    assert body["name"]["value"] == "b"
    assert body["almostFull"]["value"] is True
    r = loaded.post(
        f"{BASE}/entityOperations/update",
        headers=HT,
        json=[
            {"id": eid, "type": "OffStreetParking", "name": {"type": "Property", "value": "c"}},
            {
                "id": "urn:ngsi-ld:OffStreetParking:ghost",
                "type": "OffStreetParking",
                "name": {"type": "Property", "value": "c"},
            },
        ],
    )
    assert r.status_code == 207
    assert r.json()["errors"][0]["error"]["type"] == ERR + "ResourceNotFound"
    r = loaded.post(
        f"{BASE}/entityOperations/merge", headers=HT, json=[{"id": eid, "name": "urn:ngsi-ld:null"}]
    )
    assert r.status_code == 204, r.text
    assert "name" not in loaded.get(f"{BASE}/entities/{eid}", headers=HT).json()
    r = loaded.post(
        f"{BASE}/entityOperations/delete",
        headers=HT,
        json=[eid, "urn:ngsi-ld:OffStreetParking:ghost"],
    )
    assert r.status_code == 207
    assert r.json()["success"] == [eid]
    r = loaded.post(f"{BASE}/entityOperations/create", headers=HT, json=[sensor(1)])
    assert r.status_code == 207
    assert r.json()["errors"][0]["error"]["type"] == ERR + "AlreadyExists"
    r = loaded.post(f"{BASE}/entityOperations/create", headers=HT, json={"not": "a list"})
    assert r.status_code == 400
