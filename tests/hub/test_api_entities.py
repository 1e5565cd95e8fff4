"""The NGSI-LD entity API, end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BASE = "/ngsi-ld/v1"
CTX = "https://forge.etsi.org/rep/cim/ngsi-ld-test-suite/-/raw/develop/resources/jsonld-contexts/ngsi-ld-test-suite.jsonld"
LINK = f'<{CTX}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
H = {"Link": LINK}
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
SUITE = "https://ngsi-ld-test-suite/context#"  # what CTX expands the suite's terms to


def vehicle(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Vehicle:V{n}",
        "type": "Vehicle",
        "brandName": {"type": "Property", "value": "Hyundai"},
        "speed": {
            "type": "Property",
            "value": 50 + n,
            "unitCode": "KMH",
            "observedAt": "2026-11-25T01:00:00Z",
        },
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.26 + n / 1000, 36.50]},
        },
        **extra,
    }


def create(client: TestClient, body: dict[str, Any], tenant: str | None = None) -> None:
    headers = dict(H)
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    r = client.post(f"{BASE}/entities", json=body, headers=headers)
    assert r.status_code == 201, r.text


def get(client: TestClient, entity_id: str, **params: str) -> dict[str, Any]:
    r = client.get(f"{BASE}/entities/{entity_id}", params=params, headers=H)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_create_then_retrieve_round_trips(client: TestClient) -> None:
    create(client, vehicle(1))
    body = get(client, "urn:ngsi-ld:Vehicle:V1")
    assert body["type"] == "Vehicle"
    assert body["speed"] == {
        "type": "Property",
        "value": 51,
        "unitCode": "KMH",
        "observedAt": "2026-11-25T01:00:00Z",
    }
    assert body["location"]["value"]["coordinates"] == pytest.approx([127.261, 36.5])


def test_create_answers_location_and_conflict(client: TestClient) -> None:
    r = client.post(f"{BASE}/entities", json=vehicle(2), headers=H)
    assert r.status_code == 201
    assert r.headers["location"] == f"{BASE}/entities/urn:ngsi-ld:Vehicle:V2"
    r = client.post(f"{BASE}/entities", json=vehicle(2), headers=H)
    assert r.status_code == 409
    assert r.json()["type"] == ERR + "AlreadyExists"


def test_expanded_names_are_stored_and_compacted_back(client: TestClient) -> None:
    create(client, vehicle(3))
    r = client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:V3")  # no Link: core context only
    body = r.json()
    assert body["type"] == "https://ngsi-ld-test-suite/context#Vehicle"
    assert "https://ngsi-ld-test-suite/context#speed" in body
    assert "location" in body  # a core term compacts under any context


def test_formats_key_values_concise_sys_attrs(client: TestClient) -> None:
    create(client, vehicle(4))
    kv = get(client, "urn:ngsi-ld:Vehicle:V4", options="keyValues")
    assert kv["speed"] == 54
    assert kv["brandName"] == "Hyundai"
    concise = get(client, "urn:ngsi-ld:Vehicle:V4", format="concise")
    assert concise["brandName"] == "Hyundai"
    assert concise["speed"] == {
        "value": 54,
        "unitCode": "KMH",
        "observedAt": "2026-11-25T01:00:00Z",
    }
    sys = get(client, "urn:ngsi-ld:Vehicle:V4", options="sysAttrs")
    assert sys["createdAt"].endswith("Z")
    assert "modifiedAt" in sys["speed"]


def test_attrs_pick_omit_projection(client: TestClient) -> None:
    create(client, vehicle(5))
    body = get(client, "urn:ngsi-ld:Vehicle:V5", attrs="speed")
    assert set(body) == {"id", "type", "speed"}
    body = get(client, "urn:ngsi-ld:Vehicle:V5", pick="id,brandName")
    assert set(body) == {"id", "brandName"}
    body = get(client, "urn:ngsi-ld:Vehicle:V5", omit="location,speed")
    assert set(body) == {"id", "type", "brandName"}


def test_concise_input_is_understood(client: TestClient) -> None:
    create(
        client,
        {
            "id": "urn:ngsi-ld:Vehicle:C1",
            "type": "Vehicle",
            "speed": 30,
            "brandName": {"value": "Kia"},
            "location": {"type": "Point", "coordinates": [127.0, 36.0]},
            "source": {"object": "urn:ngsi-ld:Device:D1"},
        },
    )
    body = get(client, "urn:ngsi-ld:Vehicle:C1")
    assert body["speed"] == {"type": "Property", "value": 30}
    assert body["location"]["type"] == "GeoProperty"
    assert body["source"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:D1"}


def test_language_property_and_lang(client: TestClient) -> None:
    create(
        client,
        {
            "id": "urn:ngsi-ld:Building:B1",
            "type": "Building",
            "name": {
                "type": "LanguageProperty",
                "languageMap": {"ko": "정부세종청사", "en": "Government Complex"},
            },
        },
    )
    body = get(client, "urn:ngsi-ld:Building:B1")
    assert body["name"]["languageMap"]["ko"] == "정부세종청사"
    body = get(client, "urn:ngsi-ld:Building:B1", lang="en")
    assert body["name"] == {"type": "Property", "value": "Government Complex", "lang": "en"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"type": "Vehicle"}, "BadRequestData"),
        ({"id": "not a uri", "type": "Vehicle"}, "BadRequestData"),
        ({"id": "urn:ngsi-ld:Vehicle:X"}, "BadRequestData"),
        (
            {"id": "urn:ngsi-ld:Vehicle:X", "type": "Vehicle", "speed": {"type": "Property"}},
            "BadRequestData",
        ),
        (
            {
                "id": "urn:ngsi-ld:Vehicle:X",
                "type": "Vehicle",
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": [500, 1]},
                },
            },
            "BadRequestData",
        ),
        (
            {
                "id": "urn:ngsi-ld:Vehicle:X",
                "type": "Vehicle",
                "rel": {"type": "Relationship", "object": "nope"},
            },
            "BadRequestData",
        ),
        (
            {
                "id": "urn:ngsi-ld:Vehicle:X",
                "type": "Vehicle",
                "speed": {"type": "Property", "value": 1, "observedAt": "yesterday"},
            },
            "BadRequestData",
        ),
    ],
)
def test_bad_entities_are_refused_and_nothing_is_written(
    client: TestClient, body: dict[str, Any], problem: str
) -> None:
    r = client.post(f"{BASE}/entities", json=body, headers=H)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == ERR + problem
    assert r.json()["detail"]
    assert client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:X", headers=H).status_code == 404


def test_http_level_errors(client: TestClient) -> None:
    r = client.post(
        f"{BASE}/entities", content=b"{not json", headers={**H, "Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["type"] == ERR + "InvalidRequest"
    r = client.post(
        f"{BASE}/entities", content=b"<xml/>", headers={**H, "Content-Type": "application/xml"}
    )
    assert r.status_code == 415
    r = client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:V1", headers={"Accept": "text/html"})
    assert r.status_code == 406
    big = b'{"id": "urn:x:y", "type": "T", "p": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    r = client.post(f"{BASE}/entities", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:nope", headers=H)
    assert r.status_code == 404
    assert r.json()["type"] == ERR + "ResourceNotFound"
    r = client.get(f"{BASE}/entities/not-a-uri", headers=H)
    assert r.status_code == 400


def test_ld_json_context_in_body(client: TestClient) -> None:
    body = {**vehicle(6), "@context": CTX}
    r = client.post(f"{BASE}/entities", json=body, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    r = client.get(
        f"{BASE}/entities/urn:ngsi-ld:Vehicle:V6", headers={**H, "Accept": "application/ld+json"}
    )
    assert r.headers["content-type"].startswith("application/ld+json")
    assert r.json()["@context"]
    assert r.json()["type"] == "Vehicle"
    r = client.post(f"{BASE}/entities", json={**vehicle(7), "@context": CTX}, headers=H)
    assert r.status_code == 400  # @context in an application/json body


def test_append_no_overwrite_and_update(client: TestClient) -> None:
    create(client, vehicle(10))
    eid = "urn:ngsi-ld:Vehicle:V10"
    r = client.post(
        f"{BASE}/entities/{eid}/attrs",
        headers=H,
        json={
            "fuelLevel": {"type": "Property", "value": 0.5},
            "speed": {"type": "Property", "value": 1},
        },
        params={"options": "noOverwrite"},
    )
    assert r.status_code == 207
    # UpdateResult names attributes by expanded IRI (v1.8.1 OpenAPI, 207; ETSI 010_04_01)
    assert r.json()["updated"] == [f"{SUITE}fuelLevel"]
    assert r.json()["notUpdated"][0]["attributeName"] == f"{SUITE}speed"
    assert get(client, eid)["speed"]["value"] == 60
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs",
        headers=H,
        json={
            "speed": {"type": "Property", "value": 99},
            "ghost": {"type": "Property", "value": 1},
        },
    )
    assert r.status_code == 207
    assert r.json()["updated"] == [f"{SUITE}speed"]
    ghost = r.json()["notUpdated"]
    assert [n["attributeName"] for n in ghost] == [
        "https://uri.etsi.org/ngsi-ld/default-context/ghost"
    ]
    body = get(client, eid)
    assert body["speed"]["value"] == 99
    assert "ghost" not in body


def test_partial_attribute_update_and_delete(client: TestClient) -> None:
    create(client, vehicle(11))
    eid = "urn:ngsi-ld:Vehicle:V11"
    r = client.patch(f"{BASE}/entities/{eid}/attrs/speed", headers=H, json={"value": 5})
    assert r.status_code == 204, r.text
    speed = get(client, eid)["speed"]
    assert speed["value"] == 5
    assert speed["unitCode"] == "KMH"
    assert (
        client.patch(f"{BASE}/entities/{eid}/attrs/ghost", headers=H, json={"value": 5}).status_code
        == 404
    )
    assert client.delete(f"{BASE}/entities/{eid}/attrs/speed", headers=H).status_code == 204
    assert "speed" not in get(client, eid)
    assert client.delete(f"{BASE}/entities/{eid}/attrs/speed", headers=H).status_code == 404


def test_dataset_ids(client: TestClient) -> None:
    eid = "urn:ngsi-ld:Vehicle:D1"
    create(
        client,
        {
            "id": eid,
            "type": "Vehicle",
            "speed": [
                {"type": "Property", "value": 1},
                {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:Dataset:gps"},
            ],
        },
    )
    assert len(get(client, eid)["speed"]) == 2
    r = client.delete(
        f"{BASE}/entities/{eid}/attrs/speed",
        params={"datasetId": "urn:ngsi-ld:Dataset:gps"},
        headers=H,
    )
    assert r.status_code == 204
    assert get(client, eid)["speed"]["value"] == 1
    r = client.post(
        f"{BASE}/entities",
        headers=H,
        json={
            "id": "urn:x:dup",
            "type": "T",
            "p": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}],
        },
    )
    assert r.status_code == 400
    r = client.delete(f"{BASE}/entities/{eid}/attrs/speed", params={"deleteAll": "true"}, headers=H)
    assert r.status_code == 204
    assert "speed" not in get(client, eid)


def test_replace_and_merge(client: TestClient) -> None:
    create(client, vehicle(12))
    eid = "urn:ngsi-ld:Vehicle:V12"
    created = get(client, eid, options="sysAttrs")["createdAt"]
    r = client.put(
        f"{BASE}/entities/{eid}",
        headers=H,
        json={"type": "Vehicle", "fuelLevel": {"type": "Property", "value": 0.1}},
    )
    assert r.status_code == 204, r.text
    body = get(client, eid, options="sysAttrs")
    assert "speed" not in body
    assert body["fuelLevel"]["value"] == 0.1
    assert body["createdAt"] == created
    r = client.patch(
        f"{BASE}/entities/{eid}",
        headers=H,
        json={
            "fuelLevel": {"type": "Property", "value": 0.9, "unitCode": "P1"},
            "brandName": "Genesis",
        },
    )
    assert r.status_code == 204, r.text
    body = get(client, eid)
    assert body["fuelLevel"] == {"type": "Property", "value": 0.9, "unitCode": "P1"}
    assert body["brandName"]["value"] == "Genesis"
    r = client.patch(f"{BASE}/entities/{eid}", headers=H, json={"brandName": "urn:ngsi-ld:null"})
    assert r.status_code == 204
    assert "brandName" not in get(client, eid)


def test_delete_entity(client: TestClient) -> None:
    create(client, vehicle(13))
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Vehicle:V13").status_code == 204
    assert client.delete(f"{BASE}/entities/urn:ngsi-ld:Vehicle:V13").status_code == 404


def test_tenants_are_isolated(client: TestClient) -> None:
    create(client, vehicle(20), tenant="sejong-lab")
    r = client.get(
        f"{BASE}/entities/urn:ngsi-ld:Vehicle:V20", headers={**H, "NGSILD-Tenant": "sejong-lab"}
    )
    assert r.status_code == 200
    assert client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:V20", headers=H).status_code == 404
    r = client.get(
        f"{BASE}/entities",
        params={"type": "Vehicle"},
        headers={**H, "NGSILD-Tenant": "never-written"},
    )
    assert r.status_code == 404
    assert r.json()["type"] == ERR + "NonexistentTenant"
