"""Broker fixes found by ETSI's NGSI-LD conformance suite (scripts/conformance.py), both backends.

Each test names the suite's test purposes it stands for (e.g. 012_01) and the clause of
GS CIM 009 v1.8 the behaviour comes from.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.hub.test_api_entities import BASE, ERR, H

_ids = itertools.count(1)


def new_building(client: TestClient, **attrs: Any) -> str:
    """Create a Building with ``attrs`` under a fresh id and return the id."""
    entity_id = f"urn:ngsi-ld:Building:cf{next(_ids)}"
    r = client.post(
        f"{BASE}/entities", json={"id": entity_id, "type": "Building", **attrs}, headers=H
    )
    assert r.status_code == 201, r.text
    return entity_id


def get(client: TestClient, entity_id: str, **params: str) -> dict[str, Any]:
    r = client.get(f"{BASE}/entities/{entity_id}", params=params, headers=H)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def error_type(response: Any) -> str:
    return str(response.json()["type"]).removeprefix(ERR)


NAMES = [
    {"type": "Property", "value": "Eiffel Tower"},
    {"type": "Property", "value": "Tour Eiffel", "datasetId": "urn:ngsi-ld:Dataset:fr"},
]


# --- partial attribute update (5.6.4; suite 012_01, 012_02_03, 012_05-012_09) -------------


def test_partial_update_keeps_the_members_it_does_not_name(client: TestClient) -> None:
    eid = new_building(
        client, owner={"type": "Relationship", "object": "urn:ngsi-ld:Person:A"}, name=NAMES
    )
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs/owner",
        json={"providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:B"}},
        headers=H,
    )
    assert r.status_code == 204, r.text
    owner = get(client, eid)["owner"]
    assert owner["object"] == "urn:ngsi-ld:Person:A"
    assert owner["providedBy"]["object"] == "urn:ngsi-ld:Person:B"
    # a bare value with a datasetId updates that instance only
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs/name",
        json={"value": "La Tour", "datasetId": "urn:ngsi-ld:Dataset:fr"},
        headers=H,
    )
    assert r.status_code == 204, r.text
    values = {i.get("datasetId"): i["value"] for i in get(client, eid)["name"]}
    assert values == {None: "Eiffel Tower", "urn:ngsi-ld:Dataset:fr": "La Tour"}


def test_partial_update_cannot_change_the_attribute_type(client: TestClient) -> None:
    eid = new_building(client, height={"type": "Property", "value": 300})
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs/height",
        json={"type": "Relationship", "object": "urn:ngsi-ld:Thing:1"},
        headers=H,
    )
    assert r.status_code == 400
    assert error_type(r) == "BadRequestData"


def test_ngsi_ld_null_deletes_one_instance_in_partial_update(client: TestClient) -> None:
    eid = new_building(
        client,
        name=NAMES,
        location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.3, 48.8]}},
    )
    null = {"type": "Property", "value": "urn:ngsi-ld:null", "datasetId": "urn:ngsi-ld:Dataset:fr"}
    assert (
        client.patch(f"{BASE}/entities/{eid}/attrs/name", json=null, headers=H).status_code == 204
    )
    geo_null = {"type": "GeoProperty", "value": "urn:ngsi-ld:null"}
    r = client.patch(f"{BASE}/entities/{eid}/attrs/location", json=geo_null, headers=H)
    assert r.status_code == 204, r.text
    entity = get(client, eid)
    assert entity["name"] == {"type": "Property", "value": "Eiffel Tower"}
    assert "location" not in entity


def test_partial_update_replaces_a_json_value_whole(client: TestClient) -> None:
    """012_08_01: 5.5.8 replaces a member the target has; ``json`` is a value, not a sub-attr."""
    eid = new_building(
        client,
        spec={
            "type": "JsonProperty",
            "json": {"id": "some-id", "type": "some-type", "null": None, "other": "x"},
            "source": {"type": "Property", "value": "Speedometer"},
        },
        shape={"type": "Property", "value": {"type": "box", "w": 2, "h": 3}},
    )
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs/spec",
        json={"json": {"id": "another-id", "type": "another-type"}},
        headers=H,
    )
    assert r.status_code == 204, r.text
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs/shape", json={"value": {"type": "box", "w": 5}}, headers=H
    )
    assert r.status_code == 204, r.text
    entity = get(client, eid)
    assert entity["spec"]["json"] == {"id": "another-id", "type": "another-type"}
    assert entity["spec"]["source"]["value"] == "Speedometer"
    assert entity["shape"]["value"] == {"type": "box", "w": 5}
    # merge entity (5.6.17) follows the same rule for the attribute it merges into
    r = client.patch(
        f"{BASE}/entities/{eid}",
        json={"spec": {"type": "JsonProperty", "json": {"type": "third"}}},
        headers=H,
    )
    assert r.status_code == 204, r.text
    assert get(client, eid)["spec"]["json"] == {"type": "third"}


# --- update attributes and merge with NGSI-LD Null (5.6.2, 5.6.17; 011_07-09, 056_04-05) ---


def test_update_attributes_null_deletes_the_named_instance(client: TestClient) -> None:
    eid = new_building(
        client,
        name=NAMES,
        street={"type": "LanguageProperty", "languageMap": {"fr": "Av. Eiffel"}},
        location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.3, 48.8]}},
    )
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs",
        json={
            "name": {"type": "Property", "value": "urn:ngsi-ld:null"},
            "street": {"type": "LanguageProperty", "languageMap": {"@none": "urn:ngsi-ld:null"}},
            "location": {"type": "GeoProperty", "value": "urn:ngsi-ld:null"},
        },
        headers=H,
    )
    assert r.status_code == 204, r.text
    entity = get(client, eid)
    assert entity["name"] == NAMES[1]  # only the default instance went
    assert "street" not in entity
    assert "location" not in entity


def test_merge_null_deletes_only_the_instance_with_that_dataset_id(client: TestClient) -> None:
    eid = new_building(client, name=NAMES)
    r = client.patch(
        f"{BASE}/entities/{eid}",
        json={
            "name": {
                "type": "Property",
                "value": "urn:ngsi-ld:null",
                "datasetId": NAMES[1]["datasetId"],
            }
        },
        headers=H,
    )
    assert r.status_code == 204, r.text
    assert get(client, eid)["name"] == NAMES[0]
    r = client.patch(f"{BASE}/entities/{eid}", json={"name": "urn:ngsi-ld:null"}, headers=H)
    assert r.status_code == 204
    assert "name" not in get(client, eid)


# --- what an attribute may hold (4.5.2-4.5.24, 5.2.1; 452_01, 453_01, 521_01, 4524_01) ---


def test_mixed_members_and_nulls_are_refused_on_create(client: TestClient) -> None:
    bad = [
        {"type": "Property", "value": 1, "object": "urn:ngsi-ld:Thing:1"},
        {"type": "Property", "value": 1, "previousValue": 0},
        {"type": "Relationship", "object": "urn:ngsi-ld:Thing:1", "unitCode": "MTR"},
        {"type": "Relationship", "object": "urn:ngsi-ld:Thing:1", "value": 3},
        {"type": "ListProperty", "valueList": [1], "value": 1},
        {"type": "JsonProperty", "json": {"a": 1}, "unitCode": "MTR"},
        {"type": "Property", "value": "urn:ngsi-ld:null"},
        {"type": "Relationship", "object": "urn:ngsi-ld:null"},
    ]
    for n, attr in enumerate(bad):
        body = {"id": f"urn:ngsi-ld:Building:bad{n}", "type": "Building", "a": attr}
        r = client.post(f"{BASE}/entities", json=body, headers=H)
        assert r.status_code == 400, attr
        assert error_type(r) == "BadRequestData"
    # the keyword "type" (@type in the core context) is not an entity type
    r = client.post(f"{BASE}/entities", json={"id": "urn:ngsi-ld:X:t", "type": "type"}, headers=H)
    assert r.status_code == 400


def test_invisible_characters_in_ids_are_refused_and_hangul_ids_work(client: TestClient) -> None:
    for bad in (
        "urn:ngsi-ld:Vehicle:A\u202eB",
        "urn:ngsi-ld:Vehicle:A\u200b",
        "urn:ngsi-ld:V:\u3164",
    ):
        r = client.post(f"{BASE}/entities", json={"id": bad, "type": "Vehicle"}, headers=H)
        assert r.status_code == 400, repr(bad)
    r = client.post(
        f"{BASE}/entities", json={"id": "urn:ngsi-ld:Place:세종", "type": "Place"}, headers=H
    )
    assert r.status_code == 201, r.text  # was a 500: the Location header must be ASCII
    assert r.headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:Place:%EC%84%B8%EC%A2%85"
    assert client.get(f"{BASE}/entities/urn:ngsi-ld:Place:세종", headers=H).status_code == 200


def test_a_body_that_is_not_an_object_is_invalid_request(client: TestClient) -> None:
    eid = new_building(client)
    for method, url in (
        ("POST", f"{BASE}/entities"),
        ("POST", f"{BASE}/entities/{eid}/attrs"),
        ("PATCH", f"{BASE}/entities/{eid}"),
    ):
        r = client.request(
            method, url, content=b"[]", headers={"Content-Type": "application/ld+json"}
        )
        assert r.status_code == 400, (method, url, r.text)  # was 500
        assert error_type(r) == "InvalidRequest"


# --- replace attribute (5.6.19, PUT …/attrs/{attrId}; 055_01-055_03) -----------------------


def test_replace_attribute(client: TestClient) -> None:
    eid = new_building(client, name=NAMES)
    created = get(client, eid, options="sysAttrs")["name"][1]["createdAt"]
    r = client.put(
        f"{BASE}/entities/{eid}/attrs/name",
        json={
            "type": "Relationship",
            "object": "urn:ngsi-ld:Name:1",
            "datasetId": NAMES[1]["datasetId"],
        },
        headers=H,
    )
    assert r.status_code == 204, r.text
    replaced = get(client, eid, options="sysAttrs")["name"][1]
    assert replaced["type"] == "Relationship"
    assert replaced["createdAt"] == created
    ok = {"type": "Property", "value": 1}
    missing = client.put(f"{BASE}/entities/{eid}/attrs/height", json=ok, headers=H)
    assert missing.status_code == 404
    nobody = client.put(f"{BASE}/entities/urn:ngsi-ld:X:none/attrs/name", json=ok, headers=H)
    assert nobody.status_code == 404
    assert client.put(f"{BASE}/entities/{eid}/attrs/scope", json=ok, headers=H).status_code == 400
    assert client.put(f"{BASE}/entities/{eid}/attrs/@bad", json=ok, headers=H).status_code == 400


# --- scope and type through the attribute operations (4.18, 5.6.2, 5.6.3, 5.6.5) ----------


def test_scope_and_type_in_attribute_operations(client: TestClient) -> None:
    eid = new_building(client, scope="/Sejong/Hansol")
    r = client.post(
        f"{BASE}/entities/{eid}/attrs?options=noOverwrite",
        json={"scope": "/Sejong/Areum"},
        headers=H,
    )
    assert r.status_code == 204, r.text
    assert get(client, eid)["scope"] == ["/Sejong/Hansol", "/Sejong/Areum"]
    r = client.patch(
        f"{BASE}/entities/{eid}/attrs",
        json={"scope": "/Sejong/Dodam", "type": "Vehicle"},
        headers=H,
    )
    assert r.status_code == 204, r.text
    entity = get(client, eid)
    assert entity["scope"] == "/Sejong/Dodam"
    assert entity["type"] == ["Building", "Vehicle"]
    assert client.delete(f"{BASE}/entities/{eid}/attrs/scope", headers=H).status_code == 204
    assert "scope" not in get(client, eid)
    assert client.delete(f"{BASE}/entities/{eid}/attrs/scope", headers=H).status_code == 404
    r = client.patch(f"{BASE}/entities/{eid}/attrs", json={"scope": "/Sejong/Dodam"}, headers=H)
    assert r.status_code == 207  # no scope to update
    assert r.json()["notUpdated"][0]["attributeName"] == "https://uri.etsi.org/ngsi-ld/scope"


# --- request parameters (6.3.7, 6.3.20, 4.21; 018_16, 018_18, 018_19, 019_17, 019_12) ------


def test_unknown_format_and_options_are_invalid_request(client: TestClient) -> None:
    missing = f"{BASE}/entities/urn:ngsi-ld:Building:nowhere"
    for params in ({"format": "fancy"}, {"options": "bogus"}, {"options": "keyValues,bogus"}):
        r = client.get(missing, params=params, headers=H)
        assert r.status_code == 400, params  # checked before looking the entity up
        assert error_type(r) == "InvalidRequest"


def test_pick_and_omit_syntax(client: TestClient) -> None:
    eid = new_building(client, name=NAMES[0], height={"type": "Property", "value": 300})
    url = f"{BASE}/entities/{eid}"
    for pick in ("id;name", "id,,name", "id,locatedAt{name", "locatedAt{name}"):
        assert client.get(url, params={"pick": pick}, headers=H).status_code == 400, pick
    assert client.get(url, params={"pick": "name", "attrs": "name"}, headers=H).status_code == 400
    assert client.get(url, params={"pick": "unknown"}, headers=H).status_code == 404
    omit_all = client.get(url, params={"omit": "id,type,name,height"}, headers=H)
    assert omit_all.status_code == 404
    piped = client.get(url, params={"pick": "id|name"}, headers=H).json()
    assert piped == {"id": eid, "name": NAMES[0]}


def test_query_leaves_out_entities_pick_empties(client: TestClient) -> None:
    named = new_building(client, name=NAMES[0])
    new_building(client, height={"type": "Property", "value": 3})
    r = client.get(
        f"{BASE}/entities",
        params={"type": "Building", "pick": "name", "idPattern": "urn:ngsi-ld:Building:cf.*"},
        headers=H,
    )
    assert r.status_code == 200
    assert {"name": NAMES[0]} in r.json()
    assert {} not in r.json()
    assert named  # the named one is the only kind of member left


def test_dataset_id_parameter_picks_instances(client: TestClient) -> None:
    eid = new_building(client, name=NAMES, height={"type": "Property", "value": 300})
    assert get(client, eid, datasetId="@none")["name"] == NAMES[0]
    french = get(client, eid, datasetId="urn:ngsi-ld:Dataset:fr")
    assert french == {"id": eid, "type": "Building", "name": NAMES[1]}
    r = client.get(
        f"{BASE}/entities",
        params={
            "type": "Building",
            "id": eid,
            "attrs": "name",
            "datasetId": "urn:ngsi-ld:Dataset:fr",
        },
        headers=H,
    )
    assert r.json()[0]["name"] == NAMES[1]
    bad = client.get(f"{BASE}/entities/{eid}", params={"datasetId": "not a uri"}, headers=H)
    assert bad.status_code == 400


def test_local_query_and_attrs_naming_core_members(client: TestClient) -> None:
    new_building(client)
    r = client.get(f"{BASE}/entities", params={"local": "true"}, headers=H)
    assert r.status_code == 200
    assert r.json()
    r = client.get(f"{BASE}/entities", params={"attrs": "id,type"}, headers=H)
    assert r.status_code == 400
    assert error_type(r) == "BadRequestData"


def test_geojson_carries_its_context_in_the_body(client: TestClient) -> None:
    point = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.3, 48.8]}}
    eid = new_building(client, location=point)
    geo = {**H, "Accept": "application/geo+json"}
    feature = client.get(f"{BASE}/entities/{eid}", headers=geo).json()
    assert feature["type"] == "Feature"
    assert "@context" in feature
    collection = client.get(f"{BASE}/entities", params={"id": eid, "type": "Building"}, headers=geo)
    assert "@context" in collection.json()


def test_an_empty_entity_id_in_the_url_is_bad_request(client: TestClient) -> None:
    attr = {"a": {"type": "Property", "value": 1}}
    assert client.post(f"{BASE}/entities//attrs/", json=attr, headers=H).status_code == 400
    assert client.patch(f"{BASE}/entities//attrs/a", json=attr, headers=H).status_code == 400
    gone = client.delete(f"{BASE}/entities//attrs/a", headers=H)
    assert gone.status_code == 400
    assert "/entities/{entityId}" in gone.json()["detail"]
    assert "엔터티 ID" in gone.json()["detail"]  # both languages, as every error
    # the entity collection itself still answers with and without the slash
    assert (
        client.post(
            f"{BASE}/entities/", json={"id": "urn:ngsi-ld:X:s", "type": "X"}, headers=H
        ).status_code
        == 201
    )


# --- batch operations (5.6.7-5.6.10, 5.6.20; 003_03, 006_03, 567_01, 5620_01, 057_03) -------


def test_batch_refuses_empty_arrays_and_null_items(client: TestClient) -> None:
    for operation in ("create", "upsert", "update", "delete", "merge"):
        r = client.post(f"{BASE}/entityOperations/{operation}", json=[], headers=H)
        assert r.status_code == 400, operation
        assert error_type(r) == "BadRequestData"
    r = client.post(
        f"{BASE}/entityOperations/create",
        json=[{"id": "urn:ngsi-ld:Building:b1", "type": "Building"}, None],
        headers=H,
    )
    assert r.status_code == 400
    assert client.get(f"{BASE}/entities/urn:ngsi-ld:Building:b1", headers=H).status_code == 404


def test_batch_merge_checks_a_fragment_before_the_entity_exists(client: TestClient) -> None:
    r = client.post(
        f"{BASE}/entityOperations/merge",
        json=[
            {
                "id": "urn:ngsi-ld:Building:ghost",
                "type": "Building",
                "name": {"type": "Property", "value": None},
            }
        ],
        headers=H,
    )
    assert r.status_code == 207
    assert r.json()["errors"][0]["error"]["type"] == ERR + "BadRequestData"


# --- discovery and @contexts (5.7.6-5.7.10, 5.13.5; 024_02, 027_02, 022_01, 051_04) ---------


def test_discovery_by_expanded_name(client: TestClient) -> None:
    new_building(client, name=NAMES[0])
    by_type = client.get(
        f"{BASE}/types/" + quote("https://ngsi-ld-test-suite/context#Building", safe="")
    )
    assert by_type.status_code == 200, by_type.text
    by_attr = client.get(
        f"{BASE}/attributes/" + quote("https://ngsi-ld-test-suite/context#name", safe="")
    )
    assert by_attr.status_code == 200, by_attr.text
    assert client.get(f"{BASE}/types/").json()["type"] == "EntityTypeList"
    assert client.get(f"{BASE}/attributes/").json()["type"] == "AttributeList"


def test_deleting_a_context_with_reload(client: TestClient) -> None:
    r = client.post(f"{BASE}/jsonldContexts", json={"@context": {"a": "https://a.example/a"}})
    local_id = r.headers["location"].rsplit("/", 1)[1]
    url = f"{BASE}/jsonldContexts/{local_id}"
    assert client.delete(url, params={"reload": "maybe"}).status_code == 400
    assert client.delete(url, params={"reload": "true"}).status_code == 400  # Hosted: no origin
    assert (
        client.delete(f"{BASE}/jsonldContexts/nothing", params={"reload": "true"}).status_code
        == 400
    )
    assert client.delete(url, params={"reload": "false"}).status_code == 204


def test_no_core_context_version_can_be_deleted(client: TestClient) -> None:
    core = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
    r = client.delete(f"{BASE}/jsonldContexts/" + quote(core, safe=""))
    assert r.status_code == 400
    assert error_type(r) == "BadRequestData"


def test_an_attribute_type_that_is_no_attribute_type_is_refused(client: TestClient) -> None:
    for declared in ([], "Weird", {"a": 1}):
        body = {
            "id": "urn:ngsi-ld:Building:weird",
            "type": "Building",
            "a": {"type": declared, "value": 1},
        }
        r = client.post(f"{BASE}/entities", json=body, headers=H)
        assert r.status_code == 400, declared  # a list here was a 500
        assert error_type(r) == "BadRequestData"


def test_writes_to_entities_with_an_empty_id_are_400_and_reads_go_on(client: TestClient) -> None:
    """054_02_02, 056_02_02 (6.5.3.3/6.5.3.4): PUT or PATCH ``/entities/`` names an empty
    entity id: 400 BadRequestData, not the 405 of ``/entities``; GET and POST there keep
    being redirected to ``/entities`` with their query."""
    for method in ("PATCH", "PUT", "DELETE"):
        r = client.request(method, f"{BASE}/entities/", json={"type": "Building"}, headers=H)
        assert r.status_code == 400, (method, r.text)
        assert r.json()["type"] == f"{ERR}BadRequestData"
        assert "엔터티 ID" in r.json()["detail"]
        assert "entityId" in r.json()["detail"]
    entity_id = new_building(client, name={"type": "Property", "value": "slash"})
    moved = client.get(
        f"{BASE}/entities/?type=Building&limit=1000", headers=H, follow_redirects=False
    )
    assert moved.status_code == 307
    assert moved.headers["location"].endswith("/ngsi-ld/v1/entities?type=Building&limit=1000")
    found = client.get(f"{BASE}/entities/?type=Building&limit=1000", headers=H)
    assert entity_id in [e["id"] for e in found.json()]
