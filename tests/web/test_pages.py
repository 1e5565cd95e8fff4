"""The web app in a real browser: pages load, the map draws, layers toggle, login, languages."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.identity.models import Role
from tests.conftest import STORAGE_INDEPENDENT
from tests.web.conftest import PASSWORD, LiveServer, run_axe

# On SQLite only: what the pages do with the API's answers; tests/hub, tests/interop (the
# seeded Sejong) and tests/test_web_api.py check those on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]
HUB_AUTH = "on"


def open_dashboard(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='map']", timeout=30_000)


def painted_pixels(page: Any) -> int:
    """Return how many sampled pixels of the map's canvas are painted (not transparent)."""
    return int(
        page.evaluate(
            """() => {
              const canvas = document.querySelector('#map canvas');
              const ctx = canvas.getContext('2d');
              const {width, height} = canvas;
              const data = ctx.getImageData(0, 0, width, height).data;
              let painted = 0;
              for (let i = 3; i < data.length; i += 4 * 7) if (data[i] > 0) painted++;
              return painted;
            }"""
        )
    )


def test_dashboard_loads_and_the_map_is_drawn(page: Any, server: LiveServer) -> None:
    open_dashboard(page, server)
    assert page.title().startswith("CityOS")
    assert page.locator("html").get_attribute("lang") == "ko"
    assert painted_pixels(page) > 2_000  # the dong boundaries, roads and the BRT ring
    labels = page.locator("#layer-list label").all_inner_texts()
    assert any(label.startswith("읍·면·동 경계 (24") for label in labels), labels
    assert any(label.startswith("BRT 순환선") for label in labels), labels
    # Layers of domains without data are absent, not shown empty.
    assert not any("PM2.5" in label for label in labels)
    assert page.locator("#kpi-districts .kpi-value").inner_text() == "24"
    assert any(label.startswith("하천·호수 (근사)") for label in labels), labels
    assert any(label.startswith("공원 (근사)") for label in labels), labels
    assert "근사치" in page.locator(".leaflet-control-attribution").inner_text()


def test_a_layer_toggles(page: Any, server: LiveServer) -> None:
    open_dashboard(page, server)
    before = painted_pixels(page)
    for layer in ("parks", "water", "districts", "roads", "brt", "landmarks"):
        page.locator(f"#layer-{layer}").uncheck()
    page.wait_for_timeout(300)
    assert painted_pixels(page) == 0
    page.locator("#layer-brt").check()
    page.wait_for_timeout(300)
    ring = painted_pixels(page)
    assert 0 < ring < before


def test_clicking_a_landmark_opens_the_inspector(page: Any, server: LiveServer) -> None:
    open_dashboard(page, server)
    point = page.evaluate(
        """() => {
          const entry = window.cityos.map.layers.get('landmarks');
          const item = [...entry.items.values()].find(
            (i) => i.feature.id.endsWith('government-complex'));
          const p = window.cityos.map.map.latLngToContainerPoint(item.getLatLng());
          const box = document.getElementById('map').getBoundingClientRect();
          return {x: box.left + p.x, y: box.top + p.y};
        }"""
    )
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector("#inspector-body table.attrs")
    assert page.locator("#inspector-heading").inner_text() == "정부세종청사"
    assert (
        "urn:ngsi-ld:PointOfInterest:sejong:government-complex"
        in page.locator("#inspector-body caption").inner_text()
    )


def test_the_language_switches_and_is_remembered(page: Any, server: LiveServer) -> None:
    open_dashboard(page, server)
    assert page.locator("#layers-heading").inner_text() == "레이어"
    page.locator("#lang-switch").click()
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.locator("#layers-heading").inner_text() == "Layers"
    assert page.locator("#lang-switch").inner_text() == "한국어"
    labels = page.locator("#layer-list label").all_inner_texts()
    assert any(label.startswith("Eup/myeon/dong boundaries (24") for label in labels), labels
    page.reload()
    page.wait_for_selector("body[data-ready='map']")
    assert page.locator("#layers-heading").inner_text() == "Layers"


def test_an_operator_logs_in_on_the_dashboard(page: Any, server: LiveServer) -> None:
    username = server.create_user(Role.OPERATOR, department="환경과")
    open_dashboard(page, server)
    page.locator("#login-open").click()
    page.locator("#login-username").fill(username)
    page.locator("#login-password").fill("wrong password!")
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('login-error').textContent.length > 0")
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_function(
        f"() => document.getElementById('who').textContent.includes('{username}')"
    )
    assert "공무원" in page.locator("#who").inner_text()
    assert page.locator("#tenant-section").is_visible()
    assert page.locator("#logout").is_visible()
    page.locator("#logout").click()
    page.wait_for_function("() => document.getElementById('who').textContent === ''")
    assert page.locator("#login-open").is_visible()


def test_dark_theme_redraws_the_map(page: Any, server: LiveServer) -> None:
    open_dashboard(page, server)
    assert page.locator("#theme-switch").inner_text() == "어두운 화면"  # js/page.js
    page.locator("#theme-switch").click()
    assert page.locator("html").get_attribute("data-theme") == "dark"
    assert page.locator("#theme-switch").inner_text() == "밝은 화면"
    assert painted_pixels(page) > 2_000
    # after a language switch the label is redrawn in it, before the page's own texts
    page.locator("#lang-switch").click()
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert page.locator("#theme-switch").inner_text() == "Light theme"
    assert painted_pixels(page) > 2_000


def test_pm25_grades_follow_the_korean_bands(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    grades = page.evaluate(
        """async () => {
          const {pm25Grade} = await import('/static/js/kpi.js');
          return [0, 15, 15.4, 15.6, 16, 35, 36, 75, 76, 500, -1, NaN].map(pm25Grade);
        }"""
    )
    assert grades == [
        "good", "good", "good", "moderate", "moderate", "moderate",
        "bad", "bad", "verybad", "verybad", None, None,
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["/", "/citizen"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_no_serious_accessibility_violations(
    page: Any, server: LiveServer, path: str, theme: str
) -> None:
    page.emulate_media(color_scheme=theme)
    page.goto(server.url + path)
    page.wait_for_selector("body[data-ready='map'], body[data-ready='yes']")
    assert page.locator("html").get_attribute("data-theme") == theme
    violations = run_axe(page)
    assert violations == [], [(v["id"], v["help"], len(v["nodes"])) for v in violations]


def test_the_keyboard_reaches_every_hub_entity(page: Any, server: LiveServer) -> None:
    open_dashboard(page, server)
    # Tab order: the skip link first, then the header's link and buttons in reading order.
    order = []
    for _ in range(7):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate(
                "() => document.activeElement.id || document.activeElement.getAttribute('href')"
            )
        )
    assert order == [
        "#main",
        "/citizen",
        "/scenarios",
        "/operator",
        "login-open",
        "theme-switch",
        "lang-switch",
    ], order
    page.focus("#feature-picker")
    options = page.locator("#feature-picker option").all_inner_texts()
    assert "조치원읍" in options
    assert "정부세종청사" in options
    page.select_option("#feature-picker", label="정부세종청사")
    page.wait_for_selector("#inspector-body table.attrs")
    assert page.locator("#inspector-heading").inner_text() == "정부세종청사"
    # Focus stays on the picker (a keyboard user keeps their place).
    assert page.evaluate("() => document.activeElement.id") == "feature-picker"
