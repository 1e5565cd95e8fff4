"""Live updates over real HTTP: a hub write reaches a Server-Sent Events stream, by the rules.

The stream's tests run on both backends (a write's notifications are queued in the database
and delivered from there); the browser's, which show what the page does with an event, on
SQLite only (docs/testing.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cityos import db
from cityos.identity import keys
from cityos.identity.models import Role
from cityos.web.layers import ENVIRONMENT, TRANSPORTATION
from tests.conftest import STORAGE_INDEPENDENT
from tests.web.conftest import LiveServer, free_port, link, token

HUB_AUTH = "on"
TENANT = "urn:ngsi-ld:tenant:live-test"
BUS_IRI = "https://smartdatamodels.org/dataModel.Transportation/Vehicle"


def air(entity_id: str, pm25: float) -> dict[str, Any]:
    return {
        "id": entity_id,
        "type": "AirQualityObserved",
        "pm25": {"type": "Property", "value": pm25, "observedAt": "2026-12-01T05:00:00Z"},
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.2894, 36.4800]},
        },
    }


def vehicle(entity_id: str) -> dict[str, Any]:
    return {
        "id": entity_id,
        "type": "Vehicle",
        "location": {
            "type": "GeoProperty",
            "value": {"type": "Point", "coordinates": [127.26, 36.50]},
        },
    }


@contextmanager
def sse(server: LiveServer, path: str = "/web/live", **kwargs: Any) -> Iterator[Iterator[dict]]:
    """Open the stream; yield an iterator of the entity events' data (10 s read timeout)."""
    with httpx.stream("GET", server.url + path, timeout=10, **kwargs) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "retry: 2000"
        assert next(lines) == ": connected"

        def events() -> Iterator[dict]:
            event = None
            for line in lines:
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "entity":
                    yield json.loads(line[6:])

        yield events()


def test_a_hub_write_reaches_an_anonymous_stream_of_the_open_tenant(server: LiveServer) -> None:
    admin = token(server, Role.ADMIN)
    entity_id = f"urn:ngsi-ld:AirQualityObserved:live-{uuid.uuid4().hex[:6]}"
    with sse(server) as events:
        r = httpx.post(
            server.url + "/ngsi-ld/v1/entities",
            json=air(entity_id, 41.0),
            headers=admin | link(ENVIRONMENT),
        )
        assert r.status_code == 201, r.text
        event = next(events)
        assert event["layer"] == "air-quality"
        assert event["id"] == entity_id
        assert event["type"] == "AirQualityObserved"
        assert event["feature"]["geometry"]["coordinates"] == [127.2894, 36.48]
        assert event["feature"]["properties"]["pm25"] == 41.0  # compacted with the layer context
        r = httpx.patch(
            server.url + f"/ngsi-ld/v1/entities/{entity_id}/attrs",
            json={"pm25": {"type": "Property", "value": 12.0}},
            headers=admin | link(ENVIRONMENT),
        )
        assert r.status_code == 204, r.text
        assert next(events)["feature"]["properties"]["pm25"] == 12.0
        r = httpx.delete(server.url + f"/ngsi-ld/v1/entities/{entity_id}", headers=admin)
        assert r.status_code == 204, r.text
        assert next(events) == {"layer": "air-quality", "id": entity_id, "deleted": True}


def test_a_failed_write_sends_nothing(server: LiveServer) -> None:
    admin = token(server, Role.ADMIN)
    bad = f"urn:ngsi-ld:AirQualityObserved:bad-{uuid.uuid4().hex[:6]}"
    good = f"urn:ngsi-ld:AirQualityObserved:good-{uuid.uuid4().hex[:6]}"
    with sse(server) as events:
        body = air(bad, 10.0)
        body["location"]["value"]["coordinates"] = [500, 500]  # not a WGS84 position
        r = httpx.post(
            server.url + "/ngsi-ld/v1/entities", json=body, headers=admin | link(ENVIRONMENT)
        )
        assert r.status_code == 400, r.text
        r = httpx.post(
            server.url + "/ngsi-ld/v1/entities",
            json=air(good, 10.0),
            headers=admin | link(ENVIRONMENT),
        )
        assert r.status_code == 201, r.text
        assert next(events)["id"] == good  # the first event is the good one
    r = httpx.delete(server.url + f"/ngsi-ld/v1/entities/{good}", headers=admin)
    assert r.status_code == 204, r.text


