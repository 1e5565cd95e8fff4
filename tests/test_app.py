"""The app's operational endpoints and start-up: health, metrics, OpenAPI, migrations."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cityos import __version__, db
from cityos.config import Settings


def test_healthz_reports_version_and_backend(client: TestClient, settings: Settings) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": __version__, "backend": settings.backend}


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:none")
    text = client.get("/metrics").text
    assert (
        'cityos_http_requests_total{method="GET",route="/ngsi-ld/v1/entities/{entity_id}",'
        'status="404"}' in text
    )
    assert "cityos_http_request_duration_seconds_bucket" in text


def test_openapi_lists_the_hub(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}",
        "/ngsi-ld/v1/entityOperations/upsert",
        "/ngsi-ld/v1/types",
        "/ngsi-ld/v1/jsonldContexts",
        "/healthz",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_database_is_at_head_after_start(client: TestClient, settings: Settings) -> None:
    assert db.current_revision(settings) == db.head_revision()
    assert db.upgrade(settings) == db.head_revision()  # idempotent
