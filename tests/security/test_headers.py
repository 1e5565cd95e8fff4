"""Security headers on every response, HSTS only over TLS, and the CORS allow-list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from cityos.app import create_app
from cityos.config import Settings
from cityos.security.headers import APP_CSP, DOCS_CSP
from tests.conftest import STORAGE_INDEPENDENT

# Headers and CORS are added by one ASGI layer in front of every route, whatever the storage.
pytestmark = STORAGE_INDEPENDENT

ORIGIN = "https://app.sejong.example"


@pytest.fixture(scope="module")
def cors_client(settings: Settings) -> Iterator[TestClient]:
    """A client on an app that allows one origin."""
    allowed = settings.model_copy(update={"cors_origins": [ORIGIN]})
    with TestClient(create_app(allowed)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/ngsi-ld/v1/entities?type=Vehicle"),
        ("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Vehicle:none"),  # an error answer too
        ("GET", "/auth/me"),  # 401
        ("POST", "/auth/token"),  # 400
        ("GET", "/no/such/route"),  # 404 from the router
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    r = client.request(method, path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["content-security-policy"] == APP_CSP
    assert "frame-ancestors 'none'" in APP_CSP
    assert "default-src 'self'" in APP_CSP
    assert "unsafe-inline" not in APP_CSP
    assert "strict-transport-security" not in r.headers  # plain HTTP: never HSTS


def test_the_api_docs_get_the_policy_their_pages_need(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.headers["content-security-policy"] == DOCS_CSP
        assert "https://cdn.jsdelivr.net" in r.text  # what DOCS_CSP allows is what they load


def test_hsts_only_over_tls_or_behind_a_tls_proxy(settings: Settings) -> None:
    with TestClient(create_app(settings), base_url="https://testserver") as tls:
        assert (
            tls.get("/healthz").headers["strict-transport-security"].startswith("max-age=63072000")
        )
    proxied = settings.model_copy(update={"behind_tls": True})
    with TestClient(create_app(proxied)) as behind:
        assert "strict-transport-security" in behind.get("/healthz").headers


def test_no_cross_origin_access_by_default(client: TestClient) -> None:
    r = client.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in r.headers
    preflight = client.options(
        "/auth/me",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_an_allowed_origin_may_call_with_credentials(cors_client: TestClient) -> None:
    preflight = cors_client.options(
        "/ngsi-ld/v1/entities",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-CSRF-Token, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert preflight.headers["x-content-type-options"] == "nosniff"
    r = cors_client.get("/healthz", headers={"Origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == ORIGIN


def test_another_origin_is_not_allowed(cors_client: TestClient) -> None:
    evil = "https://evil.example"
    r = cors_client.get("/healthz", headers={"Origin": evil})
    assert "access-control-allow-origin" not in r.headers
    preflight = cors_client.options(
        "/auth/me", headers={"Origin": evil, "Access-Control-Request-Method": "DELETE"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("bad", ["*", "https://*.example.kr", "app.example.kr", "https://a.kr/x"])
def test_settings_refuse_a_wildcard_or_malformed_origin(bad: str) -> None:
    with pytest.raises(ValidationError, match="CITYOS_CORS_ORIGINS"):
        Settings(cors_origins=[bad])


def test_the_allowed_origin_may_log_in_with_cookies(cors_client: TestClient) -> None:
    r = cors_client.post(
        "/auth/login",
        data={"username": "nobody-here", "password": "whatever pw"},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 401  # the origin passed; the credentials did not
    assert r.headers["access-control-allow-origin"] == ORIGIN


def test_with_cors_limits_run_inside_it_and_headers_outside(settings: Settings) -> None:
    """CORS sits between the two halves of the edge: a 413 or 429 gets CORS and security
    headers, a preflight is answered before any limit and is still counted in the metrics."""
    tight = settings.model_copy(
        update={
            "cors_origins": [ORIGIN],
            "rate_limit": "on",
            "rate_limit_ip_per_second": 0.001,
            "rate_limit_ip_burst": 3,
            "max_request_bytes": 1024,
        }
    )
    here = ("127.0.0.1", 50000)  # /metrics answers a scraper on this host
    with TestClient(create_app(tight), client=here) as client:
        origin = {"Origin": ORIGIN}
        too_big = client.post("/auth/token", content=b"x" * 2000, headers=origin)
        assert too_big.status_code == 413
        answers = [client.get("/auth/me", headers=origin) for _ in range(3)]
        assert [r.status_code for r in answers] == [401, 401, 429]
        preflight = client.options(
            "/auth/me", headers={**origin, "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 200  # not limited: CORS answered it first
        for r in (too_big, answers[2], preflight):
            assert r.headers["access-control-allow-origin"] == ORIGIN
            assert r.headers["x-content-type-options"] == "nosniff"
        metrics = client.get("/metrics").text
        for status in ("413", "429", "200"):
            assert f'route="unmatched",status="{status}"' in metrics
