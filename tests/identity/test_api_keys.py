"""API keys: created by admins, shown once, stored as a hash, last-used, revoked, scoped."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from cityos.identity import key_allows
from cityos.identity.keys import get_api_key
from cityos.identity.models import Role, api_keys
from tests.identity.conftest import Clock, bearer, login

SCOPES = {"tenants": ["sejong"], "entity_types": ["AirQualityObserved"], "actions": ["write"]}


def admin_headers(api: TestClient, make_user: Callable[..., str]) -> dict[str, str]:
    return bearer(login(api, make_user(Role.ADMIN)))


def test_admin_creates_a_key_shown_once_and_stored_hashed(
    api: TestClient, make_user: Callable[..., str], engine: Engine
) -> None:
    headers = admin_headers(api, make_user)
    r = api.post(
        "/auth/keys",
        headers=headers,
        json={"name": "대기질 센터 1", "role": "device", "scopes": SCOPES},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith(f"cityos_{created['prefix']}_")
    assert created["scopes"] == SCOPES
    listed = api.get("/auth/keys", headers=headers)
    assert listed.status_code == 200
    assert key not in listed.text
    assert created["id"] in {k["id"] for k in listed.json()}
    with engine.connect() as connection:
        row = connection.execute(sa.select(api_keys).where(api_keys.c.id == created["id"])).one()
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr(tuple(row))


def test_only_admins_manage_keys(api: TestClient, make_user: Callable[..., str]) -> None:
    body = {"name": "x", "role": "developer"}
    assert api.post("/auth/keys", json=body).status_code == 401
    for role in (Role.CITIZEN, Role.OPERATOR, Role.DEVELOPER):
        headers = bearer(login(api, make_user(role, department="교통과")))
        r = api.post("/auth/keys", headers=headers, json=body)
        assert r.status_code == 403, role
        assert r.json()["detail_ko"]
        assert api.get("/auth/keys", headers=headers).status_code == 403


def test_key_requests_are_validated(api: TestClient, make_user: Callable[..., str]) -> None:
    headers = admin_headers(api, make_user)
    for body in (
        {"name": "x", "role": "admin"},
        {"name": "", "role": "device"},
        {"name": "x", "role": "device", "scopes": {"actions": ["delete"]}},
        {"name": "x", "role": "device", "scopes": {"tenants": []}},
    ):
        assert api.post("/auth/keys", headers=headers, json=body).status_code == 422, body


def test_a_key_authenticates_records_last_use_and_dies_when_revoked(
    api: TestClient, make_user: Callable[..., str], engine: Engine, clock: Clock
) -> None:
    headers = admin_headers(api, make_user)
    created = api.post(
        "/auth/keys", headers=headers, json={"name": "hackathon team 3", "role": "developer"}
    ).json()
    assert created["last_used_at"] is None
    me = api.get("/auth/me", headers={"X-API-Key": created["key"]})
    assert me.status_code == 200
    assert me.json()["kind"] == "api_key"
    assert me.json()["roles"] == ["developer"]
    assert me.json()["scopes"] == {"tenants": ["*"], "entity_types": ["*"], "actions": ["read"]}
    with engine.connect() as connection:
        used = get_api_key(connection, key_id=created["id"]).last_used_at
    assert used == clock.now
    assert api.post("/auth/logout", headers={"X-API-Key": created["key"]}).status_code == 422
    revoked = api.delete(f"/auth/keys/{created['prefix']}", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    dead = api.get("/auth/me", headers={"X-API-Key": created["key"]})
    assert dead.status_code == 401
    assert dead.json()["detail_ko"]
    assert api.delete("/auth/keys/no-such-key", headers=headers).status_code == 404


def test_wrong_and_forged_keys_are_refused(api: TestClient, make_user: Callable[..., str]) -> None:
    headers = admin_headers(api, make_user)
    key = api.post("/auth/keys", headers=headers, json={"name": "k", "role": "device"}).json()[
        "key"
    ]
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")  # right prefix, wrong secret
    for candidate in (forged, "cityos_", "garbage", key + "x"):
        assert api.get("/auth/me", headers={"X-API-Key": candidate}).status_code == 401


def test_key_allows_checks_the_stored_scopes(
    api: TestClient, make_user: Callable[..., str], engine: Engine
) -> None:
    headers = admin_headers(api, make_user)
    created = api.post(
        "/auth/keys", headers=headers, json={"name": "bin 7", "role": "device", "scopes": SCOPES}
    ).json()
    with engine.connect() as connection:
        record = get_api_key(connection, key_id=created["id"])
    assert key_allows(record, "sejong", "AirQualityObserved", "write")
    assert not key_allows(record, "sejong", "AirQualityObserved", "read")
    assert not key_allows(record, "other", "AirQualityObserved", "write")
    assert not key_allows(record, "sejong", "WasteContainer", "write")
    api.delete(f"/auth/keys/{created['id']}", headers=headers)
    with engine.connect() as connection:
        record = get_api_key(connection, key_id=created["id"])
    assert not key_allows(record, "sejong", "AirQualityObserved", "write")
