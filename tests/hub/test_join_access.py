"""Linked entity retrieval under type scopes: linked entities out of scope are left out."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from tests.conftest import make_callers

HUB_AUTH = "on"
HUB = "/ngsi-ld/v1"
TENANT = "urn:ngsi-ld:tenant:join-access"
CAR = "urn:ngsi-ld:Vehicle:join-car"
TRAILER = "urn:ngsi-ld:Vehicle:join-trailer"
DEPOT = "urn:ngsi-ld:Building:join-depot"


def link(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


@pytest.fixture(scope="module")
def headers(client: TestClient, settings: Settings) -> dict[str, dict[str, str]]:
    """An admin that wrote a car linked to a trailer and a depot, and a Vehicle-only reader."""
    made = make_callers(
        client, settings, tenant=TENANT, developer_scopes=f"tenants={TENANT};types=Vehicle"
    )
    entities = [
        {"id": CAR, "type": "Vehicle", "tows": link(TRAILER), "parkedAt": link(DEPOT)},
        {"id": TRAILER, "type": "Vehicle", "parkedAt": link(DEPOT)},
        {"id": DEPOT, "type": "Building", "name": {"type": "Property", "value": "Depot"}},
    ]
    r = client.post(
        f"{HUB}/entityOperations/upsert",
        json=entities,
        headers=made["admin"] | {"NGSILD-Tenant": TENANT},
    )
    assert r.status_code == 201, r.text
    return {"admin": made["admin"], "reader": made["developer key"]}


def test_a_linked_entity_out_of_scope_is_not_embedded(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    reader = headers["reader"] | {"NGSILD-Tenant": TENANT}
    r = client.get(f"{HUB}/entities/{CAR}", params={"join": "inline"}, headers=reader)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tows"]["entity"]["id"] == TRAILER
    assert body["parkedAt"] == link(DEPOT)  # a Building: outside the reader's scope
    r = client.get(
        f"{HUB}/entities",
        params={"type": "Vehicle", "join": "flat", "joinLevel": "2"},
        headers=reader,
    )
    assert r.status_code == 200, r.text
    assert sorted(e["id"] for e in r.json()) == [CAR, TRAILER]  # no depot
    # the admin reads every type: the depot is there, once
    admin = headers["admin"] | {"NGSILD-Tenant": TENANT}
    r = client.get(f"{HUB}/entities/{CAR}", params={"join": "flat"}, headers=admin)
    assert [e["id"] for e in r.json()] == [CAR, TRAILER, DEPOT]
