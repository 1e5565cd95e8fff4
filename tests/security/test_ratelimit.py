"""Rate limits: token buckets per IP and per key or user, 429 with Retry-After, exemptions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from cityos.security.ratelimit import Limits, TokenBuckets, limits_of
from tests.conftest import login_headers, make_callers

HUB_AUTH = "on"
TENANT = "urn:ngsi-ld:tenant:rate"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token back after 1/2 s
    assert buckets.take("b") == 0.0  # buckets are per key
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    clock.now += 100  # refills up to the burst, never beyond
    assert [buckets.take("a") for _ in range(4)][-1] > 0


def test_the_least_recently_used_buckets_are_forgotten() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, clock=FakeClock(), max_buckets=2)
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert buckets.take("c") > 0  # still remembered (empty)
    assert buckets.take("a") == 0.0  # forgotten: a fresh bucket


def test_limits_are_off_in_test_mode_high_in_development_and_set_in_production() -> None:
    assert limits_of(Settings(mode="test")) is None
    assert limits_of(Settings(mode="test", rate_limit="on")) is not None
    assert limits_of(Settings(mode="development", rate_limit="off")) is None
    development = limits_of(Settings(mode="development"))
    production = limits_of(Settings(mode="production", secret_key="p" * 40))
    assert production == Limits(ip_rate=100.0, ip_burst=200, client_rate=50.0, client_burst=100)
    assert development is not None
    assert development.ip_rate == 100 * production.ip_rate
    chosen = limits_of(Settings(mode="production", secret_key="p" * 40, rate_limit_ip_burst=7))
    assert chosen is not None
    assert chosen.ip_burst == 7


@pytest.fixture(scope="module")
def limited(settings: Settings) -> Iterator[TestClient]:
    """A client on an app with tiny limits: no refill during the test (0.01 token/s)."""
    tight = settings.model_copy(
        update={
            "rate_limit": "on",
            "rate_limit_ip_per_second": 0.01,
            "rate_limit_ip_burst": 1000,
            "rate_limit_client_per_second": 0.01,
            "rate_limit_client_burst": 3,
        }
    )
    with TestClient(create_app(tight)) as client:
        yield client


def test_each_key_and_user_has_its_own_bucket(limited: TestClient, settings: Settings) -> None:
    callers = make_callers(limited, settings, tenant=TENANT)
    url = "/ngsi-ld/v1/entities?type=Vehicle"
    for name in ("developer key", "citizen"):
        answers = [limited.get(url, headers=callers[name]).status_code for _ in range(4)]
        assert 429 not in answers[:3], name
        assert answers[3] == 429, name
    # Another key, from the same IP, is not held back by the first one's use.
    assert limited.get(url, headers=callers["device key"]).status_code != 429
    # A second login of the same user shares the user's bucket.
    name = limited.get("/auth/me", headers=callers["resident"]).json()["name"]
    again = login_headers(limited, name)
    answers = [limited.get(url, headers=again).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


def test_a_429_says_when_to_retry_in_the_shape_of_each_api(
    limited: TestClient, settings: Settings
) -> None:
    callers = make_callers(limited, settings, tenant=TENANT)
    headers = callers["operator"]
    for _ in range(3):
        limited.get("/auth/me", headers=headers)
    identity = limited.get("/auth/me", headers=headers)
    assert identity.status_code == 429
    assert int(identity.headers["retry-after"]) >= 1
    assert identity.json()["error"] == "rate_limited"
    assert identity.json()["detail_ko"]
    hub = limited.get("/ngsi-ld/v1/types", headers=headers)
    assert hub.status_code == 429
    problem = hub.json()
    assert problem["status"] == 429
    assert problem["title"] == "Too Many Requests"
    assert set(problem) == {"type", "title", "status", "detail"}
    assert int(hub.headers["retry-after"]) >= 1
    assert hub.headers["x-content-type-options"] == "nosniff"  # headers on a 429 too


def test_health_and_metrics_are_never_limited(limited: TestClient, settings: Settings) -> None:
    headers = make_callers(limited, settings, tenant=TENANT)["admin"]
    for _ in range(10):
        assert limited.get("/healthz", headers=headers).status_code == 200
        assert limited.get("/metrics", headers=headers).status_code == 200


def test_a_forged_token_does_not_drain_a_real_users_bucket(
    limited: TestClient, settings: Settings
) -> None:
    callers = make_callers(limited, settings, tenant=TENANT)
    real = callers["resident"]
    forged = {"Authorization": real["Authorization"][:-4] + "AAAA"}
    for _ in range(10):
        assert limited.get("/auth/me", headers=forged).status_code == 401
    assert limited.get("/auth/me", headers=real).status_code == 200


def test_the_ip_bucket_holds_back_anonymous_floods(settings: Settings) -> None:
    tight = settings.model_copy(
        update={"rate_limit": "on", "rate_limit_ip_per_second": 0.01, "rate_limit_ip_burst": 5}
    )
    with TestClient(create_app(tight)) as client:
        answers = [client.get("/ngsi-ld/v1/types").status_code for _ in range(6)]
        assert answers[:5] == [200] * 5
        assert answers[5] == 429
        assert client.get("/healthz").status_code == 200
