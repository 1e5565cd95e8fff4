"""Request size limits: 413 outside the hub above CITYOS_MAX_REQUEST_BYTES (declared or
streamed), nothing written; the hub keeps its own, larger limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from cityos import db
from cityos.app import create_app
from cityos.config import Settings
from cityos.identity.models import users

LIMIT = 2048


@pytest.fixture(scope="module")
def small(settings: Settings) -> Iterator[TestClient]:
    tight = settings.model_copy(update={"max_request_bytes": LIMIT})
    with TestClient(create_app(tight)) as client:
        yield client


def _users(settings: Settings, name: str) -> int:
    engine = db.make_engine(settings)
    try:
        with engine.connect() as connection:
            query = sa.select(sa.func.count()).where(users.c.username == name)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def _body(name: str, size: int) -> bytes:
    """Return a valid registration of ``size`` bytes (JSON padded with spaces)."""
    body = f'{{"username": "{name}", "password": "long enough pw"}}'
    return (body + " " * max(0, size - len(body))).encode()


def test_a_declared_large_body_is_refused_before_the_route(
    small: TestClient, settings: Settings
) -> None:
    r = small.post(
        "/auth/register",
        content=_body("big1", LIMIT + 100),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    assert str(LIMIT) in r.json()["detail"]
    assert r.json()["detail_ko"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert _users(settings, "big1") == 0


def test_a_streamed_large_body_is_refused_too(small: TestClient, settings: Settings) -> None:
    body = _body("big2", LIMIT * 3)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    r = small.post("/auth/register", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert _users(settings, "big2") == 0


def test_a_body_under_the_limit_passes(small: TestClient, settings: Settings) -> None:
    r = small.post(
        "/auth/register", content=_body("fits", 300), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text
    assert _users(settings, "fits") == 1


def test_the_hub_keeps_its_own_larger_limit(small: TestClient) -> None:
    entity = {
        "id": "urn:ngsi-ld:Thing:big",
        "type": "Thing",
        "note": {"type": "Property", "value": "x" * (LIMIT * 2)},
    }
    r = small.post("/ngsi-ld/v1/entities", json=entity)
    assert r.status_code == 201, r.text


def test_an_unreadable_content_length_is_refused(small: TestClient) -> None:
    r = small.post(
        "/auth/register",
        content=b"{}",
        headers={"Content-Length": "lots", "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 413)
