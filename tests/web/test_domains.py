"""The mobility and service layers and KPI tiles in a real browser, fed live by hub writes.

Traffic counters drawn as their road link in the colour of their speed, car parks by their
free spaces, buses / BRT / shuttles apart by the SDM ``vehicleType``; the ER, energy and
complaint tiles absent until their entities exist and appearing live when they do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cityos.identity.models import Role
from cityos.web.layers import CITYOS, GREEN_ENERGY, ISSUE_TRACKING, PARKING, TRANSPORTATION
from tests.conftest import STORAGE_INDEPENDENT
from tests.web.conftest import LiveServer, link, run_axe, token

# On SQLite only: how layers and tiles draw hub data; tests/hub and tests/test_web_api.py
# check that data on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]
HUB_AUTH = "on"
POINT = {"type": "Point", "coordinates": [127.28, 36.49]}


def geo(lon: float = 127.28, lat: float = 36.49) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


class Hub:
    """Writes entities as an admin and deletes every one it made at the end."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.headers = token(server, Role.ADMIN)
        self.made: list[str] = []

    def create(self, context: str, entity: dict[str, Any]) -> str:
        r = httpx.post(
            self.server.url + "/ngsi-ld/v1/entities",
            json=entity,
            headers=self.headers | (link(context) if context else {}),
            timeout=30,
        )
        assert r.status_code == 201, r.text
        self.made.append(entity["id"])
        return str(entity["id"])

    def patch(self, context: str, entity_id: str, attrs: dict[str, Any]) -> None:
        r = httpx.patch(
            self.server.url + f"/ngsi-ld/v1/entities/{entity_id}/attrs",
            json=attrs,
            headers=self.headers | link(context),
            timeout=30,
        )
        assert r.status_code == 204, r.text

    def cleanup(self) -> None:
        for entity_id in self.made:
            httpx.delete(
                self.server.url + f"/ngsi-ld/v1/entities/{entity_id}",
                headers=self.headers,
                timeout=30,
            )


@pytest.fixture
def hub(server: LiveServer) -> Iterator[Hub]:
    writer = Hub(server)
    try:
        yield writer
    finally:
        writer.cleanup()


def uid(kind: str) -> str:
    return f"urn:ngsi-ld:{kind}:web-{uuid.uuid4().hex[:8]}"


def open_live(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='map']", timeout=30_000)
    page.wait_for_selector("#live-state[data-state='on']")


def wait_live(page: Any, entity_id: str) -> None:
    page.wait_for_function(f"() => document.body.dataset.lastLive === '{entity_id}'")


def item_color(page: Any, layer: str, entity_id: str) -> str:
    return str(
        page.evaluate(
            f"""() => {{
              const item = window.cityos.map.layers.get('{layer}').items.get('{entity_id}');
              if (!item) return null;
              if (item.options && item.options.fillColor) return item.options.fillColor;
              let color = null;
              item.eachLayer((l) => {{ color = l.options.color; }});
              return color;
            }}"""
        )
    )


def css(page: Any, name: str) -> str:
    return str(
        page.evaluate(
            f"() => getComputedStyle(document.documentElement).getPropertyValue('--{name}').trim()"
        )
    )


def toggles(page: Any, layer: str) -> None:
    """Unchecking a layer's box takes it off the map; checking puts it back."""
    has = f"() => window.cityos.map.map.hasLayer(window.cityos.map.layers.get('{layer}').group)"
    assert page.evaluate(has)
    page.locator(f"#layer-{layer}").uncheck()
    assert not page.evaluate(has)
    page.locator(f"#layer-{layer}").check()
    assert page.evaluate(has)


