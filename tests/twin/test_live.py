"""Live mode: the twin's simulated sensors reach the hub through device ingestion."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from cityos import cli, db
from cityos.app import create_app
from cityos.config import Settings
from cityos.twin import _live_sensors as sensors
from cityos.twin.city import load_city
from cityos.twin.live import TwinLive, live_enabled, start_minute
from tests.hub.test_seed import local_registry, vendored_schemas

TRANSPORT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld"
PARKING = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"
)
TYPES = {
    "TrafficFlowObserved": TRANSPORT,
    "Vehicle": TRANSPORT,
    "OffStreetParking": PARKING,
    "OnStreetParking": PARKING,
    "ParkingSpot": PARKING,
}
CITYOS = Path(sys.executable).parent / "cityos"
SCALE = 0.01  # smallest sample that still loads the arterials (a few seconds)


def _link(context: str) -> dict[str, str]:
    return {
        "Link": f'<{context}>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"'
    }


@pytest.fixture(scope="module")
def live_settings(database_url: str) -> Settings:
    """Return test settings with live mode on, fast and small."""
    return Settings(
        database_url=database_url,
        mode="test",
        seed_city=False,
        log_level="warning",
        auth="off",
        twin_live="on",
        twin_speed=1200.0,  # 20 simulated minutes per real second
        twin_scale=SCALE,
        # A fixed hour, so what the tests see does not depend on when they run: 07:30 KST,
        # the morning peak (buses, shuttles and traffic all running, car parks filling).
        twin_start="07:30",
    )


@pytest.fixture(scope="module")
def live_client(live_settings: Settings) -> Iterator[TestClient]:
    """Yield a client on an app whose twin plays until every sensor kind has history."""
    with TestClient(create_app(live_settings)) as client:
        runner: TwinLive = client.app.state.twin_live  # type: ignore[attr-defined]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (runner.state != "playing" or runner.steps < 5):
            assert runner.state != "failed"
            time.sleep(0.2)
        steps = runner.steps
        while time.monotonic() < deadline and runner.steps < steps + 3:
            time.sleep(0.1)  # a few steps after the day was simulated: history rows
        assert runner.state == "playing", runner.state
        runner.stop()
        time.sleep(0.5)  # the writer commits what was submitted
        assert runner.sent > 0
        assert runner.refused == 0  # every simulated message fits its device's mapping
        yield client


def _entities(client: TestClient, kind: str) -> list[dict[str, Any]]:
    r = client.get(
        "/ngsi-ld/v1/entities",
        params={"type": kind, "limit": 1000},
        headers=_link(TYPES[kind]),
    )
    assert r.status_code == 200, r.text
    return list(r.json())


def _history_rows(settings: Settings, kind: str) -> int:
    engine = db.make_engine(settings)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    sa.text(
                        "SELECT count(*) FROM hub_temporal_instances t "
                        "JOIN hub_temporal_entities s ON t.entity = s.pk WHERE s.entity_id LIKE :p"
                    ),
                    {"p": f"urn:ngsi-ld:{kind}:twin-%"},
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TYPES))
def test_live_run_puts_synthetic_sensors_into_the_hub(
    live_client: TestClient, live_settings: Settings, kind: str
) -> None:
    found = _entities(live_client, kind)
    assert found, f"no {kind} entity in the hub"
    measured = {
        "TrafficFlowObserved": "intensity",
        "Vehicle": "location",
        "OffStreetParking": "availableSpotNumber",
        "OnStreetParking": "availableSpotNumber",
        "ParkingSpot": "status",
    }[kind]
    for entity in found:
        assert entity["id"].startswith(f"urn:ngsi-ld:{kind}:twin-")
        assert entity["dataProvider"]["value"] == sensors.SYNTHETIC
        assert entity["source"]["value"] == sensors.SOURCE
        assert entity["location"]["type"] == "GeoProperty"
    assert any("observedAt" in e.get(measured, {}) for e in found)
    assert _history_rows(live_settings, kind) > len(found)
    if kind == "Vehicle":  # shuttles (DRT) report through the same path as buses
        assert any(e["id"].startswith("urn:ngsi-ld:Vehicle:twin-drt-") for e in found)
    if kind == "ParkingSpot":  # each space points to its car park or kerbside row
        sites = {
            e["id"]
            for k in ("OffStreetParking", "OnStreetParking")
            for e in _entities(live_client, k)
        }
        for entity in found:
            assert entity["refParkingSite"]["type"] == "Relationship"
            assert entity["refParkingSite"]["object"] in sites


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TYPES))
def test_live_entities_validate_against_the_smart_data_models(
    live_client: TestClient, kind: str
) -> None:
    r = live_client.get(
        "/ngsi-ld/v1/entities",
        params={"type": kind, "limit": 1000, "options": "keyValues"},
        headers=_link(TYPES[kind]),
    )
    assert r.status_code == 200, r.text
    schema = vendored_schemas()[kind].read_text()
    import json

    validator = Draft202012Validator(json.loads(schema), registry=local_registry())
    for entity in r.json():
        errors = [e.message for e in validator.iter_errors(entity)]
        assert not errors, (entity["id"], errors[:3])


def test_counts_of_a_sample_are_scaled_to_the_city() -> None:
    city = load_city()
    day = sensors.simulate_day(city, scale=SCALE, counters=8, iterations=1)
    assert len(day.links) == 8
    assert day.intensity.shape == (1440, 8)
    # A morning peak on the counted arterials, quiet at 03:00 (city-level vehicles/min).
    assert day.intensity[7 * 60 : 9 * 60].sum() > 5 * day.intensity[2 * 60 : 4 * 60].sum()
    assert (day.occupied <= day.total).all()
    assert (day.occupied >= 0).all()
    # Cars leave home in the morning: fewer parked in residential zones at 10:00 than 04:00.
    assert day.occupied[10 * 60].sum() != day.occupied[4 * 60].sum()
    readings = sensors.readings(city, day, 8 * 60, "2026-11-25T00:00:00.000000Z")
    names = {device_id for device_id, _ in readings}
    bodies = {b.device_id for b in sensors.devices(city, day, "urn:ngsi-ld:tenant:default")}
    assert names <= bodies  # every reading comes from a provisioned device


def test_buses_run_on_the_timetable_and_sleep_at_night() -> None:
    city = load_city()
    assert sensors.bus_positions(city, 3 * 60) == []
    peak = sensors.bus_positions(city, 8 * 60)
    assert len(peak) >= len(city.transit)
    ids = [device_id for device_id, _ in peak]
    assert len(ids) == len(set(ids)), "two runs share one vehicle"
    for _, measures in peak:
        lon, lat = measures["loc"]["coordinates"]
        assert 127.0 < lon < 127.5
        assert 36.3 < lat < 36.8
        assert 0 <= measures["heading"] < 360


def test_live_mode_is_off_in_tests_and_by_flag() -> None:
    assert not live_enabled(Settings(mode="test"))
    assert live_enabled(Settings(mode="development"))
    assert not live_enabled(Settings(mode="development", twin_live="off"))
    with pytest.raises(ValueError, match="twin_speed"):
        Settings(twin_speed=0)


def test_up_refuses_a_bad_speed_in_both_languages() -> None:
    for bad in ("0", "-5", "1e9"):
        result = CliRunner().invoke(cli.app, ["up", "--twin-speed", bad])
        assert result.exit_code == 2, result.output
        assert "--twin-speed" in result.output
        assert "0보다 크고" in result.output
        assert "give a number > 0" in result.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_up_with_no_twin_starts_no_twin(tmp_path: Path) -> None:
    """A real ``cityos up --no-twin`` (development mode, where the twin is on by default)."""
    port = _free_port()
    env = dict(os.environ)
    env.update(
        CITYOS_DATABASE_URL=f"sqlite:///{tmp_path / 'cityos.db'}",
        CITYOS_SEED_CITY="false",
        CITYOS_MODE="development",
        CITYOS_LOG_LEVEL="info",
    )
    env.pop("CITYOS_TWIN_LIVE", None)
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CITYOS), "up", "--no-twin", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline, healthy = time.monotonic() + 60, False
        while time.monotonic() < deadline and not healthy:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    healthy = True
            except OSError:
                time.sleep(0.2)
        assert healthy, log.read_text()
        time.sleep(2)  # a twin would have provisioned its buses by now
    finally:
        process.terminate()
        process.wait(20)
    text = log.read_text()
    assert "cityos_started" in text
    assert "twin_live_started" not in text
    assert "트윈 / twin" not in text
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'cityos.db'}")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM ingest_devices")).scalar() == 0
    engine.dispose()


@pytest.mark.slow
def test_a_simulated_day_is_cached_on_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    city = load_city()
    monkeypatch.setattr(sensors, "_DAYS", {})
    first, cached = sensors.cached_day(city, scale=SCALE, cache_dir=tmp_path)
    assert not cached
    assert len(list(tmp_path.glob("live-day-*.npz"))) == 1
    monkeypatch.setattr(sensors, "_DAYS", {})  # a new process
    again, cached = sensors.cached_day(city, scale=SCALE, cache_dir=tmp_path)
    assert cached
    assert again.scale == first.scale
    for name in ("links", "intensity", "speed_kmh", "occupancy", "zones", "occupied", "total"):
        assert (getattr(again, name) == getattr(first, name)).all(), name
    next(tmp_path.glob("live-day-*.npz")).write_bytes(b"not a zip")  # a broken cache
    monkeypatch.setattr(sensors, "_DAYS", {})
    third, cached = sensors.cached_day(city, scale=SCALE, cache_dir=tmp_path)
    assert not cached
    assert (third.intensity == first.intensity).all()  # the same seed, the same day


def test_the_start_time_is_checked_and_read_as_a_minute_of_the_day() -> None:
    assert start_minute(None) is None
    assert start_minute("00:00") == 0
    assert start_minute("07:30") == 450
    assert start_minute("23:59") == 1439
    for bad in ("24:00", "7:30", "07:60", "noon", ""):
        with pytest.raises(ValueError, match="twin_start"):
            Settings(twin_start=bad)
