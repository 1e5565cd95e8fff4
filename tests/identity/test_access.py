"""The hub access policy, the auth setting and the credential cache, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from cityos.app import create_app
from cityos.cli import app as cli
from cityos.config import DEFAULT_TENANT, Settings, SettingsError
from cityos.identity.access import EVERY_TYPE, department_scopes, hub_grant
from cityos.identity.cache import PrincipalCache
from cityos.identity.keys import parse_scopes
from cityos.identity.models import ApiKey, Principal, Role

HUB_AUTH = "on"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
OTHER = "urn:ngsi-ld:tenant:other"


def user(*roles: Role, department: str | None = None) -> Principal:
    return Principal(
        kind="user",
        id="u1",
        name="u",
        roles=frozenset(roles),
        department=department,
        session_id="s1",
    )


def key(role: Role, scopes: str, *, revoked: bool = False) -> Principal:
    record = ApiKey(
        id="k1",
        prefix="000000000000",
        name="k",
        role=role,
        scopes=parse_scopes(scopes),
        created_at=NOW,
        created_by=None,
        last_used_at=None,
        revoked_at=NOW if revoked else None,
    )
    return Principal(kind="api_key", id="k1", name="k", roles=frozenset({role}), api_key=record)


def test_auth_is_on_by_default_in_every_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITYOS_AUTH", raising=False)
    for mode in ("development", "production", "test"):
        assert Settings(mode=mode, secret_key="x" * 40).auth == "on"  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_auth_off_is_allowed_on_loopback(host: str) -> None:
    assert Settings(auth="off", host=host).auth == "off"


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "192.168.0.5", "cityos.example"])
def test_auth_off_is_refused_off_loopback_in_both_languages(host: str) -> None:
    with pytest.raises(ValueError, match="CITYOS_AUTH=off") as refused:  # pydantic wraps it
        Settings(auth="off", host=host)
    assert "CITYOS_AUTH=off" in str(refused.value)
    assert "루프백" in str(refused.value)
    assert "loopback" in str(refused.value)


def test_anyone_reads_the_open_data_tenant_and_nobody_anonymous_writes() -> None:
    settings = Settings()
    assert settings.open_data_tenant == DEFAULT_TENANT
    for caller in (None, user(Role.CITIZEN), key(Role.DEVICE, f"tenants={OTHER}")):
        assert (
            hub_grant(caller, tenant=DEFAULT_TENANT, action="read", settings=settings) == EVERY_TYPE
        )
    for action in ("read", "write"):
        assert hub_grant(None, tenant=OTHER, action=action, settings=settings) is None  # type: ignore[arg-type]
    assert hub_grant(None, tenant=DEFAULT_TENANT, action="write", settings=settings) is None
    closed = Settings(open_data_tenant="")
    assert hub_grant(None, tenant=DEFAULT_TENANT, action="read", settings=closed) is None


def test_roles_and_scopes_decide_the_grant() -> None:
    settings = Settings()

    def grant(caller: Principal, tenant: str, action: str) -> frozenset[str] | None:
        return hub_grant(caller, tenant=tenant, action=action, settings=settings)  # type: ignore[arg-type]

    assert grant(user(Role.ADMIN), OTHER, "write") == EVERY_TYPE
    assert grant(user(Role.OPERATOR, department="교통과"), OTHER, "read") == EVERY_TYPE
    transport = grant(user(Role.OPERATOR, department="교통과"), OTHER, "write")
    assert transport is not None
    assert "Vehicle" in transport
    assert "Hospital" not in transport
    assert grant(user(Role.OPERATOR, department="없는과"), OTHER, "write") is None
    assert grant(user(Role.OPERATOR), OTHER, "write") is None
    for role in (Role.CITIZEN, Role.RESIDENT, Role.DEVELOPER):
        assert grant(user(role), OTHER, "read") is None
    reader = key(Role.DEVELOPER, f"tenants={OTHER};types=Vehicle;actions=read,write")
    assert grant(reader, OTHER, "read") == frozenset({"Vehicle"})
    assert grant(reader, OTHER, "write") is None  # developer keys never write
    assert grant(reader, "urn:ngsi-ld:tenant:third", "read") is None
    device = key(Role.DEVICE, f"tenants={OTHER};types=Vehicle;actions=write")
    assert grant(device, OTHER, "write") == frozenset({"Vehicle"})
    assert grant(device, OTHER, "read") is None
    revoked = key(Role.DEVICE, "actions=read,write", revoked=True)
    assert grant(revoked, OTHER, "write") is None


def test_a_bad_department_table_stops_start_up() -> None:
    settings = Settings(department_scopes={"교통과": "types=Vehicle;actions=delete"})
    with pytest.raises(SettingsError, match="교통과"):
        department_scopes(settings)
    with pytest.raises(SettingsError):
        create_app(settings)


def test_the_cache_forgets_at_ttl_at_token_expiry_and_on_demand() -> None:
    cache = PrincipalCache(ttl_seconds=10)
    admin = user(Role.ADMIN)
    cache.put("Bearer a", admin, NOW, expires_at=NOW + timedelta(seconds=3))
    assert cache.get("Bearer a", NOW + timedelta(seconds=2)) is admin
    assert cache.get("Bearer a", NOW + timedelta(seconds=3)) is None  # the token expired
    cache.put("Bearer b", admin, NOW, expires_at=None)
    assert cache.get("Bearer b", NOW + timedelta(seconds=9)) is admin
    assert cache.get("Bearer b", NOW + timedelta(seconds=10)) is None  # the TTL ended
    cache.put("Bearer c", admin, NOW, expires_at=None)
    cache.put("X-API-Key k", key(Role.DEVICE, ""), NOW, expires_at=None)
    cache.forget(session_id="s1")
    assert cache.get("Bearer c", NOW) is None
    assert cache.get("X-API-Key k", NOW) is not None
    cache.forget(key_id="k1")
    assert cache.get("X-API-Key k", NOW) is None
    small = PrincipalCache(ttl_seconds=10, max_entries=2)
    for name in "xyz":
        small.put(name, admin, NOW, expires_at=None)
    assert small.get("x", NOW) is None
    assert small.get("z", NOW) is admin
    off = PrincipalCache(ttl_seconds=0)
    off.put("Bearer d", admin, NOW, expires_at=None)
    assert off.get("Bearer d", NOW) is None


def test_cityos_up_refuses_auth_off_on_a_public_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYOS_AUTH", "off")
    result = CliRunner().invoke(cli, ["up", "--host", "0.0.0.0", "--port", "8999"])
    assert result.exit_code == 2
    assert "CITYOS_AUTH=off" in result.output
