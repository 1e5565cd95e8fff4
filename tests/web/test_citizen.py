"""The citizen app in a real browser: 360 px home, registration, login and my account.

The home's traffic card is the dashboard's congestion tile over the traffic counters written
to the hub; the nearest-ER card appears only with EmergencyDepartment entities.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cityos.web.layers import CITYOS, TRANSPORTATION
from tests.conftest import STORAGE_INDEPENDENT
from tests.web.conftest import LiveServer, run_axe
from tests.web.test_domains import Hub, geo, prop, uid

# On SQLite only: what the citizen pages show; tests/identity and tests/privacy check
# accounts and personal data on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]
HUB_AUTH = "on"


@pytest.fixture
def phone(browser: Any) -> Any:
    """A 360 × 740 px phone-sized context (Galaxy S-class), touch enabled."""
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, has_touch=True
    )
    yield context
    context.close()


def test_citizen_home_fits_360_px_and_labels_what_is_coming(
    phone: Any, server: LiveServer, tmp_path: Path
) -> None:
    page = phone.new_page()
    page.goto(server.url + "/citizen")
    page.wait_for_selector("body[data-ready='yes']")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"horizontal scroll: the page is {width} px wide"
    assert page.locator("#aq-grade").inner_text() == "–"
    assert page.locator("#aq-detail").inner_text() == "아직 대기질 관측 데이터가 없습니다."
    assert page.locator("#traffic-value").inner_text() == "–"
    assert page.locator("#traffic-detail").inner_text() == "교통 정보 없음"
    assert page.locator("#er-card").is_hidden()  # no ER in the hub: no card, no placeholder
    assert page.locator("#services li").count() == 7
    # A service with a page of its own links to it; the others are labelled as coming.
    assert page.locator("#services li a").all_inner_texts() == ["민원", "여론조사", "시민 제안"]
    assert page.locator("#services a[href='#complaint-new']").inner_text() == "민원"
    assert page.locator("#services a[href='#polls']").inner_text() == "여론조사"
    assert page.locator("#services a[href='#proposals']").inner_text() == "시민 제안"
    coming = page.locator("#services li:not(:has(a))").all_inner_texts()
    assert len(coming) == 4
    assert all("준비 중" in text for text in coming)
    page.screenshot(path=str(Path("test-artifacts").resolve() / "citizen-home-360.png"))


@pytest.fixture
def hub(server: LiveServer) -> Iterator[Hub]:
    writer = Hub(server)
    try:
        yield writer
    finally:
        writer.cleanup()


def open_home(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/citizen")
    page.wait_for_selector("body[data-ready='yes']")


def test_traffic_card_is_the_share_of_jammed_counted_links(
    phone: Any, hub: Hub, server: LiveServer
) -> None:
    roads = httpx.get(server.url + "/web/basemap/roads", timeout=30).json()["features"]
    fast = [f for f in roads if f["properties"]["free_flow_kmh"] >= 50][:4]
    assert len(fast) == 4
    # 1 of 4 counted links below 40 % of its free-flow speed: 25 % jammed (매우 나쁨 band);
    # speed ratios 0.2, 0.5, 0.8, 0.9 → mean 60 %.
    for road, ratio in zip(fast, (0.2, 0.5, 0.8, 0.9), strict=True):
        hub.create(
            TRANSPORTATION,
            {
                "id": uid("TrafficFlowObserved"),
                "type": "TrafficFlowObserved",
                "location": geo(),
                "refRoadSegment": prop(f"urn:ngsi-ld:RoadSegment:{road['properties']['id']}"),
                "averageVehicleSpeed": prop(road["properties"]["free_flow_kmh"] * ratio),
            },
        )
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_home(page, server)
    assert page.locator("#traffic-value").inner_text() == "정체 25%"
    assert page.locator("#traffic-detail").inner_text() == (
        "4개 구간 중 정체 1 · 평균 속도 자유 흐름의 60%"
    )
    assert "grade-verybad" in (page.locator("#traffic-card").get_attribute("class") or "")
    page.locator("#theme-switch").click()
    page.locator("#lang-switch").click()
    page.wait_for_function(
        "() => document.getElementById('traffic-value').textContent === '25% jammed'"
    )
    assert page.locator("#traffic-detail").inner_text() == (
        "1 of 4 links jammed · mean speed 60% of free flow"
    )
    # In the dark theme the switch offers the light one, in the new language (js/page.js).
    assert page.locator("#theme-switch").inner_text() == "Light theme"
    assert errors == []


def emergency(hub: Hub, name: str, lon: float, lat: float, occupancy: float, beds: int) -> str:
    return hub.create(
        CITYOS,
        {
            "id": uid("EmergencyDepartment"),
            "type": "EmergencyDepartment",
            "name": prop(name),
            "location": geo(lon, lat),
            "occupancy": prop(occupancy),
            "hvec": prop(beds),
        },
    )


def test_nearest_er_card_from_city_hall_or_my_position(
    browser: Any, phone: Any, hub: Hub, server: LiveServer
) -> None:
    emergency(hub, "세종충남대학교병원", 127.2950, 36.4800, 0.9, 3)  # ~0.5 km from City Hall
    emergency(hub, "조치원 응급실", 127.2980, 36.6010, 0.4, 12)  # ~13 km north
    page = phone.new_page()
    open_home(page, server)
    page.wait_for_selector("#er-card:not([hidden])")
    assert page.locator("#er-name").inner_text() == "세종충남대학교병원"
    detail = page.locator("#er-detail").inner_text()
    assert detail == "세종시청에서 0.5 km · 병상 점유율 90% · 가용 3병상", detail
    assert page.locator("#er-locate").is_visible()  # position not shared: the user may ask
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"horizontal scroll: the page is {width} px wide"
    assert run_axe(page) == []
    artifacts = Path("test-artifacts").resolve()
    artifacts.mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "citizen-home-er-360.png"), full_page=True)

    # A browser that shares its position (here: in 조치원) gets the ER nearest to it.
    near_jochiwon = browser.new_context(
        viewport={"width": 360, "height": 740},
        permissions=["geolocation"],
        geolocation={"latitude": 36.6000, "longitude": 127.2975},
    )
    try:
        mine = near_jochiwon.new_page()
        open_home(mine, server)
        mine.wait_for_function(
            "() => document.getElementById('er-name').textContent === '조치원 응급실'"
        )
        assert mine.locator("#er-detail").inner_text() == (
            "내 위치에서 0.1 km · 병상 점유율 40% · 가용 12병상"
        )
        assert mine.locator("#er-locate").is_hidden()
    finally:
        near_jochiwon.close()


def test_register_log_in_consent_export_and_delete(phone: Any, server: LiveServer) -> None:
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/citizen#account")
    page.wait_for_selector("body[data-ready='yes']")
    username = f"citizen-{uuid.uuid4().hex[:6]}"
    page.locator("#to-register").click()
    page.locator("#register-username").fill(username)
    page.locator("#register-password").fill("short")
    page.locator("#register-form button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('register-error').textContent.length > 0")
    page.locator("#register-password").fill("a long enough password")
    page.locator("#register-name").fill("홍길동")
    page.locator("#register-form button[type=submit]").click()
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.locator("#login-username").input_value() == username
    page.locator("#login-password").fill("a long enough password")
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_selector("#account-panel:not([hidden])")
    assert page.locator("#me-username").inner_text() == username
    assert page.locator("#me-name").inner_text() == "홍길동"
    assert page.locator("#me-roles").inner_text() == "시민"

    page.locator("#consent-walking_rewards button").click()
    page.wait_for_function(
        "() => document.querySelector('#consent-walking_rewards').textContent.includes('동의함')"
    )
    with page.expect_download() as download:
        page.locator("#export").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert username in json.dumps(exported, ensure_ascii=False)
    assert "walking_rewards" in json.dumps(exported)
    page.locator("#consent-walking_rewards button").click()
    page.wait_for_function(
        "() => document.querySelector('#consent-walking_rewards')"
        ".textContent.includes('동의하지 않음')"
    )

    page.locator("#delete-confirm").fill("someone-else")
    page.locator("#delete").click()
    assert page.locator("#delete-error").inner_text() == "아이디가 일치하지 않습니다."
    page.locator("#delete-confirm").fill(username)
    page.locator("#delete").click()
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.locator("#account-status").inner_text() == "계정이 삭제되었습니다."
    # The account is gone: logging in again fails.
    page.locator("#login-username").fill(username)
    page.locator("#login-password").fill("a long enough password")
    page.locator("#login-form button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('login-error').textContent.length > 0")
    assert errors == []