def test_traffic_is_drawn_as_its_link_and_coloured_by_speed(
    hub: Hub, page: Any, server: LiveServer
) -> None:
    roads = httpx.get(server.url + "/web/basemap/roads", timeout=30).json()["features"]
    road = next(f for f in roads if f["properties"]["free_flow_kmh"] >= 50)
    free = road["properties"]["free_flow_kmh"]
    open_live(page, server)
    assert page.locator("#kpi-congestion").count() == 0  # no counters yet: no tile
    counter = hub.create(
        TRANSPORTATION,
        {
            "id": uid("TrafficFlowObserved"),
            "type": "TrafficFlowObserved",
            "location": geo(),
            "refRoadSegment": prop(f"urn:ngsi-ld:RoadSegment:{road['properties']['id']}"),
            "averageVehicleSpeed": prop(round(free * 0.2, 1)),  # 20 % of free flow: jammed
            "intensity": prop(120),
        },
    )
    wait_live(page, counter)
    geometry = page.evaluate(
        f"() => window.cityos.map.layers.get('traffic').items.get('{counter}').feature.geometry"
    )
    assert geometry == road["geometry"]  # the counted link, not the counter's point
    assert item_color(page, "traffic", counter) == css(page, "jam")
    page.wait_for_function(
        "() => document.querySelector('#kpi-congestion .kpi-value')?.textContent === '100%'"
    )
    assert "20%" in page.locator("#kpi-congestion .kpi-detail").inner_text()
    legend = page.locator("#layer-list .legend[aria-label^='교통 흐름']").inner_text()
    assert "정체" in legend
    assert "원활" in legend
    hub.patch(TRANSPORTATION, counter, {"averageVehicleSpeed": prop(float(free))})
    page.wait_for_function(
        "() => document.querySelector('#kpi-congestion .kpi-value').textContent === '0%'"
    )
    assert item_color(page, "traffic", counter) == css(page, "smooth")
    toggles(page, "traffic")
    # The inspector, by the keyboard path: the picker lists the counter.
    page.select_option("#feature-picker", f"traffic|{counter}")
    page.wait_for_selector("#inspector-body :text('averageVehicleSpeed')")


def test_parking_and_vehicles_by_kind(hub: Hub, page: Any, server: LiveServer) -> None:
    open_live(page, server)
    park = hub.create(
        PARKING,
        {
            "id": uid("OffStreetParking"),
            "type": "OffStreetParking",
            "location": geo(127.27, 36.50),
            "name": prop("시청 주차장"),
            "totalSpotNumber": prop(200),
            "availableSpotNumber": prop(6),  # 3 % free
        },
    )
    wait_live(page, park)
    assert item_color(page, "parking", park) == css(page, "full")
    hub.patch(PARKING, park, {"availableSpotNumber": prop(120)})
    page.wait_for_function(
        f"""() => window.cityos.map.layers.get('parking').items.get('{park}')
                   .feature.properties.availableSpotNumber === 120"""
    )
    assert item_color(page, "parking", park) == css(page, "plenty")
    toggles(page, "parking")
    spot = hub.create(
        PARKING,
        {
            "id": uid("ParkingSpot"),
            "type": "ParkingSpot",
            "location": geo(127.271, 36.501),
            "status": prop("free"),
        },
    )
    wait_live(page, spot)
    assert item_color(page, "parking-spots", spot) == css(page, "spot-free")
    hub.patch(PARKING, spot, {"status": prop("occupied")})
    page.wait_for_function(
        f"""() => window.cityos.map.layers.get('parking-spots').items.get('{spot}')
                   .feature.properties.status === 'occupied'"""
    )
    assert item_color(page, "parking-spots", spot) == css(page, "spot-occupied")
    toggles(page, "parking-spots")
    made = {}
    for kind, layer in (("bus", "buses"), ("BRT bus", "brt-vehicles"), ("minibus", "vehicles")):
        made[layer] = hub.create(
            TRANSPORTATION,
            {
                "id": uid("Vehicle"),
                "type": "Vehicle",
                "location": geo(127.25, 36.51),
                "vehicleType": prop(kind),
                "category": prop(["public"]),
            },
        )
        wait_live(page, made[layer])
        assert page.evaluate(
            f"() => window.cityos.map.layers.get('{layer}').items.has('{made[layer]}')"
        ), layer
    page.wait_for_function(
        "() => document.querySelector('#kpi-vehicles .kpi-value').textContent === '3'"
    )
    for layer in made:
        toggles(page, layer)
    # A shuttle re-declared as a bus moves to the bus layer.
    shuttle = made["vehicles"]
    hub.patch(TRANSPORTATION, shuttle, {"vehicleType": prop("bus")})
    page.wait_for_function(
        f"""() => window.cityos.map.layers.get('buses').items.has('{shuttle}')
                  && !window.cityos.map.layers.get('vehicles').items.has('{shuttle}')"""
    )
    labels = " ".join(page.locator("#layer-list label").all_inner_texts())
    for name in ("BRT 차량 위치", "버스 위치", "주차장 (빈자리)"):
        assert name in labels
    assert run_axe(page) == []