def test_another_tenant_needs_a_reader(server: LiveServer) -> None:
    r = httpx.get(server.url + f"/web/live?tenant={TENANT}", timeout=10)
    assert r.status_code == 401
    assert r.json()["type"].endswith("Unauthorized")
    citizen = token(server, Role.CITIZEN)
    r = httpx.get(server.url + f"/web/live?tenant={TENANT}", headers=citizen, timeout=10)
    assert r.status_code == 403
    r = httpx.get(server.url + "/web/live?tenant=bad tenant!", headers=citizen, timeout=10)
    assert r.status_code == 400
    assert "NGSILD-Tenant" in r.json()["detail"]


def test_a_type_scoped_key_gets_only_its_types(server: LiveServer) -> None:
    engine = db.make_engine(server.settings)
    try:
        with engine.begin() as connection:
            _, key = keys.create_api_key(
                connection,
                name="live bus reader",
                role=Role.DEVELOPER,
                # Types in scopes are core-context terms or full IRIs (docs/security.md);
                # the Transportation context makes Vehicle a Smart Data Models IRI.
                scopes=keys.parse_scopes(f"tenants={TENANT};types={BUS_IRI}"),
                actor="test",
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    admin = token(server, Role.ADMIN) | {"NGSILD-Tenant": TENANT}
    bus = f"urn:ngsi-ld:Vehicle:bus-{uuid.uuid4().hex[:6]}"
    with sse(server, f"/web/live?tenant={TENANT}", headers={"X-API-Key": key}) as events:
        for body, context in (
            (air(f"urn:ngsi-ld:AirQualityObserved:{uuid.uuid4().hex[:6]}", 5.0), ENVIRONMENT),
            (vehicle(bus), TRANSPORTATION),
        ):
            r = httpx.post(
                server.url + "/ngsi-ld/v1/entities", json=body, headers=admin | link(context)
            )
            assert r.status_code == 201, r.text
        event = next(events)
        assert event["id"] == bus  # the air-quality change was not for this key
        assert event["layer"] == "vehicles"


@pytest.mark.slow
@STORAGE_INDEPENDENT  # the page's part; the stream's tests above run on both
def test_a_browser_sees_a_live_update_after_a_hub_write(page: Any, server: LiveServer) -> None:
    admin = token(server, Role.ADMIN)
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='map']")
    page.wait_for_selector("#live-state[data-state='on']")
    labels = page.locator("#layer-list label").all_inner_texts()
    station = f"urn:ngsi-ld:AirQualityObserved:browser-{uuid.uuid4().hex[:6]}"
    r = httpx.post(
        server.url + "/ngsi-ld/v1/entities",
        json=air(station, 52.0),
        headers=admin | link(ENVIRONMENT),
    )
    assert r.status_code == 201, r.text
    page.wait_for_function(f"() => document.body.dataset.lastLive === '{station}'")
    page.wait_for_function(
        "() => document.querySelector('#kpi-air-quality .kpi-value').textContent === '나쁨'"
    )
    fill = page.evaluate(
        f"""() => [window.cityos.map.layers.get('air-quality').items.get('{station}')
                     .options.fillColor,
                   getComputedStyle(document.documentElement).getPropertyValue('--bad').trim()]"""
    )
    assert fill[0] == fill[1], fill  # the station is drawn in its grade's colour (나쁨)
    after = page.locator("#layer-list label").all_inner_texts()
    assert len(after) == len(labels) + 1  # the air-quality layer appeared with its first entity
    # A moving bus: the marker glides to the new position.
    bus = f"urn:ngsi-ld:Vehicle:browser-{uuid.uuid4().hex[:6]}"
    r = httpx.post(
        server.url + "/ngsi-ld/v1/entities",
        json=vehicle(bus),
        headers=admin | link(TRANSPORTATION),
    )
    assert r.status_code == 201, r.text
    page.wait_for_function(f"() => document.body.dataset.lastLive === '{bus}'")
    moved = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.3, 36.52]}}
    r = httpx.patch(
        server.url + f"/ngsi-ld/v1/entities/{bus}/attrs",
        json={"location": moved},
        headers=admin | link(TRANSPORTATION),
    )
    assert r.status_code == 204, r.text
    page.wait_for_function(
        f"""() => {{
          const item = window.cityos.map.layers.get('vehicles').items.get('{bus}');
          const at = item && item.getLatLng();
          return at && Math.abs(at.lat - 36.52) < 1e-9 && Math.abs(at.lng - 127.3) < 1e-9;
        }}"""
    )
    r = httpx.delete(server.url + f"/ngsi-ld/v1/entities/{bus}", headers=admin)
    assert r.status_code == 204
    page.wait_for_function(f"() => !window.cityos.map.layers.get('vehicles').items.has('{bus}')")
    r = httpx.delete(server.url + f"/ngsi-ld/v1/entities/{station}", headers=admin)
    assert r.status_code == 204  # the next tests start without air-quality stations


