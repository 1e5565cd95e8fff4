"""Every write keeps the instances it makes in the temporal history, in its transaction."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cityos.config import Settings
from cityos.db import sqlalchemy_url
from cityos.hub.temporal.rollup import fold

NGSI = "/ngsi-ld/v1"
CORE = "https://uri.etsi.org/ngsi-ld/default-context/"
LD = {"Content-Type": "application/json"}


def _history(settings: Settings) -> list[dict[str, Any]]:
    engine = create_engine(sqlalchemy_url(settings.database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.entity_id, t.attr, t.dataset_id, t.kind, t.num, t.observed_at "
                    "FROM hub_temporal_instances t JOIN hub_temporal_entities s "
                    "ON s.pk = t.entity ORDER BY t.pk"
                )
            )
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def _hourly(client: TestClient, settings: Settings) -> list[tuple[Any, ...]]:
    fold(client.app.state.store)  # type: ignore[attr-defined]  # folded in after the writes
    engine = create_engine(sqlalchemy_url(settings.database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT h.attr, h.n, h.total, h.total_sq, h.lo, h.hi "
                    "FROM hub_temporal_hourly h ORDER BY h.attr"
                )
            )
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


@pytest.fixture
def fresh(client: TestClient, settings: Settings) -> TestClient:
    engine = create_engine(sqlalchemy_url(settings.database_url))
    tables = ["hub_temporal_changes", "hub_temporal_hourly"]
    if engine.dialect.name == "postgresql":  # a write's sums wait there (rollup.py)
        tables.append("hub_temporal_hourly_pending")
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()
    for entity in client.get(f"{NGSI}/entities", params={"type": "Sensor", "limit": 1000}).json():
        client.delete(f"{NGSI}/entities/{entity['id']}")
    return client


def test_create_update_and_partial_update_each_keep_only_what_they_changed(
    fresh: TestClient, settings: Settings
) -> None:
    sid = "urn:ngsi-ld:Sensor:rec1"
    body = {
        "id": sid,
        "type": "Sensor",
        "pm25": {"type": "Property", "value": 17, "observedAt": "2026-11-25T00:00:00Z"},
        "name": {"type": "Property", "value": "조치원"},
    }
    assert fresh.post(f"{NGSI}/entities", json=body, headers=LD).status_code == 201
    assert len(_history(settings)) == 2
    patch = {"pm25": {"type": "Property", "value": 30, "observedAt": "2026-11-25T00:10:00Z"}}
    assert fresh.patch(f"{NGSI}/entities/{sid}/attrs", json=patch).status_code == 204
    rows = _history(settings)
    assert [(r["attr"], r["num"]) for r in rows] == [
        (f"{CORE}pm25", 17.0),
        (f"{CORE}name", None),
        (f"{CORE}pm25", 30.0),
    ]
    one = {"value": 5, "observedAt": "2026-11-25T00:20:00Z"}
    assert fresh.patch(f"{NGSI}/entities/{sid}/attrs/pm25", json=one).status_code == 204
    assert [r["num"] for r in _history(settings)][-1] == 5.0
    # The three readings fall in one hour: one roll-up row with exact sums.
    assert _hourly(fresh, settings) == [
        (f"{CORE}pm25", 3, 52.0, 17.0**2 + 30.0**2 + 25.0, 5.0, 30.0)
    ]


def test_a_failed_write_leaves_no_history(fresh: TestClient, settings: Settings) -> None:
    sid = "urn:ngsi-ld:Sensor:rec2"
    body = {"id": sid, "type": "Sensor", "t": {"type": "Property", "value": 1}}
    assert fresh.post(f"{NGSI}/entities", json=body).status_code == 201
    assert fresh.post(f"{NGSI}/entities", json=body).status_code == 409
    assert len(_history(settings)) == 1


def test_batch_upsert_and_delete_keep_history(fresh: TestClient, settings: Settings) -> None:
    batch = [
        {"id": f"urn:ngsi-ld:Sensor:b{i}", "type": "Sensor", "t": {"type": "Property", "value": i}}
        for i in range(50)
    ]
    assert fresh.post(f"{NGSI}/entityOperations/upsert", json=batch).status_code == 201
    assert fresh.post(f"{NGSI}/entityOperations/upsert", json=batch).status_code == 204
    ids = [e["id"] for e in batch]
    assert fresh.post(f"{NGSI}/entityOperations/delete", json=ids).status_code == 204
    rows = _history(settings)
    assert len(rows) == 100
    assert sorted(r["num"] for r in rows) == sorted([float(i) for i in range(50)] * 2)


def test_a_large_new_batch_keeps_each_instance_in_order(
    fresh: TestClient, settings: Settings
) -> None:
    """123 new entities (several multi-row statements and a remainder on SQLite): one
    history row per instance, in entity and attribute order, with its own observedAt and
    number; the entities and their geometries are all found again."""
    count = 123
    batch = [
        {
            "id": f"urn:ngsi-ld:Sensor:big{i}",
            "type": "Sensor",
            "pm10": {
                "type": "Property",
                "value": i + 0.5,
                "observedAt": f"2026-11-25T{i % 24:02}:00:00Z",
            },
            "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:big{i}"},
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.0 + i / 1000, 36.5]},
            },
        }
        for i in range(count)
    ]
    assert fresh.post(f"{NGSI}/entityOperations/upsert", json=batch).status_code == 201
    rows = _history(settings)
    assert [(r["entity_id"], r["attr"].rsplit("/", 1)[-1]) for r in rows] == [
        (f"urn:ngsi-ld:Sensor:big{i}", attr)
        for i in range(count)
        for attr in ("pm10", "refDevice", "location")
    ]
    pm10 = [r for r in rows if r["attr"] == f"{CORE}pm10"]
    assert [r["num"] for r in pm10] == [i + 0.5 for i in range(count)]
    observed = [r["observed_at"] for r in pm10]  # µs since the epoch
    hours = [o // 3_600_000_000 % 24 for o in observed]
    assert hours == [i % 24 for i in range(count)]
    assert all(r["num"] is None and r["observed_at"] is None for r in rows if r not in pm10)
    found = fresh.get(
        f"{NGSI}/entities",
        params={
            "type": "Sensor",
            "count": "true",
            "limit": 1,
            "georel": "near;maxDistance==20",
            "geometry": "Point",
            "coordinates": "[127.077,36.5]",
        },
    )
    assert found.status_code == 200
    assert found.headers["NGSILD-Results-Count"] == "1"
    assert found.json()[0]["id"] == "urn:ngsi-ld:Sensor:big77"
    every = fresh.get(f"{NGSI}/entities", params={"type": "Sensor", "count": "true", "limit": 1})
    assert every.headers["NGSILD-Results-Count"] == str(count)
