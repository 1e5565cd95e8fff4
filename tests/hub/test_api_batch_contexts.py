"""Batch operations report a bad @context or a kept attribute per entity, in a 207."""

from __future__ import annotations

from fastapi.testclient import TestClient

NGSI = "/ngsi-ld/v1"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
LD = {"Content-Type": "application/ld+json"}


def _building(n: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"urn:ngsi-ld:Building:bc{n}",
        "type": "Building",
        "name": {"type": "Property", "value": f"building {n}"},
        **extra,
    }


def test_json_entity_carrying_a_context_fails_alone(client: TestClient) -> None:
    good, bad = _building(1), _building(2, **{"@context": CORE})
    response = client.post(f"{NGSI}/entityOperations/create", json=[good, bad])
    assert response.status_code == 207
    body = response.json()
    assert body["success"] == [good["id"]]
    assert [e["entityId"] for e in body["errors"]] == [bad["id"]]
    assert "Link header" in body["errors"][0]["error"]["detail"]
    only_bad = client.post(
        f"{NGSI}/entityOperations/create", json=[_building(3, **{"@context": CORE})]
    )
    assert only_bad.status_code == 207


def test_json_ld_entity_without_context_fails_alone(client: TestClient) -> None:
    good, bad = _building(4, **{"@context": CORE}), _building(5)
    response = client.post(f"{NGSI}/entityOperations/upsert", json=[good, bad], headers=LD)
    assert response.status_code == 207
    body = response.json()
    assert body["success"] == [good["id"]]
    assert body["errors"][0]["entityId"] == bad["id"]
    assert body["errors"][0]["error"]["type"].endswith("BadRequestData")


def test_entities_with_different_contexts_are_each_read_with_their_own(
    client: TestClient,
) -> None:
    own = {"@context": [{"height": "https://example.org/height"}, CORE]}
    first = _building(6, **{"@context": CORE, "height": {"type": "Property", "value": 1}})
    second = _building(7, height={"type": "Property", "value": 2}, **own)
    response = client.post(f"{NGSI}/entityOperations/create", json=[first, second], headers=LD)
    assert response.status_code == 201
    got = client.get(f"{NGSI}/entities/{second['id']}", params={"options": "keyValues"})
    assert "https://example.org/height" in got.json()
    got = client.get(f"{NGSI}/entities/{first['id']}", params={"options": "keyValues"})
    assert got.json()["height"] == 1


def test_no_overwrite_update_adds_new_attributes_and_reports_kept_ones(
    client: TestClient,
) -> None:
    entity = _building(8)
    assert client.post(f"{NGSI}/entities", json=entity).status_code == 201
    fragment = {
        "id": entity["id"],
        "type": "Building",
        "name": {"type": "Property", "value": "renamed"},
        "floors": {"type": "Property", "value": 3},
    }
    response = client.post(
        f"{NGSI}/entityOperations/update", params={"options": "noOverwrite"}, json=[fragment]
    )
    assert response.status_code == 207
    error = response.json()["errors"][0]
    assert error["entityId"] == entity["id"]
    assert "name" in error["error"]["detail"]
    now = client.get(f"{NGSI}/entities/{entity['id']}", params={"options": "keyValues"}).json()
    assert now["name"] == "building 8"  # kept
    assert now["floors"] == 3  # added
    new_only = {"id": entity["id"], "type": "Building", "roof": {"type": "Property", "value": 1}}
    response = client.post(
        f"{NGSI}/entityOperations/update", params={"options": "noOverwrite"}, json=[new_only]
    )
    assert response.status_code == 204


def test_json_ld_batch_with_a_link_header_is_refused_whole(client: TestClient) -> None:
    """6.3.5 (ETSI 003_09_01): application/ld+json with a JSON-LD Link header is a 400 for
    the request, and nothing of it is written."""
    entity = _building(90, **{"@context": CORE})
    link = f'<{CORE}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    response = client.post(
        f"{NGSI}/entityOperations/create", json=[entity], headers={**LD, "Link": link}
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert "Link" in problem["detail"]
    assert "헤더" in problem["detail"]
    assert client.get(f"{NGSI}/entities/{entity['id']}").status_code == 404
    # a Link header of another relation is no @context: the batch goes through
    other = client.post(
        f"{NGSI}/entityOperations/create",
        json=[entity],
        headers={**LD, "Link": '<https://example.org/doc>; rel="describedby"'},
    )
    assert other.status_code == 201