def test_service_tiles_appear_when_their_data_does(hub: Hub, page: Any, server: LiveServer) -> None:
    open_live(page, server)
    for tile in ("er-load", "energy", "complaints"):
        assert page.locator(f"#kpi-{tile}").count() == 0, tile
    er = hub.create(
        CITYOS,
        {
            "id": uid("EmergencyDepartment"),
            "type": "EmergencyDepartment",
            "location": geo(127.26, 36.48),
            "occupancy": prop(0.9),
            "hvec": prop(3),
        },
    )
    wait_live(page, er)
    page.wait_for_function(
        "() => document.querySelector('#kpi-er-load .kpi-value')?.textContent === '90%'"
    )
    assert "3" in page.locator("#kpi-er-load .kpi-detail").inner_text()
    pv = hub.create(
        GREEN_ENERGY,
        {
            "id": uid("PhotovoltaicMeasurement"),
            "type": "PhotovoltaicMeasurement",
            "location": geo(127.30, 36.52),
            "activePower": prop(120.0),
        },
    )
    wait_live(page, pv)
    page.wait_for_function(
        "() => document.querySelector('#kpi-energy .kpi-value')?.textContent === '120 kW'"
    )
    meter = hub.create(
        "",
        {
            "id": uid("EnergyMeter"),
            "type": "EnergyMeter",
            "location": geo(127.31, 36.51),
            "totalActivePower": prop(20.0),
        },
    )
    wait_live(page, meter)
    page.wait_for_function(
        "() => document.querySelector('#kpi-energy .kpi-value')?.textContent === '100 kW'"
    )
    for status in ("open", "open", "closed"):
        complaint = hub.create(
            ISSUE_TRACKING,
            {
                "id": uid("service_requests"),
                "type": "service_requests",
                "location": geo(127.29, 36.50),
                "status": prop(status),
                "service_code": prop("road"),
            },
        )
        wait_live(page, complaint)
    page.wait_for_function(
        "() => document.querySelector('#kpi-complaints .kpi-value')?.textContent === '2'"
    )
    page.wait_for_function(
        "() => document.querySelector('#kpi-complaints .kpi-detail').textContent.includes('3')"
    )
    page.locator("#lang-switch").click()
    page.wait_for_function(
        "() => document.querySelector('#kpi-complaints h3').textContent === 'Open complaints'"
    )
    assert page.locator("#kpi-er-load h3").inner_text() == "ER load"
    page.locator("#layer-energy-meters").check()  # hidden by default: the tile reads it anyway
    for layer in ("emergency", "solar", "energy-meters", "complaints"):
        toggles(page, layer)
    # The inspector's empty state follows the language too.
    assert page.locator("#inspector-body").inner_text() == "Select an item on the map."
    page.locator("#theme-switch").click()  # the dark theme's tiles and legends, in English
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    violations = run_axe(page)
    assert violations == [], [(v["id"], [n["html"] for n in v["nodes"]]) for v in violations]
