"""The PostgreSQL hub analyses its entity tables after bulk inserts (autovacuum may be off)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cityos.hub.store._pg_statistics import MIN_ROWS
from tests.hub.test_api_entities import BASE, H

pytestmark = pytest.mark.backend("postgresql")


def reading(n: int) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:stats-{n}",
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": n % 90},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.2 + n * 1e-4, 36.5]},
        },
    }


def analysed(url: str) -> dict[str, bool]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
            "WHERE relname IN ('hub_entities', 'hub_geo')"
        )
        return dict(rows.fetchall())


def test_a_bulk_load_leaves_the_entity_tables_analysed(
    client: TestClient, database_url: str
) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    assert analysed(database_url) == {"hub_entities": False, "hub_geo": False}
    batch = 500
    for start in range(0, MIN_ROWS + batch, batch):
        body = [reading(n) for n in range(start, start + batch)]
        r = client.post(f"{BASE}/entityOperations/upsert", headers=H, json=body)
        assert r.status_code == 201, r.text
    store.statistics.wait(timeout=30)
    assert analysed(database_url) == {"hub_entities": True, "hub_geo": True}
    # a second bulk load within the minute does not start another check
    body = [reading(n) for n in range(10_000, 10_000 + MIN_ROWS)]
    assert client.post(f"{BASE}/entityOperations/upsert", headers=H, json=body).status_code == 201
    assert store.statistics._running is None
