"""The operator pages in a real browser: the queue, a complaint worked to closed, the dashboard.

Complaints are filed through the real Open311 API by citizens (bearer tokens), one with a
photo and a +1; one is filed three days in the past (so it is overdue). An operator of
도로과 logs in at /operator, works one through assign → start → close (a rejection without a
note refused in the page), then opens #stats: the H3 hot-spot map, the charts and topics.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from cityos import db
from cityos.config import Settings
from cityos.governance import service
from cityos.governance.catalog import BY_CODE
from cityos.governance.intake import NewRequest
from cityos.identity.models import Role
from tests.conftest import STORAGE_INDEPENDENT
from tests.web.conftest import ARTIFACTS, PASSWORD, LiveServer, run_axe, token

# On SQLite only: what the operator pages show; tests/governance checks the queue and the
# statistics on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]
HUB_AUTH = "on"
SEJONG = (36.5040, 127.2650)
TRICKY = '포트홀 <img src=x onerror="document.body.dataset.pwned=1"> 위험해요 & 깊어요'


@pytest.fixture(scope="module")
def site(database_url: str) -> Iterator[LiveServer]:
    settings = Settings(database_url=database_url, mode="test", log_level="warning", auth="on")
    with LiveServer(settings) as live:
        yield live


def _file(site: LiveServer, headers: dict[str, str], **fields: str) -> str:
    form = {"duplicate_action": "new", **fields}
    r = httpx.post(site.url + "/open311/v2/requests.json", data=form, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()[0]["service_request_id"])


@pytest.fixture(scope="module")
def complaints(site: LiveServer) -> dict[str, str]:
    citizen = token(site, Role.CITIZEN)
    neighbour = token(site, Role.CITIZEN)
    pothole = _file(
        site,
        citizen,
        service_code="road",
        lat=str(SEJONG[0]),
        long=str(SEJONG[1]),
        description=TRICKY,
    )
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(picture, format="PNG")
    r = httpx.post(
        f"{site.url}/open311/v2/media/{pothole}",
        content=picture.getvalue(),
        headers={**citizen, "Content-Type": "image/png"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    joined = httpx.post(
        f"{site.url}/open311/v2/requests/{pothole}/join.json", headers=neighbour, timeout=30
    )
    assert joined.status_code == 200, joined.text
    lamp = _file(
        site,
        citizen,
        service_code="streetlight",
        lat=str(SEJONG[0] + 0.004),
        long=str(SEJONG[1] + 0.004),
        description="가로등이 꺼져서 어두워요",
    )
    # Filed three days ago: past its 48-hour SLA.
    engine = db.make_engine(site.settings)
    try:
        with engine.begin() as connection:
            old = service.create(
                connection,
                new=NewRequest(
                    service_code="streetlight",
                    description="보안등이 계속 깜빡거려요",
                    lat=SEJONG[0] + 0.01,
                    lon=SEJONG[1],
                    address_string=None,
                ),
                service=BY_CODE["streetlight"],
                suggestion=None,
                reporter_id=None,
                api_key_id=None,
                now=datetime.now(UTC) - timedelta(days=3),
            )
    finally:
        engine.dispose()
    return {"pothole": pothole, "lamp": lamp, "overdue": str(old)}


def login(page: Any, site: LiveServer, username: str) -> None:
    page.locator("#login-open").click()
    page.locator("#login-username").fill(username)
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-form button[type=submit]").click()


def no_horizontal_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, width


def test_an_operator_works_a_complaint_from_the_queue_to_closed(
    page: Any, site: LiveServer, complaints: dict[str, str]
) -> None:
    page.goto(site.url + "/operator")
    page.wait_for_selector("body[data-ready=operator]")
    assert "로그인" in page.locator("#gate").inner_text()
    assert page.locator("#queue-view").is_hidden()
    assert run_axe(page) == []

    login(page, site, site.create_user(Role.OPERATOR, department="도로과"))
    page.wait_for_function("() => document.body.dataset.queue >= 3")
    rows = page.locator("#queue-body tr")
    ids = [rows.nth(i).get_attribute("data-request") for i in range(rows.count())]
    assert set(complaints.values()) <= set(ids)
    # Sorted by priority: the pothole (safety words, +1) comes first, with its reasons.
    assert ids[0] == complaints["pothole"]
    first = rows.nth(0)
    assert "안전 관련 표현" in first.inner_text()
    assert "2건" in first.inner_text()  # the citizen and one +1
    overdue = page.locator(f"#queue-body tr[data-request='{complaints['overdue']}']")
    assert "overdue" in (overdue.get_attribute("class") or "")
    assert "기한 초과" in overdue.inner_text()

    # Filters: by SLA state and by code.
    page.select_option("#f-sla", "overdue")
    assert page.locator("#queue-body tr").count() == 1
    page.select_option("#f-sla", "")
    page.select_option("#f-code", "streetlight")
    assert page.locator("#queue-body tr").count() == 2
    page.select_option("#f-code", "")

    # The detail: the description as text (never HTML), the photo, the map, the timeline.
    page.locator(f"#queue-body tr[data-request='{complaints['pothole']}'] button.link").click()
    page.wait_for_function(f"() => document.body.dataset.detail === '{complaints['pothole']}'")
    assert page.locator("#detail-description").inner_text() == TRICKY
    assert page.locator("#detail-description img").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None
    page.wait_for_function("() => document.getElementById('detail-img').naturalWidth === 64")
    assert page.locator("#detail-map canvas").count() >= 1
    assert page.locator("#detail-timeline li").count() == 1
    assert page.locator("#detail-facts").inner_text().count("2건") == 1
    assert run_axe(page) == []

    # A rejection without a note is refused by the API and the page says why.
    page.locator("#action-form [data-status=rejected]").click()
    page.wait_for_function("() => document.getElementById('action-error').textContent.length > 0")
    assert "반려하려면" in page.locator("#action-error").inner_text()
    assert page.locator("#action-form [data-status=closed]").is_disabled()

    for status, note, label in (
        ("assigned", "도로보수 2팀 배정", "배정"),
        ("in_progress", "현장 확인 중", "처리중"),
        ("closed", "포트홀 메움 완료", "완료"),
    ):
        page.locator("#action-note").fill(note)
        page.locator(f"#action-form [data-status={status}]").click()
        acted = f"{complaints['pothole']}:{status}"
        page.wait_for_function(f"() => document.body.dataset.acted === '{acted}'")
        assert page.locator("#detail").get_attribute("data-status") == status
        assert label in page.locator("#action-status").inner_text()
    page.wait_for_function("() => document.querySelectorAll('#detail-timeline li').length === 4")
    timeline = page.locator("#detail-timeline").inner_text()
    assert "포트홀 메움 완료" in timeline
    assert "현장 확인 중" in timeline
    assert page.locator(f"#queue-body tr[data-request='{complaints['pothole']}']").count() == 0
    assert all(b.is_disabled() for b in page.locator("#action-form [data-status]").all())

    # English: the same page in the other language.
    page.locator("#lang-switch").click()
    page.wait_for_function("() => document.documentElement.lang === 'en'")
    assert "Closed" in page.locator("#detail-facts").inner_text()


def test_the_stats_page_draws_hot_spots_charts_and_topics(
    page: Any, site: LiveServer, complaints: dict[str, str]
) -> None:
    page.goto(site.url + "/operator#stats")
    page.wait_for_selector("body[data-ready=operator]")
    login(page, site, site.create_user(Role.ADMIN))
    page.wait_for_function("() => document.body.dataset.view === 'stats'")
    # The first stats request of the process loads Kiwi's model: allow for a busy machine.
    page.wait_for_function("() => document.body.dataset.stats !== undefined", timeout=120_000)
    api = httpx.get(
        site.url + "/complaints/stats",
        headers=token(site, Role.OPERATOR, department="환경과"),
        timeout=30,
    ).json()
    assert int(page.evaluate("document.body.dataset.stats")) == api["total"] >= 3
    cells = len(api["hot_spots"]["cells"])
    assert cells >= 1
    assert page.locator("#hot-map").get_attribute("data-cells") == str(cells)
    # The hexagons are painted on the map's canvas: some pixels are the hot-spot red.
    page.wait_for_function(
        """() => {
          let red = 0;
          for (const canvas of document.querySelectorAll('#hot-map canvas')) {
            const ctx = canvas.getContext('2d');
            const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 0; i < data.length; i += 4) {
              if (data[i + 3] > 0 && data[i] > data[i + 1] + 40) red++;
            }
          }
          return red > 100;
        }"""
    )
    assert page.locator("#by-day tbody tr").count() == 28
    code_row = page.locator("#by-code tr[data-key=streetlight] td").first
    streetlights = next(c for c in api["by_service_code"] if c["service_code"] == "streetlight")
    assert code_row.inner_text().strip().endswith(str(streetlights["count"]))
    assert page.locator("#sla-dept tr[data-key='도로과']").count() == 1
    kpi = page.locator("[data-kpi=open_overdue] .kpi-value").inner_text()
    assert kpi == str(api["sla"]["open_overdue"])
    assert page.locator("#trending h3").count() == 1
    assert page.locator("#by-zone tbody tr").count() == 24
    assert run_axe(page) == []
    page.locator("#theme-switch").click()
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    assert page.locator("#theme-switch").inner_text() == "밝은 화면"  # js/page.js
    assert run_axe(page) == []

    # A bad window is refused with the API's message.
    page.fill("#s-from", "2026-12-31")
    page.fill("#s-to", "2026-01-01")
    page.locator("#stats-filters button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('stats-error').textContent.length > 0")
    assert "바꾸세요" in page.locator("#stats-error").inner_text()


def test_citizens_see_a_clear_message_and_the_pages_fit_360_px(
    browser: Any, site: LiveServer, complaints: dict[str, str]
) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="ko-KR")
    page = context.new_page()
    try:
        page.goto(site.url + "/operator")
        page.wait_for_selector("body[data-ready=operator]")
        login(page, site, site.create_user(Role.CITIZEN))
        page.wait_for_selector("body[data-view=gate]")
        page.wait_for_function(
            "() => document.getElementById('gate').textContent.includes('공무원')"
        )
        assert page.locator("#queue-view").is_hidden()
        page.locator("#logout").click()
        page.wait_for_selector("#login-open:visible")

        login(page, site, site.create_user(Role.OPERATOR, department="도로과"))
        page.wait_for_function("() => document.body.dataset.queue >= 1")
        no_horizontal_scroll(page)
        page.locator("#queue-body tr button.link").first.click()
        page.wait_for_selector("#detail:not([hidden])")
        no_horizontal_scroll(page)
        assert run_axe(page) == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "operator-queue-360.png"), full_page=True)
        page.goto(site.url + "/operator#stats")
        page.wait_for_function("() => document.body.dataset.stats !== undefined", timeout=120_000)
        no_horizontal_scroll(page)
        assert run_axe(page) == []
        page.screenshot(path=str(ARTIFACTS / "operator-stats-360.png"), full_page=True)
    finally:
        context.close()
