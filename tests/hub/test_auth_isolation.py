"""Tenant isolation and type scopes under adversarial queries, with authentication on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityos import db
from cityos.config import Settings
from cityos.identity import keys
from cityos.identity.models import Role
from tests.conftest import login_headers, make_callers

HUB_AUTH = "on"
HUB = "/ngsi-ld/v1"
A = "urn:ngsi-ld:tenant:isolation-a"
B = "urn:ngsi-ld:tenant:isolation-b"
NOWHERE = "urn:ngsi-ld:tenant:isolation-never-written"
HANSOL = [127.2570, 36.4800]  # [lon, lat], Hansol-dong, Sejong
NEAR = {"georel": "near;maxDistance==50000", "geometry": "Point", "coordinates": "[127.257,36.48]"}


def vehicle(entity_id: str, speed: float, entity_type: str = "Vehicle") -> dict[str, Any]:
    """Return a normalised entity with a speed and a location near Hansol-dong."""
    return {
        "id": entity_id,
        "type": entity_type,
        "speed": {"type": "Property", "value": speed},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": HANSOL}},
    }


@pytest.fixture(scope="module")
def who(client: TestClient, settings: Settings) -> dict[str, dict[str, str]]:
    """Callers per role, keys scoped to tenant A, and data in A and B."""
    made = make_callers(
        client,
        settings,
        tenant=A,
        device_scopes=f"tenants={A};types=*;actions=read,write",
    )
    made["vehicle reader"] = _key(settings, Role.DEVELOPER, f"tenants={A};types=Vehicle")
    made["vehicle writer"] = _key(
        settings, Role.DEVICE, f"tenants={A};types=Vehicle;actions=read,write"
    )
    made["writing developer"] = _key(
        settings, Role.DEVELOPER, f"tenants={A};types=*;actions=read,write"
    )
    admin = made["admin"]
    for tenant, entities in (
        (
            A,
            [
                vehicle("urn:ngsi-ld:Vehicle:a1", 10),
                vehicle("urn:ngsi-ld:Building:a2", 0, "Building"),
            ],
        ),
        (
            B,
            [
                vehicle("urn:ngsi-ld:Vehicle:b1", 99),
                vehicle("urn:ngsi-ld:SecretSite:b2", 99, "SecretSite"),
            ],
        ),
    ):
        r = client.post(
            f"{HUB}/entityOperations/upsert",
            json=entities,
            headers=admin | {"NGSILD-Tenant": tenant},
        )
        assert r.status_code == 201, r.text
    return made


def _key(settings: Settings, role: Role, scopes: str) -> dict[str, str]:
    engine = db.make_engine(settings)
    try:
        with engine.begin() as connection:
            _, key = keys.create_api_key(
                connection,
                name=f"{role.value} {scopes}",
                role=role,
                scopes=keys.parse_scopes(scopes),
                actor="test",
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    return {"X-API-Key": key}


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {e["id"] for e in response.json()}


def in_tenant(headers: dict[str, str], tenant: str) -> dict[str, str]:
    return headers | {"NGSILD-Tenant": tenant}


@pytest.fixture(scope="module")
def key_a(who: dict[str, dict[str, str]]) -> dict[str, str]:
    """The device key that reads and writes every type in tenant A, and nothing else."""
    return who["device key"]


ADVERSARIAL_QUERIES = [
    {"idPattern": ".*"},
    {"idPattern": "urn:ngsi-ld:.*:b.*"},
    {"id": "urn:ngsi-ld:Vehicle:b1,urn:ngsi-ld:SecretSite:b2"},
    {"type": "Vehicle,SecretSite"},
    {"q": "speed>=0"},
    {"q": "speed==99", "type": "Vehicle"},
    {"type": "Vehicle", **NEAR},
    {"idPattern": ".*", "count": "true", "limit": "1000"},
]


@pytest.mark.parametrize("params", ADVERSARIAL_QUERIES)
def test_a_key_of_tenant_a_sees_only_a_whatever_the_query(
    client: TestClient, key_a: dict[str, str], params: dict[str, str]
) -> None:
    found = ids(client.get(f"{HUB}/entities", params=params, headers=in_tenant(key_a, A)))
    assert all(":a" in i for i in found), found
    assert not any(i.endswith(("b1", "b2")) for i in found)


@pytest.mark.parametrize("params", ADVERSARIAL_QUERIES)
def test_a_key_of_tenant_a_is_refused_in_b_as_in_a_tenant_that_does_not_exist(
    client: TestClient, key_a: dict[str, str], params: dict[str, str]
) -> None:
    for tenant in (B, NOWHERE):  # the same 403: B's existence is not revealed
        r = client.get(f"{HUB}/entities", params=params, headers=in_tenant(key_a, tenant))
        assert r.status_code == 403, r.text
        assert r.json()["type"].endswith("Forbidden")
        assert "b1" not in r.text
        assert "99" not in r.text
    body = {"type": "Query", "entities": [{"idPattern": ".*"}], "q": "speed>=0"}
    r = client.post(f"{HUB}/entityOperations/query", json=body, headers=in_tenant(key_a, B))
    assert r.status_code == 403


def test_discovery_in_a_shows_nothing_of_b(client: TestClient, key_a: dict[str, str]) -> None:
    types = client.get(f"{HUB}/types", headers=in_tenant(key_a, A))
    assert types.status_code == 200
    assert "SecretSite" not in types.text
    assert "Building" in types.text
    detailed = client.get(f"{HUB}/types", params={"details": "true"}, headers=in_tenant(key_a, A))
    assert "SecretSite" not in detailed.text
    assert client.get(f"{HUB}/types/SecretSite", headers=in_tenant(key_a, A)).status_code == 404
    attrs = client.get(f"{HUB}/attributes/speed", headers=in_tenant(key_a, A))
    assert attrs.status_code == 200
    assert attrs.json()["attributeCount"] == 2
    for path in ("/types", "/types/SecretSite", "/attributes", "/attributes/speed"):
        assert client.get(f"{HUB}{path}", headers=in_tenant(key_a, B)).status_code == 403


def test_batches_naming_b_ids_never_touch_b(
    client: TestClient, key_a: dict[str, str], who: dict[str, dict[str, str]]
) -> None:
    admin_b = in_tenant(who["admin"], B)
    before = client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:b1", headers=admin_b).json()
    headers = in_tenant(key_a, A)
    deleted = client.post(
        f"{HUB}/entityOperations/delete", json=["urn:ngsi-ld:Vehicle:b1"], headers=headers
    )
    assert deleted.status_code == 207  # not found in A
    assert deleted.json()["errors"][0]["error"]["status"] == 404
    updated = client.post(
        f"{HUB}/entityOperations/update",
        json=[{"id": "urn:ngsi-ld:Vehicle:b1", "speed": {"type": "Property", "value": 0}}],
        headers=headers,
    )
    assert updated.status_code == 207
    upserted = client.post(
        f"{HUB}/entityOperations/upsert",
        json=[vehicle("urn:ngsi-ld:Vehicle:b1", 1)],
        headers=headers,
    )
    assert upserted.status_code == 201  # a new entity in A with the same id
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:b1", headers=admin_b).json() == before
    for operation, body in (
        ("delete", ["urn:ngsi-ld:Vehicle:b1"]),
        ("upsert", [vehicle("urn:ngsi-ld:Vehicle:b1", 0)]),
        ("merge", [{"id": "urn:ngsi-ld:Vehicle:b1", "speed": 0}]),
    ):
        r = client.post(
            f"{HUB}/entityOperations/{operation}", json=body, headers=in_tenant(key_a, B)
        )
        assert r.status_code == 403, r.text
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:b1", headers=admin_b).json() == before
    assert (
        client.delete(
            f"{HUB}/entities/urn:ngsi-ld:Vehicle:b1", headers=in_tenant(key_a, B)
        ).status_code
        == 403
    )
    # clean up the copy made in A
    assert (
        client.delete(f"{HUB}/entities/urn:ngsi-ld:Vehicle:b1", headers=headers).status_code == 204
    )


def test_a_type_scoped_reader_must_name_types_in_scope(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    reader = in_tenant(who["vehicle reader"], A)
    assert ids(client.get(f"{HUB}/entities", params={"type": "Vehicle"}, headers=reader)) == {
        "urn:ngsi-ld:Vehicle:a1"
    }
    for params in (
        {"idPattern": ".*"},
        {"q": "speed>=0"},
        {"type": "Vehicle,Building"},
        {"type": "Building"},
        NEAR,
    ):
        r = client.get(f"{HUB}/entities", params=params, headers=reader)
        assert r.status_code == 403, (params, r.text)
    # (Vehicle;Building): an entity must be a Vehicle to match, so this is in scope
    r = client.get(f"{HUB}/entities", params={"type": "(Vehicle;Building)"}, headers=reader)
    assert r.status_code == 200
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:a1", headers=reader).status_code == 200
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Building:a2", headers=reader).status_code == 403
    assert client.get(f"{HUB}/types/Vehicle", headers=reader).status_code == 200
    for path in ("/types", "/types/Building", "/attributes", "/attributes/speed"):
        assert client.get(f"{HUB}{path}", headers=reader).status_code == 403, path
    # a user @context cannot rename an out-of-scope type into a granted term
    renamed = {"Vehicle": "https://uri.etsi.org/ngsi-ld/default-context/Building"}
    body = {"type": "Query", "entities": [{"type": "Vehicle"}], "@context": renamed}
    r = client.post(
        f"{HUB}/entityOperations/query",
        json=body,
        headers=reader | {"Content-Type": "application/ld+json"},
    )
    assert r.status_code == 403, r.text


def test_a_batch_refuses_only_the_entities_outside_the_scope(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    writer = in_tenant(who["vehicle writer"], A)
    batch = [
        vehicle("urn:ngsi-ld:Vehicle:a3", 5),
        vehicle("urn:ngsi-ld:Building:a4", 5, "Building"),
        vehicle("urn:ngsi-ld:Building:a2", 5),  # exists as a Building: retyping is a write to it
    ]
    r = client.post(f"{HUB}/entityOperations/upsert", json=batch, headers=writer)
    assert r.status_code == 207, r.text
    assert r.json()["success"] == ["urn:ngsi-ld:Vehicle:a3"]
    refused = {e["entityId"]: e["error"] for e in r.json()["errors"]}
    assert set(refused) == {"urn:ngsi-ld:Building:a4", "urn:ngsi-ld:Building:a2"}
    assert all(e["status"] == 403 and e["type"].endswith("Forbidden") for e in refused.values())
    admin = in_tenant(who["admin"], A)
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Building:a4", headers=admin).status_code == 404
    kept = client.get(f"{HUB}/entities/urn:ngsi-ld:Building:a2", headers=admin).json()
    assert kept["type"] == "Building"
    assert kept["speed"]["value"] == 0
    for operation, body in (
        ("update", [{"id": "urn:ngsi-ld:Building:a2", "speed": {"type": "Property", "value": 7}}]),
        ("merge", [{"id": "urn:ngsi-ld:Building:a2", "speed": 7}]),
        ("delete", ["urn:ngsi-ld:Building:a2"]),
        ("create", [vehicle("urn:ngsi-ld:Building:a5", 1, "Building")]),
    ):
        r = client.post(f"{HUB}/entityOperations/{operation}", json=body, headers=writer)
        assert r.status_code == 207, (operation, r.text)
        assert r.json()["errors"][0]["error"]["status"] == 403
    # single-entity writes: the stored type counts, and a user @context cannot disguise a type
    assert (
        client.delete(f"{HUB}/entities/urn:ngsi-ld:Building:a2", headers=writer).status_code == 403
    )
    r = client.patch(
        f"{HUB}/entities/urn:ngsi-ld:Building:a2/attrs",
        json={"speed": {"type": "Property", "value": 7}},
        headers=writer,
    )
    assert r.status_code == 403
    disguised = vehicle("urn:ngsi-ld:Building:a6", 1) | {
        "@context": {"Vehicle": "https://uri.etsi.org/ngsi-ld/default-context/Building"}
    }
    r = client.post(
        f"{HUB}/entities",
        json=disguised,
        headers=writer | {"Content-Type": "application/ld+json"},
    )
    assert r.status_code == 403, r.text
    assert (
        client.delete(f"{HUB}/entities/urn:ngsi-ld:Vehicle:a3", headers=writer).status_code == 204
    )


def test_anonymous_reads_only_the_open_data_tenant_and_never_writes(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    r = client.post(
        f"{HUB}/entities", json=vehicle("urn:ngsi-ld:Vehicle:open1", 1), headers=who["admin"]
    )
    assert r.status_code == 201
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:open1").status_code == 200
    assert client.get(f"{HUB}/entities", params={"idPattern": ".*"}).status_code == 200
    for tenant in (A, B, NOWHERE):
        r = client.get(
            f"{HUB}/entities", params={"idPattern": ".*"}, headers={"NGSILD-Tenant": tenant}
        )
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = client.post(f"{HUB}/entities", json=vehicle("urn:ngsi-ld:Vehicle:open2", 1))
    assert r.status_code == 401
    assert r.json()["type"].endswith("Unauthorized")
    assert r.headers["www-authenticate"] == 'Bearer realm="cityos"'
    r = client.delete(f"{HUB}/entities/urn:ngsi-ld:Vehicle:open1")
    assert r.status_code == 401
    # a citizen reads open data like anyone, and writes nothing
    assert (
        client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:open1", headers=who["citizen"]).status_code
        == 200
    )
    assert (
        client.delete(
            f"{HUB}/entities/urn:ngsi-ld:Vehicle:open1", headers=who["citizen"]
        ).status_code
        == 403
    )


def test_a_bad_credential_is_401_even_where_anonymous_may_read(client: TestClient) -> None:
    for headers in (
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-API-Key": "cityos_000000000000_" + "A" * 43},
        {"Authorization": "Bearer not-a-jwt", "X-API-Key": "cityos_000000000000_" + "A" * 43},
    ):
        r = client.get(f"{HUB}/entities", params={"type": "Vehicle"}, headers=headers)
        assert r.status_code == 401, headers
        assert 'error="invalid_token"' in r.headers["www-authenticate"]
        assert r.json()["type"].endswith("Unauthorized")


def test_operators_write_their_departments_types_only(
    client: TestClient, who: dict[str, dict[str, str]], settings: Settings
) -> None:
    transport = in_tenant(who["operator"], A)  # 교통과
    assert (
        client.get(f"{HUB}/entities", params={"idPattern": ".*"}, headers=transport).status_code
        == 200
    )
    r = client.post(
        f"{HUB}/entities", json=vehicle("urn:ngsi-ld:Vehicle:op1", 1), headers=transport
    )
    assert r.status_code == 201
    air = {"id": "urn:ngsi-ld:AirQualityObserved:op2", "type": "AirQualityObserved"}
    assert client.post(f"{HUB}/entities", json=air, headers=transport).status_code == 403
    assert (
        client.delete(f"{HUB}/entities/urn:ngsi-ld:Building:a2", headers=transport).status_code
        == 403
    )
    assert (
        client.delete(f"{HUB}/entities/urn:ngsi-ld:Vehicle:op1", headers=transport).status_code
        == 204
    )


def test_developer_keys_never_write_whatever_their_scopes(
    client: TestClient, who: dict[str, dict[str, str]]
) -> None:
    developer = in_tenant(who["writing developer"], A)
    assert (
        client.get(f"{HUB}/entities", params={"type": "Vehicle"}, headers=developer).status_code
        == 200
    )
    r = client.post(
        f"{HUB}/entities", json=vehicle("urn:ngsi-ld:Vehicle:dev1", 1), headers=developer
    )
    assert r.status_code == 403


@pytest.fixture
def fresh_admin(client: TestClient, who: dict[str, dict[str, str]]) -> dict[str, str]:
    """Return the headers of a new session of the admin caller."""
    name = client.get("/auth/me", headers=who["admin"]).json()["name"]
    return login_headers(client, name)


def test_logout_and_key_revocation_reach_the_hub_at_once(
    client: TestClient,
    who: dict[str, dict[str, str]],
    fresh_admin: dict[str, str],
    settings: Settings,
) -> None:
    in_a = in_tenant(fresh_admin, A)
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:a1", headers=in_a).status_code == 200
    assert client.post("/auth/logout", headers=fresh_admin).status_code == 204
    assert client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:a1", headers=in_a).status_code == 401

    key = _key(settings, Role.DEVELOPER, f"tenants={A}")
    assert (
        client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:a1", headers=in_tenant(key, A)).status_code
        == 200
    )
    prefix = key["X-API-Key"].split("_")[1]
    assert client.delete(f"/auth/keys/{prefix}", headers=who["admin"]).status_code == 200
    r = client.get(f"{HUB}/entities/urn:ngsi-ld:Vehicle:a1", headers=in_tenant(key, A))
    assert r.status_code == 401
