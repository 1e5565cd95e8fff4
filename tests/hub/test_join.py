"""Linked entity retrieval (join=inline|flat, joinLevel, containedBy; GS CIM 009 v1.8.1, 4.5.23).

End to end over HTTP on SQLite and PostgreSQL. Access control has its own module
(test_join_access.py, authentication on).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.hub import join

BASE = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
BUILDING = "urn:ngsi-ld:Building:j1"
CITY = "urn:ngsi-ld:City:j1"
COUNTRY = "urn:ngsi-ld:Country:j1"
HALL = "urn:ngsi-ld:Building:j2"
GHOST = "urn:ngsi-ld:City:never-created"
ELSEWHERE = "urn:ngsi-ld:tenant:join-elsewhere"
KOREAN = re.compile("[\uac00-\ud7a3]")


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


@pytest.fixture(scope="module", autouse=True)
def graph(client: TestClient) -> None:
    """Building → City → Country → City (a loop), a hall with a ListRelationship and a ghost."""
    entities = [
        {"id": BUILDING, "type": "Building", "name": prop("Sejong Hall"), "locatedAt": rel(CITY)},
        {
            "id": CITY,
            "type": "City",
            "name": prop("Sejong"),
            "motto": {"type": "LanguageProperty", "languageMap": {"en": "Smart", "ko": "스마트"}},
            "isInCountry": rel(COUNTRY),
        },
        {"id": COUNTRY, "type": "Country", "name": prop("Korea"), "capital": rel(CITY)},
        {
            "id": HALL,
            "type": "Building",
            "near": {"type": "ListRelationship", "objectList": [{"object": BUILDING}, GHOST]},
            "locatedAt": rel(GHOST),
        },
    ]
    r = client.post(f"{BASE}/entityOperations/upsert", json=entities)
    assert r.status_code in (201, 204), r.text
    # Another tenant holds the ghost city: it must never show up in the default tenant.
    r = client.post(
        f"{BASE}/entities",
        json={"id": GHOST, "type": "City", "name": prop("Elsewhere")},
        headers={"NGSILD-Tenant": ELSEWHERE},
    )
    assert r.status_code == 201, r.text


def get(client: TestClient, entity_id: str, **params: str) -> Any:
    r = client.get(f"{BASE}/entities/{entity_id}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_inline_embeds_the_target_under_its_relationship(client: TestClient) -> None:
    body = get(client, BUILDING, join="inline")
    city = body["locatedAt"]["entity"]
    assert body["locatedAt"]["object"] == CITY
    assert city["id"] == CITY
    assert city["name"] == prop("Sejong")
    # joinLevel defaults to 1: the city's own relationship is not followed
    assert city["isInCountry"] == rel(COUNTRY)


def test_join_level_two_and_loops_stop_at_an_entity_already_on_the_path(
    client: TestClient,
) -> None:
    body = get(client, BUILDING, join="inline", joinLevel="5")
    country = body["locatedAt"]["entity"]["isInCountry"]["entity"]
    assert country["id"] == COUNTRY
    # the country's capital is the city above it: not embedded again
    assert country["capital"] == rel(CITY)


def test_flat_lists_each_linked_entity_once_after_the_requested_one(client: TestClient) -> None:
    body = get(client, BUILDING, join="flat", joinLevel="3")
    assert [e["id"] for e in body] == [BUILDING, CITY, COUNTRY]
    assert body[0]["locatedAt"] == rel(CITY)  # flat never embeds
    assert body[2]["capital"] == rel(CITY)


def test_flat_without_a_linked_entity_answers_the_entity_alone(client: TestClient) -> None:
    body = get(client, COUNTRY, join="flat", containedBy=CITY)
    assert body["id"] == COUNTRY


def test_key_values_inline_puts_the_entity_where_its_uri_was(client: TestClient) -> None:
    body = get(client, BUILDING, join="inline", joinLevel="2", options="keyValues")
    assert body["locatedAt"]["id"] == CITY
    assert body["locatedAt"]["isInCountry"]["name"] == "Korea"
    concise = get(client, BUILDING, join="inline", format="concise")
    assert concise["locatedAt"]["object"] == CITY
    assert concise["locatedAt"]["entity"]["name"] == "Sejong"


def test_missing_targets_and_other_tenants_are_not_embedded(client: TestClient) -> None:
    body = get(client, HALL, join="inline")
    assert body["locatedAt"] == rel(GHOST)  # the ghost lives only in another tenant
    near = body["near"]
    assert near["objectList"] == [{"object": BUILDING}, {"object": GHOST}]
    assert [e["id"] for e in near["entityList"]] == [BUILDING]
    kv = get(client, HALL, join="inline", options="keyValues")
    assert kv["near"][0]["id"] == BUILDING
    assert kv["near"][1] == GHOST
    assert kv["locatedAt"] == GHOST
    flat = get(client, HALL, join="flat")
    assert [e["id"] for e in flat] == [HALL, BUILDING]
    # the other tenant sees its own ghost city
    r = client.get(
        f"{BASE}/entities/{GHOST}", params={"join": "flat"}, headers={"NGSILD-Tenant": ELSEWHERE}
    )
    assert r.json()["name"]["value"] == "Elsewhere"


def test_contained_by_names_entities_not_to_fetch_again(client: TestClient) -> None:
    body = get(client, BUILDING, join="inline", containedBy=f"{CITY},urn:ngsi-ld:X:1")
    assert body["locatedAt"] == rel(CITY)


def test_sys_attrs_and_lang_apply_to_linked_entities(client: TestClient) -> None:
    body = get(client, BUILDING, join="inline", options="sysAttrs", lang="ko")
    city = body["locatedAt"]["entity"]
    assert "createdAt" in city
    assert "modifiedAt" in city
    assert city["motto"]["value"] == "스마트"


def test_nested_pick_and_omit_shape_each_level(client: TestClient) -> None:
    body = get(
        client,
        BUILDING,
        join="inline",
        joinLevel="2",
        pick="id,locatedAt{id,isInCountry{name}}",
    )
    assert body == {
        "id": BUILDING,
        "locatedAt": {
            "type": "Relationship",
            "object": CITY,
            "entity": {
                "id": CITY,
                "isInCountry": {
                    "type": "Relationship",
                    "object": COUNTRY,
                    "entity": {"name": prop("Korea")},
                },
            },
        },
    }
    # omit at the top leaves linked entities whole, unless they get their own list
    body = get(
        client, BUILDING, join="flat", joinLevel="2", omit="name,locatedAt{motto,isInCountry}"
    )
    assert [e["id"] for e in body] == [BUILDING, CITY]  # isInCountry omitted: not followed
    assert "name" not in body[0]
    assert set(body[1]) == {"id", "type", "name"}
    # a picked relationship without its own list shows the linked entity whole
    body = get(client, BUILDING, join="inline", pick="locatedAt")
    assert body["locatedAt"]["entity"]["name"] == prop("Sejong")


def test_query_and_post_query_join(client: TestClient) -> None:
    r = client.get(
        f"{BASE}/entities", params={"type": "Building", "join": "flat", "joinLevel": "2"}
    )
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()] == [BUILDING, HALL, CITY, COUNTRY]
    r = client.post(
        f"{BASE}/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "Building"}], "join": "inline"},
        params={"options": "keyValues"},
    )
    assert r.status_code == 200, r.text
    by_id = {e["id"]: e for e in r.json()}
    assert by_id[BUILDING]["locatedAt"]["name"] == "Sejong"
    assert by_id[HALL]["near"][0]["id"] == BUILDING


def test_one_store_query_per_level(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    calls: list[tuple[str, ...]] = []
    real = store.iter_all

    def counting(tenant: str, query: Any) -> Any:
        calls.append(query.ids)
        return real(tenant, query)

    monkeypatch.setattr(store, "iter_all", counting)
    get(client, BUILDING, join="inline", joinLevel="3")
    # level 1: the city; level 2: the country; level 3: only the city again, which is on
    # the path already, so no query at all
    assert calls == [(CITY,), (COUNTRY,)]
    calls.clear()
    r = client.get(f"{BASE}/entities", params={"type": "Building", "join": "flat"})
    assert r.status_code == 200, r.text
    # one query for the targets of both buildings (the hall's building is already listed)
    assert calls == [tuple(sorted({CITY, GHOST}))]


@pytest.mark.parametrize(
    "params",
    [
        {"join": "x"},
        {"join": "inline", "joinLevel": "0"},
        {"join": "flat", "joinLevel": "1.5"},
        {"join": "flat", "joinLevel": "-1"},
        {"join": "inline", "containedBy": "not a uri"},
        {"join": "inline", "pick": "id,locatedAt{name"},
        {"join": "inline", "pick": "locatedAt{isInCountry{name}}"},  # 2 hops, joinLevel 1
        {"join": "flat", "joinLevel": "1", "omit": "locatedAt{isInCountry{name}}"},
        {"pick": "locatedAt{name}"},  # nested projections need join
        {"join": "@none", "pick": "locatedAt{name}"},
    ],
)
def test_bad_join_parameters_are_bad_request_data(
    client: TestClient, params: dict[str, str]
) -> None:
    for r in (
        client.get(f"{BASE}/entities/{BUILDING}", params=params),
        client.get(f"{BASE}/entities", params={"type": "Building", **params}),
    ):
        assert r.status_code == 400, r.text
        assert r.json()["type"] == ERR + "BadRequestData"
        assert KOREAN.search(r.json()["detail"]), r.json()["detail"]


def test_join_none_answers_as_without_join(client: TestClient) -> None:
    assert get(client, BUILDING, join="@none") == get(client, BUILDING)
    r = client.post(
        f"{BASE}/entityOperations/query",
        json={"type": "Query", "entities": [{"type": "Country"}], "joinLevel": 0, "join": "flat"},
    )
    assert r.status_code == 400


def test_geojson_inline_and_flat(client: TestClient) -> None:
    geo = {"Accept": "application/geo+json"}
    r = client.get(f"{BASE}/entities/{BUILDING}", params={"join": "inline"}, headers=geo)
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["locatedAt"]["entity"]["id"] == CITY
    r = client.get(f"{BASE}/entities/{BUILDING}", params={"join": "flat"}, headers=geo)
    assert r.json()["type"] == "FeatureCollection"
    assert [f["id"] for f in r.json()["features"]] == [BUILDING, CITY]
    r = client.get(f"{BASE}/entities", params={"type": "Country", "join": "flat"}, headers=geo)
    assert [f["id"] for f in r.json()["features"]] == [COUNTRY, CITY]


def test_too_many_linked_entities_is_refused(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(join, "MAX_LINKED_ENTITIES", 1)
    assert get(client, BUILDING, join="inline")["locatedAt"]["entity"]["id"] == CITY
    r = client.get(f"{BASE}/entities/{BUILDING}", params={"join": "inline", "joinLevel": "2"})
    assert r.status_code == 403, r.text
    assert r.json()["type"] == ERR + "TooManyResults"
    assert KOREAN.search(r.json()["detail"])
