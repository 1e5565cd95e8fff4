"""Registration, login, lockout, token expiry, refresh rotation and logout through the API."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from cityos.config import Settings
from tests.identity.conftest import PASSWORD, Clock, bearer, login, unique


def assert_bilingual(body: dict[str, object]) -> None:
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert isinstance(body["detail_ko"], str)
    assert body["detail_ko"]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in body["detail_ko"])  # Hangul


def test_register_then_login_then_me(api: TestClient) -> None:
    name = unique("Hong.")
    r = api.post(
        "/auth/register", json={"username": name, "password": PASSWORD, "display_name": "홍길동"}
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["username"] == name.lower()
    assert created["roles"] == ["citizen"]
    assert "password" not in r.text
    assert "hash" not in r.text
    tokens = login(api, name.upper())  # usernames are case-insensitive
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    assert tokens["refresh_expires_in"] == 14 * 24 * 3600
    me = api.get("/auth/me", headers=bearer(tokens))
    assert me.status_code == 200
    assert me.json() | {"id": None} == {
        "kind": "user",
        "id": None,
        "name": name.lower(),
        "roles": ["citizen"],
        "department": None,
        "display_name": "홍길동",
        "scopes": None,
    }


def test_token_response_is_not_cached(api: TestClient, make_user: Callable[..., str]) -> None:
    r = api.post("/auth/token", data={"username": make_user(), "password": PASSWORD})
    assert r.headers["cache-control"] == "no-store"


def test_register_refuses_taken_reserved_and_bad_names(api: TestClient) -> None:
    name = unique()
    assert (
        api.post("/auth/register", json={"username": name, "password": PASSWORD}).status_code == 201
    )
    taken = api.post("/auth/register", json={"username": name.upper(), "password": PASSWORD})
    assert taken.status_code == 409
    assert_bilingual(taken.json())
    reserved = api.post("/auth/register", json={"username": "admin", "password": PASSWORD})
    assert reserved.status_code == 409
    for bad in ("a", "has space", "이름", "-dash", "x" * 40):
        r = api.post("/auth/register", json={"username": bad, "password": PASSWORD})
        assert r.status_code == 422, bad
        assert_bilingual(r.json())


def test_register_refuses_weak_passwords_and_bad_bodies(api: TestClient) -> None:
    name = unique()
    short = api.post("/auth/register", json={"username": name, "password": "short"})
    assert short.status_code == 422
    assert_bilingual(short.json())
    same = api.post("/auth/register", json={"username": name, "password": name})
    assert same.status_code == 422
    missing = api.post("/auth/register", json={"username": name})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["body", "password"]
    assert_bilingual(missing.json())
    secret = "never-echo-this-secret"
    extra = api.post(
        "/auth/register", json={"username": name, "password": secret, "roles": ["admin"]}
    )
    assert extra.status_code == 422  # a caller cannot pick their own roles
    assert secret not in extra.text
    garbage = api.post(
        "/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 422


def test_wrong_password_and_unknown_user_are_401_alike(
    api: TestClient, make_user: Callable[..., str]
) -> None:
    name = make_user()
    wrong = api.post("/auth/token", data={"username": name, "password": "wrong password"})
    unknown = api.post("/auth/token", data={"username": unique("ghost"), "password": PASSWORD})
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"] == "invalid_grant"
        assert_bilingual(r.json())
    assert wrong.json() == unknown.json()  # no hint which usernames exist


def test_token_endpoint_refuses_malformed_requests(api: TestClient) -> None:
    as_json = api.post("/auth/token", json={"username": "a", "password": "b"})
    assert as_json.status_code == 400
    assert_bilingual(as_json.json())
    assert api.post("/auth/token", data={"username": "someone"}).status_code == 400
    grant = api.post("/auth/token", data={"grant_type": "client_credentials"})
    assert grant.status_code == 400
    assert grant.json()["error"] == "unsupported_grant_type"
    repeated = api.post(
        "/auth/token",
        content=b"username=a&username=b&password=c",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code == 400
    bad_bytes = api.post(
        "/auth/token",
        content=b"username=\xff\xfe&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad_bytes.status_code == 400
    huge = api.post("/auth/token", data={"username": "a", "password": "x" * 20_000})
    assert huge.status_code == 400


def test_lockout_after_repeated_failures_then_release(
    api: TestClient, make_user: Callable[..., str], settings: Settings, clock: Clock
) -> None:
    name = make_user()
    for _ in range(settings.login_max_failures - 1):
        r = api.post("/auth/token", data={"username": name, "password": "wrong password"})
        assert r.status_code == 401
    locked = api.post("/auth/token", data={"username": name, "password": "wrong password"})
    assert locked.status_code == 423
    assert int(locked.headers["retry-after"]) > 0
    assert_bilingual(locked.json())
    # while locked even the right password is refused
    again = api.post("/auth/token", data={"username": name, "password": PASSWORD})
    assert again.status_code == 423
    clock.advance(minutes=settings.login_lockout_minutes, seconds=1)
    login(api, name)


def test_a_success_resets_the_failure_count(
    api: TestClient, make_user: Callable[..., str], settings: Settings
) -> None:
    name = make_user()
    for _ in range(3):
        for _ in range(settings.login_max_failures - 1):
            api.post("/auth/token", data={"username": name, "password": "wrong password"})
        login(api, name)


def test_access_token_expires(api: TestClient, make_user: Callable[..., str], clock: Clock) -> None:
    tokens = login(api, make_user())
    clock.advance(minutes=14, seconds=59)
    assert api.get("/auth/me", headers=bearer(tokens)).status_code == 200
    clock.advance(seconds=1)
    expired = api.get("/auth/me", headers=bearer(tokens))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]
    assert_bilingual(expired.json())


def test_refresh_rotates_and_old_refresh_token_stops_working(
    api: TestClient, make_user: Callable[..., str], clock: Clock
) -> None:
    first = login(api, make_user())
    clock.advance(minutes=20)
    r = api.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert api.get("/auth/me", headers=bearer(second)).status_code == 200
    # the used refresh token is dead; replaying it also ends the session it belonged to
    replay = api.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401
    assert api.get("/auth/me", headers=bearer(second)).status_code == 401
    stolen_successor = api.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
    )
    assert stolen_successor.status_code == 401


def test_refresh_token_expires(
    api: TestClient, make_user: Callable[..., str], clock: Clock, settings: Settings
) -> None:
    tokens = login(api, make_user())
    clock.advance(days=settings.refresh_token_days, seconds=1)
    r = api.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 401
    unknown = api.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": "nope"})
    assert unknown.status_code == 401


def test_logout_revokes_access_and_refresh_tokens(
    api: TestClient, make_user: Callable[..., str]
) -> None:
    name = make_user()
    tokens, other = login(api, name), login(api, name)
    assert api.post("/auth/logout", headers=bearer(tokens)).status_code == 204
    assert api.get("/auth/me", headers=bearer(tokens)).status_code == 401
    refresh = api.post(
        "/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refresh.status_code == 401
    # the other session is untouched until "everywhere"
    assert api.get("/auth/me", headers=bearer(other)).status_code == 200
    third = login(api, name)
    r = api.post("/auth/logout", headers=bearer(third), json={"everywhere": True})
    assert r.status_code == 204
    assert api.get("/auth/me", headers=bearer(other)).status_code == 401
    assert api.post("/auth/logout").status_code == 401


def test_credentials_are_checked_not_ignored(
    api: TestClient, make_user: Callable[..., str], settings: Settings
) -> None:
    assert api.get("/test/optional").json() == {"id": None}
    assert api.get("/auth/me").status_code == 401
    for header in ("Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Token abc"):
        r = api.get("/test/optional", headers={"Authorization": header})
        assert r.status_code == 401, header
    tokens = login(api, make_user())
    head, payload, _ = tokens["access_token"].split(".")
    forged = f"{head}.{payload}.AAAA"
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    both = api.get(
        "/auth/me", headers=bearer(tokens) | {"X-API-Key": "cityos_000000000000_" + "a" * 43}
    )
    assert both.status_code == 401
    assert api.get("/test/optional", headers=bearer(tokens)).json()["id"] is not None
