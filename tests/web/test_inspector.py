"""The entity inspector in a real browser: current attributes and the temporal chart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cityos.identity.models import Role
from cityos.web.layers import ENVIRONMENT
from tests.conftest import STORAGE_INDEPENDENT
from tests.web.conftest import LiveServer, link, token

# On SQLite only: the chart and its range picker; tests/hub/temporal checks the history
# queries on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]
HUB_AUTH = "on"


def click_entity(page: Any, layer: str, entity_id: str) -> None:
    point = page.evaluate(
        """([layer, id]) => {
          const item = window.cityos.map.layers.get(layer).items.get(id);
          const p = window.cityos.map.map.latLngToContainerPoint(item.getLatLng());
          const box = document.getElementById('map').getBoundingClientRect();
          return {x: box.left + p.x, y: box.top + p.y};
        }""",
        [layer, entity_id],
    )
    page.mouse.click(point["x"], point["y"])


def test_a_station_shows_its_pm25_history_with_a_range_picker(
    page: Any, server: LiveServer
) -> None:
    admin = token(server, Role.ADMIN) | link(ENVIRONMENT)
    station = f"urn:ngsi-ld:AirQualityObserved:chart-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [(now - timedelta(hours=h), 10.0 + 3 * h) for h in (30, 20, 5, 3, 1)]

    def pm25(at: datetime, value: float) -> dict[str, Any]:
        return {"type": "Property", "value": value, "observedAt": at.isoformat()}

    first_at, first_value = readings[0]
    r = httpx.post(
        server.url + "/ngsi-ld/v1/entities",
        json={
            "id": station,
            "type": "AirQualityObserved",
            "pm25": pm25(first_at, first_value),
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.2536, 36.5047]},
            },
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    for at, value in readings[1:]:
        r = httpx.patch(
            server.url + f"/ngsi-ld/v1/entities/{station}/attrs",
            json={"pm25": pm25(at, value)},
            headers=admin,
        )
        assert r.status_code == 204, r.text

    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='map']")
    click_entity(page, "air-quality", station)
    page.wait_for_selector("#inspector-body table.attrs")
    row = page.locator("#inspector-body table.attrs tr", has_text="pm25")
    assert "13" in row.inner_text()  # the newest reading, 10 + 3 × 1
    page.wait_for_selector("#history-chart canvas")
    label = page.locator("#history-chart").get_attribute("aria-label")
    assert label.startswith("pm25: 4 ·"), label  # within 24 h: the 20, 5, 3 and 1 h readings
    page.locator("#history-range").select_option("1h")
    page.wait_for_function("() => document.querySelector('.history-status').textContent.length > 0")
    assert page.locator(".history-status").inner_text() == "이 기간의 기록이 없습니다."
    page.locator("#history-range").select_option("7d")
    page.wait_for_function(
        "() => (document.querySelector('#history-chart').getAttribute('aria-label') || '')"
        ".startsWith('pm25: 5 ·')"
    )
    r = httpx.delete(server.url + f"/ngsi-ld/v1/entities/{station}", headers=admin)
    assert r.status_code == 204
