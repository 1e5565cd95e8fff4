"""Retention: raw instances older than the period expire, hourly roll-ups stay (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cityos.config import Settings
from cityos.hub.store.base import HubStore
from cityos.hub.temporal.partitions import month_partitions
from cityos.hub.temporal.retention import expire_history, oldest_raw_instant, retention_cutoff
from cityos.identity import engine_for
from cityos.jobs import JobContext, find
from tests.hub.temporal.conftest import temporal_settings

NGSI = "/ngsi-ld/v1"
TEMPORAL = f"{NGSI}/temporal/entities"
START = datetime(2026, 8, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 1, tzinfo=UTC)  # 30 days before NOW, on a whole hour
EID = "urn:ngsi-ld:Sensor:r1"


@pytest.fixture(scope="module")
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    """Keep raw history 90 days (the default) before the real now."""
    return temporal_settings(request, database_url, temporal_retention_days=90)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture(scope="module")
def data(client: TestClient) -> tuple[list[datetime], np.ndarray]:
    """One reading every 5 h 17 min from 1 August to 30 November 2026, random values."""
    rng = np.random.default_rng(90)
    times = []
    moment = START
    while moment < datetime(2026, 11, 30, 23, tzinfo=UTC):
        times.append(moment)
        moment += timedelta(hours=5, minutes=17)
    values = np.round(rng.uniform(0, 100, size=len(times)), 3)
    readings = [
        {"type": "Property", "value": float(v), "observedAt": iso(t)}
        for t, v in zip(times, values, strict=True)
    ]
    body = {"id": EID, "type": "Sensor", "level": readings}
    assert client.post(TEMPORAL, json=body).status_code == 201
    return times, values


def store_of(client: TestClient) -> HubStore:
    store: HubStore = client.app.state.store  # type: ignore[attr-defined]
    return store


def monthly_sums(client: TestClient) -> list[list[Any]]:
    r = client.get(
        f"{TEMPORAL}/{EID}",
        params={
            "options": "aggregatedValues",
            "aggrMethods": "sum,max,totalCount",
            "aggrPeriodDuration": "P10D",
            "timerel": "between",
            "timeAt": "2026-08-01T00:00:00Z",
            "endTimeAt": "2026-12-01T00:00:00Z",
        },
    )
    assert r.status_code == 200, r.text
    level = r.json()["level"]
    return [level["sum"], level["max"], level["totalCount"]]


def test_cutoff_is_a_whole_hour_and_arguments_are_checked() -> None:
    cutoff = retention_cutoff(keep_days=30, now=datetime(2026, 12, 1, 0, 59, 59, tzinfo=UTC))
    assert cutoff == int(CUTOFF.timestamp()) * 1_000_000
    with pytest.raises(ValueError, match="keep_days"):
        retention_cutoff(keep_days=0, now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        retention_cutoff(keep_days=30, now=datetime(2026, 12, 1))  # noqa: DTZ001


def test_expiry_keeps_recent_instances_and_every_roll_up(
    client: TestClient, data: tuple[list[datetime], np.ndarray]
) -> None:
    times, values = data
    before = monthly_sums(client)
    # the P10D sums checked against numpy before anything expires
    starts = [START + timedelta(days=10 * k) for k in range(13)]
    want = []
    for lo in starts:
        chosen = [
            v for t, v in zip(times, values, strict=True) if lo <= t < lo + timedelta(days=10)
        ]
        if chosen:
            want.append(float(np.sum(chosen)))
    assert [s[0] for s in before[0]] == pytest.approx(want, rel=1e-9)
    store = store_of(client)
    expected = sum(1 for t in times if t < CUTOFF)
    assert expire_history(store, keep_days=30, now=NOW) == expected
    assert expire_history(store, keep_days=30, now=NOW) == 0  # idempotent
    oldest = oldest_raw_instant(store)
    assert oldest is not None
    assert oldest >= int(CUTOFF.timestamp()) * 1_000_000
    raw = client.get(f"{TEMPORAL}/{EID}", params={"lastN": "100000"}).json()["level"]
    assert [i["value"] for i in raw] == [
        float(v) for t, v in zip(times, values, strict=True) if t >= CUTOFF
    ]
    # whole-hour aggregations come from the roll-ups: unchanged after the raw rows went
    assert monthly_sums(client) == before
    if store.backend == "postgresql":
        with store.pool.connection() as conn:  # type: ignore[attr-defined]
            names = month_partitions(conn)
        assert "hub_temporal_y2026m08" not in names
        assert "hub_temporal_y2026m10" not in names
        assert "hub_temporal_y2026m11" in names


def test_late_readings_for_expired_hours_are_kept_but_not_patched(
    client: TestClient, data: tuple[list[datetime], np.ndarray]
) -> None:
    # 1 August 00:00 had a reading (expired); 02:00-03:00 had none
    late = {
        "level": [
            {"type": "Property", "value": 5.0, "observedAt": "2026-08-01T00:30:00Z"},
            {"type": "Property", "value": 6.0, "observedAt": "2026-08-01T02:30:00Z"},
        ]
    }
    assert client.post(f"{TEMPORAL}/{EID}/attrs", json=late).status_code == 204
    found = client.get(
        f"{TEMPORAL}/{EID}",
        params={"timerel": "before", "timeAt": "2026-09-01T00:00:00Z", "attrs": "level"},
    ).json()["level"]
    assert [i["value"] for i in found] == [5.0, 6.0]
    # the first hour's roll-up also counts the expired reading: it cannot be recomputed
    r = client.patch(f"{TEMPORAL}/{EID}/attrs/level/{found[0]['instanceId']}", json={"value": 6})
    assert r.status_code == 409
    assert r.json()["type"].endswith("Conflict")
    assert (
        client.delete(f"{TEMPORAL}/{EID}/attrs/level/{found[0]['instanceId']}").status_code == 409
    )
    # moving the other one into that hour is refused too; changing it in its own hour is fine
    moved = client.patch(
        f"{TEMPORAL}/{EID}/attrs/level/{found[1]['instanceId']}",
        json={"observedAt": "2026-08-01T00:40:00Z"},
    )
    assert moved.status_code == 409
    ok = client.patch(f"{TEMPORAL}/{EID}/attrs/level/{found[1]['instanceId']}", json={"value": 7})
    assert ok.status_code == 204
    hourly = client.get(
        f"{TEMPORAL}/{EID}",
        params={
            "options": "aggregatedValues",
            "aggrMethods": "sum,totalCount",
            "aggrPeriodDuration": "PT1H",
            "timerel": "between",
            "timeAt": "2026-08-01T00:00:00Z",
            "endTimeAt": "2026-08-01T03:00:00Z",
        },
    ).json()["level"]
    first = float(data[1][0])
    assert [p[0] for p in hourly["sum"]] == pytest.approx([first + 5.0, 7.0])
    assert [p[0] for p in hourly["totalCount"]] == [2, 1]


def test_the_registered_job_expires_with_the_configured_period(
    client: TestClient, data: tuple[list[datetime], np.ndarray]
) -> None:
    """Last in this module: it expires all of the module's raw history."""
    store = store_of(client)
    assert oldest_raw_instant(store) is not None
    state = client.app.state  # type: ignore[attr-defined]
    context = JobContext(state.settings, engine_for(client.app), state, NOW)  # type: ignore[arg-type]
    # 90 days (the setting) before NOW: nothing is left from before 2026-09-02
    find("temporal_retention").run(context)
    assert oldest_raw_instant(store) >= int(datetime(2026, 9, 2, tzinfo=UTC).timestamp() * 1e6)
    a_year_later = JobContext(state.settings, context.engine, state, NOW + timedelta(days=365))
    assert find("temporal_retention").run(a_year_later) > 0
    assert oldest_raw_instant(store) is None
