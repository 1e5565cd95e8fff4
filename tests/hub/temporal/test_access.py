"""Temporal routes check access like every hub route: per tenant, action and entity type."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from tests.conftest import make_callers

HUB_AUTH = "on"
NGSI = "/ngsi-ld/v1"
TEMPORAL = f"{NGSI}/temporal/entities"
TENANT = "urn:ngsi-ld:tenant:temporal-access"
CAR = "urn:ngsi-ld:Vehicle:bus-1"
AIR = "urn:ngsi-ld:AirQualityObserved:aq-1"


def reading(value: float) -> list[dict[str, object]]:
    return [{"type": "Property", "value": value, "observedAt": "2026-11-25T00:00:00Z"}]


@pytest.fixture(scope="module")
def callers(client: TestClient, settings: Settings) -> dict[str, dict[str, str]]:
    made = make_callers(
        client, settings, tenant=TENANT, developer_scopes=f"tenants={TENANT};types=Vehicle"
    )
    admin = made["admin"] | {"NGSILD-Tenant": TENANT}
    for eid, kind in ((CAR, "Vehicle"), (AIR, "AirQualityObserved")):
        r = client.post(TEMPORAL, json={"id": eid, "type": kind, "v": reading(1)}, headers=admin)
        assert r.status_code == 201, r.text
    return {role: h | {"NGSILD-Tenant": TENANT} for role, h in made.items()}


def test_a_device_key_writes_only_the_history_of_its_types(
    client: TestClient, callers: dict[str, dict[str, str]]
) -> None:
    device = callers["device key"]
    r = client.post(f"{TEMPORAL}/{CAR}/attrs", json={"v": reading(2)}, headers=device)
    assert r.status_code == 204, r.text
    for method, url, body in (
        ("POST", f"{TEMPORAL}/{AIR}/attrs", {"v": reading(2)}),
        ("POST", TEMPORAL, {"id": AIR, "type": "AirQualityObserved", "v": reading(2)}),
        ("POST", TEMPORAL, {"id": CAR, "type": "AirQualityObserved", "v": reading(2)}),
        ("DELETE", f"{TEMPORAL}/{AIR}", None),
        ("DELETE", f"{TEMPORAL}/{AIR}/attrs/v", None),
    ):
        r = client.request(method, url, json=body, headers=device)
        assert r.status_code == 403, (method, url, r.text)
        assert r.json()["type"].endswith("Forbidden")
    assert client.get(f"{TEMPORAL}/{AIR}", headers=callers["admin"]).json()["v"][0]["value"] == 1


def test_a_scoped_reader_sees_only_its_types(
    client: TestClient, callers: dict[str, dict[str, str]]
) -> None:
    reader = callers["developer key"]
    assert client.get(TEMPORAL, params={"type": "Vehicle"}, headers=reader).status_code == 200
    assert client.get(f"{TEMPORAL}/{CAR}", headers=reader).status_code == 200
    for params in ({"type": "AirQualityObserved"}, {"id": AIR}, {"attrs": "v"}):
        assert client.get(TEMPORAL, params=params, headers=reader).status_code == 403, params
    assert client.get(f"{TEMPORAL}/{AIR}", headers=reader).status_code == 403
    anonymous = {"NGSILD-Tenant": TENANT}
    r = client.get(f"{TEMPORAL}/{CAR}", headers=anonymous)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