@pytest.mark.slow
def test_cityos_up_stops_promptly_with_a_stream_open(tmp_path: Path) -> None:
    """Ctrl-C ends the open event streams; uvicorn would otherwise wait out its timeout."""
    port = free_port()
    env = os.environ | {"CITYOS_DATABASE_URL": f"sqlite:///{tmp_path}/up.db", "CITYOS_AUTH": "on"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "cityos"), "up", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "cityos up did not start"
            time.sleep(0.3)
        with httpx.stream("GET", f"http://127.0.0.1:{port}/web/live", timeout=10) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert next(lines) == "retry: 2000"
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
            assert list(lines) == [": connected", ""]  # the server ended the stream itself
        process.wait(timeout=30)
        assert time.monotonic() - started < 4.5  # well under uvicorn's 5 s graceful timeout
        stderr = process.stderr.read() if process.stderr else ""
        assert "timeout graceful shutdown exceeded" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


@pytest.mark.slow
@STORAGE_INDEPENDENT  # the page's part; the stream's tests above run on both
def test_a_device_measurement_reaches_the_dashboard(page: Any, server: LiveServer) -> None:
    """Ingestion (HTTP device, UltraLight) → hub write → live stream → KPI tile and map."""
    admin = token(server, Role.ADMIN)
    device = f"pm-web-{uuid.uuid4().hex[:6]}"
    r = httpx.post(
        server.url + "/ingest/v1/devices",
        json={
            "device_id": device,
            "entity_type": "AirQualityObserved",
            "attributes": {"pm25": {"name": "pm25", "type": "Number", "unitCode": "GQ"}},
            "static_attributes": {"location": {"type": "Point", "coordinates": [127.257, 36.48]}},
            "transport": "http",
        },
        headers=admin,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    apikey = r.json()["apikey"]
    entity_id = f"urn:ngsi-ld:AirQualityObserved:{device}"
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='map']")
    page.wait_for_selector("#live-state[data-state='on']")
    r = httpx.post(
        server.url + "/ingest/v1/measurements",
        params={"k": apikey, "i": device},
        content=b"pm25|80",
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    page.wait_for_function(f"() => document.body.dataset.lastLive === '{entity_id}'")
    page.wait_for_function(
        "() => document.querySelector('#kpi-air-quality .kpi-value').textContent === '매우나쁨'"
    )
    assert "80" in page.locator("#kpi-air-quality .kpi-detail").inner_text()
    r = httpx.delete(server.url + f"/ngsi-ld/v1/entities/{entity_id}", headers=admin)
    assert r.status_code == 204
