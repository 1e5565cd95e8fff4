"""Cookie sessions for the web app: HttpOnly cookies, CSRF double-submit, refresh, logout."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cityos import db
from cityos.app import create_app
from cityos.config import Settings
from cityos.identity import service
from cityos.identity.models import Role
from tests.conftest import CALLER_PASSWORD, STORAGE_INDEPENDENT

# On SQLite only: how tokens travel (cookie flags, CSRF double-submit) does not depend on the
# storage; tests/identity/test_api_auth.py checks sessions, refresh and logout on both backends
# (docs/testing.md).
pytestmark = STORAGE_INDEPENDENT
HUB_AUTH = "on"
TENANT = "urn:ngsi-ld:tenant:cookies"
_names = itertools.count()


@pytest.fixture(scope="module")
def app(settings: Settings) -> Iterator[FastAPI]:
    """A running app; each test opens its own browser (cookie jar) on it."""
    application = create_app(settings)
    with TestClient(application):
        yield application


@pytest.fixture
def browser(app: FastAPI) -> TestClient:
    return TestClient(app)


def make_user(settings: Settings, *roles: Role) -> str:
    """Create a user with roles (citizen by default) and return the username."""
    name = f"cookie{next(_names):03d}"
    engine = db.make_engine(settings)
    try:
        with engine.begin() as connection:
            from datetime import UTC, datetime

            service.create_user(
                connection,
                username=name,
                password=CALLER_PASSWORD,
                roles=set(roles) or {Role.CITIZEN},
                actor="test",
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    return name


def log_in(browser: TestClient, name: str) -> str:
    """Log in with cookies and return the CSRF token."""
    r = browser.post("/auth/login", data={"username": name, "password": CALLER_PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def cookie_lines(response: object) -> dict[str, str]:
    lines = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return {line.split("=", 1)[0]: line for line in lines}


def test_login_sets_httponly_samesite_cookies_and_no_token_in_the_body(
    browser: TestClient, settings: Settings
) -> None:
    r = browser.post(
        "/auth/login", data={"username": make_user(settings), "password": CALLER_PASSWORD}
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"csrf_token", "expires_in", "refresh_expires_in"}
    assert r.headers["cache-control"] == "no-store"
    lines = cookie_lines(r)
    access, refresh, csrf = lines["cityos_access"], lines["cityos_refresh"], lines["cityos_csrf"]
    assert "HttpOnly" in access
    assert "SameSite=lax" in access
    assert "Path=/" in access
    assert "HttpOnly" in refresh
    assert "SameSite=strict" in refresh
    assert "Path=/auth" in refresh
    assert "HttpOnly" not in csrf  # the page's script reads it
    assert f"cityos_csrf={body['csrf_token']}" in csrf
    assert all("Secure" not in line for line in lines.values())  # plain HTTP here
    assert r.cookies["cityos_access"] not in r.text
    assert browser.get("/auth/me").json()["kind"] == "user"


def test_cookies_are_secure_over_tls(app: FastAPI, settings: Settings) -> None:
    tls = TestClient(app, base_url="https://testserver")
    r = tls.post("/auth/login", data={"username": make_user(settings), "password": CALLER_PASSWORD})
    assert all("Secure" in line for line in cookie_lines(r).values())


def test_a_wrong_password_sets_no_cookie(browser: TestClient, settings: Settings) -> None:
    r = browser.post(
        "/auth/login", data={"username": make_user(settings), "password": "wrong-one!"}
    )
    assert r.status_code == 401
    assert "set-cookie" not in r.headers


def test_unsafe_requests_by_cookie_need_the_csrf_token(
    browser: TestClient, settings: Settings
) -> None:
    csrf = log_in(browser, make_user(settings))
    consent = {"purpose": "walking_rewards", "version": "2026-1"}
    refused = browser.post("/auth/me/consents", json=consent)
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_failed"
    wrong = browser.post("/auth/me/consents", json=consent, headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    ok = browser.post("/auth/me/consents", json=consent, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert browser.get("/auth/me/consents").status_code == 200  # safe methods need none


def test_hub_writes_by_cookie_need_the_csrf_token_too(
    browser: TestClient, settings: Settings
) -> None:
    csrf = log_in(browser, make_user(settings, Role.ADMIN))
    entity = {"id": "urn:ngsi-ld:Vehicle:cookie", "type": "Vehicle"}
    tenant = {"NGSILD-Tenant": TENANT}
    refused = browser.post("/ngsi-ld/v1/entities", json=entity, headers=tenant)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("Forbidden")
    assert "CSRF" in refused.json()["detail"]
    made = browser.post(
        "/ngsi-ld/v1/entities", json=entity, headers=tenant | {"X-CSRF-Token": csrf}
    )
    assert made.status_code == 201, made.text
    read = browser.get(f"/ngsi-ld/v1/entities/{entity['id']}", headers=tenant)
    assert read.status_code == 200


def test_the_csrf_token_of_another_session_does_not_pass(app: FastAPI, settings: Settings) -> None:
    first, second = TestClient(app), TestClient(app)
    log_in(first, make_user(settings))
    other_csrf = log_in(second, make_user(settings))
    attacker = TestClient(app)
    access = first.cookies["cityos_access"]
    r = attacker.post(
        "/auth/me/consents",
        json={"purpose": "walking_rewards", "version": "2026-1"},
        headers={
            "Cookie": f"cityos_access={access}; cityos_csrf={other_csrf}",
            "X-CSRF-Token": other_csrf,
        },
    )
    assert r.status_code == 403
    assert r.json()["error"] == "csrf_failed"


def test_bearer_and_api_key_requests_need_no_csrf_token(
    browser: TestClient, settings: Settings
) -> None:
    name = make_user(settings)
    log_in(browser, name)  # cookies in the jar, but the header decides
    token = browser.post(
        "/auth/token", data={"username": name, "password": CALLER_PASSWORD}
    ).json()["access_token"]
    r = browser.post(
        "/auth/me/consents",
        json={"purpose": "walking_rewards", "version": "2026-1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201


def test_refresh_rotates_the_cookies_and_needs_the_csrf_token(
    browser: TestClient, settings: Settings
) -> None:
    csrf = log_in(browser, make_user(settings))
    old_refresh = browser.cookies["cityos_refresh"]
    assert browser.post("/auth/refresh").status_code == 403
    r = browser.post("/auth/refresh", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["csrf_token"] == csrf  # bound to the session, which goes on
    assert browser.cookies["cityos_refresh"] != old_refresh
    assert browser.get("/auth/me").status_code == 200
    # The old refresh cookie, replayed, ends the session (a stolen copy).
    thief = TestClient(browser.app)
    replay = thief.post(
        "/auth/refresh",
        headers={
            "Cookie": f"cityos_refresh={old_refresh}; cityos_csrf={csrf}",
            "X-CSRF-Token": csrf,
        },
    )
    assert replay.status_code == 401
    assert browser.get("/auth/me").status_code == 401


def test_refresh_without_a_cookie_is_a_bad_request(browser: TestClient) -> None:
    r = browser.post("/auth/refresh")
    assert r.status_code == 400


def test_logout_clears_the_cookies_and_ends_the_session(
    browser: TestClient, settings: Settings
) -> None:
    csrf = log_in(browser, make_user(settings))
    access = browser.cookies["cityos_access"]
    assert browser.post("/auth/logout").status_code == 403  # CSRF applies to logout too
    r = browser.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204
    lines = cookie_lines(r)
    assert {"cityos_access", "cityos_refresh", "cityos_csrf"} <= set(lines)
    assert all("Max-Age=0" in line for line in lines.values())
    assert "cityos_access" not in browser.cookies
    replay = TestClient(browser.app).get("/auth/me", headers={"Cookie": f"cityos_access={access}"})
    assert replay.status_code == 401


def test_login_from_another_website_is_refused(browser: TestClient, settings: Settings) -> None:
    # Login CSRF: a hostile page posts its own credentials so the victim works in its account.
    form = {"username": make_user(settings), "password": CALLER_PASSWORD}
    hostile = browser.post("/auth/login", data=form, headers={"Origin": "https://evil.example"})
    assert hostile.status_code == 403
    assert hostile.json()["error"] == "csrf_failed"
    assert hostile.json()["detail_ko"]
    assert "set-cookie" not in hostile.headers
    same_site = browser.post("/auth/login", data=form, headers={"Origin": "http://testserver"})
    assert same_site.status_code == 200
    assert browser.post("/auth/login", data=form).status_code == 200  # no Origin: not a browser
    csrf = same_site.json()["csrf_token"]
    refresh = browser.post(
        "/auth/refresh",
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    assert refresh.status_code == 403
