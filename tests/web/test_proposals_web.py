"""Citizen proposals in a real browser: from the form (map pin, images checked before upload)
to the support threshold, official review and response; comments, reports, hidden comments;
bad input and script in text."""

# ruff: noqa: F401, F811 - the fixtures are imported from tests.web._civic_web

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from cityos.governance.proposals import images
from cityos.web import static_dir
from tests.conftest import STORAGE_INDEPENDENT
from tests.governance._civic import BORAM, BORAM_POINT, People
from tests.web._civic_web import check_page, contexts, http, log_in, open_page, people, server
from tests.web.conftest import LiveServer

# On SQLite only: what the proposal pages do; tests/governance checks proposals, comments
# and images on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]
SCRIPT_TITLE = (
    '<script>window.pwned = 1</script><img src=x id=pwned onerror="window.pwned=2">가로등'
)


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def errors_of(page: Any) -> str:
    return str(page.locator("#proposal-error").inner_text())


def test_the_page_checks_images_with_the_servers_limits() -> None:
    """proposals.js pre-checks with the same limits the server enforces."""
    source = (static_dir() / "js" / "proposals.js").read_text(encoding="utf-8")
    assert f"IMAGE_MAX_BYTES = {images.MAX_BYTES};" in source
    declared = re.search(r"IMAGE_TYPES = \[(.*?)\]", source)
    assert declared is not None
    assert sorted(re.findall(r'"([^"]+)"', declared.group(1))) == ["image/jpeg", "image/png"]


def test_a_proposal_from_the_form_to_an_official_response(
    contexts: Any, server: LiveServer, http: httpx.Client, people: People
) -> None:
    proposer, supporter = people.resident(BORAM), people.resident(BORAM)
    page = log_in(contexts(), server, proposer)
    open_page(page, server, "#proposals")
    page.locator("#proposals-new").click()
    page.wait_for_selector("#proposal-form")
    page.wait_for_selector("#new-proposal-map .leaflet-interactive, #new-proposal-map canvas")
    check_page(page, "proposal-new")

    page.get_by_label("제목", exact=True).fill(SCRIPT_TITLE)
    page.get_by_label("설명", exact=True).fill(
        "천변 산책로가 밤에 너무 어둡습니다. 가로등을 놓아 주세요."
    )
    # No place: refused in the page, nothing sent.
    page.locator("#proposal-form button[type=submit]").click()
    assert "위치가 없습니다" in errors_of(page)
    # A click on the map drops the pin and fills the coordinates.
    page.locator("#new-proposal-map").click(position={"x": 200, "y": 150})
    assert page.locator("#proposal-lat").input_value() != ""
    assert page.locator("#proposal-lon").input_value() != ""
    # A place outside Sejong (Seoul City Hall): the server's refusal, in Korean.
    page.locator("#proposal-lat").fill("37.5663")
    page.locator("#proposal-lon").fill("126.9779")
    page.locator("#proposal-form button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('proposal-error').textContent !== ''")
    assert "세종" in errors_of(page)
    page.locator("#proposal-lat").fill(str(BORAM_POINT[1]))
    page.locator("#proposal-lon").fill(str(BORAM_POINT[0]))

    # Wrong type and over 5 MB: refused in the page, nothing sent.
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/api/v1/" in r.url else None)
    files = page.locator("#proposal-images-input")
    files.set_input_files([{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    assert errors_of(page) == "notes.txt: JPEG 또는 PNG 이미지만 올릴 수 있습니다."
    big = {"name": "big.png", "mimeType": "image/png", "buffer": b"\0" * (images.MAX_BYTES + 1)}
    files.set_input_files([big])
    assert errors_of(page) == (
        "big.png: 파일 크기 5,242,881바이트가 한도 5MB(5,242,880바이트)를 넘습니다."
        " 더 작은 이미지를 고르세요."
    )
    page.locator("#proposal-form button[type=submit]").click()
    page.wait_for_timeout(300)
    assert sent == []
    assert errors_of(page).startswith("big.png")
    # A "PNG" that is not an image passes the page's check; the server's refusal is shown
    # and the proposal stays an unpublished draft.
    files.set_input_files([{"name": "broken.png", "mimeType": "image/png", "buffer": b"nope"}])
    assert errors_of(page) == ""
    page.locator("#proposal-form button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('proposal-error').textContent !== ''")
    assert errors_of(page).startswith("broken.png: ")
    listed = http.get("/api/v1/proposals?status=published").json()["items"]
    assert SCRIPT_TITLE not in [p["title"] for p in listed]
    # A real photo: the same draft gets it and is published.
    files.set_input_files([{"name": "street.png", "mimeType": "image/png", "buffer": png()}])
    page.locator("#proposal-form button[type=submit]").click()
    page.wait_for_selector("#proposal")
    pid = page.locator("#proposal").get_attribute("data-proposal")
    assert page.locator("#proposal-title").inner_text() == SCRIPT_TITLE  # literal text
    assert page.evaluate("window.pwned") is None
    assert page.locator("#pwned").count() == 0
    assert page.locator("#proposal-status").inner_text() == "지지 모으는 중"
    page.wait_for_function(
        "() => document.querySelector('#proposal-images img')?.naturalWidth === 64"
    )
    mine = http.get(f"/api/v1/proposals/{pid}").json()
    assert mine["zone"]["code"] == BORAM
    assert mine["title"] == SCRIPT_TITLE
    assert len(mine["images"]) == 1

    # Supports: the proposer, then a second resident reaches the threshold of 2.
    assert page.locator("#support-count").inner_text() == "지지 0명 / 기준 2명"
    page.locator("#support").click()
    page.wait_for_selector("#proposal-notice")
    assert page.locator("#support-count").inner_text() == "지지 1명 / 기준 2명"
    assert page.locator("#support-progress").get_attribute("value") == "1"
    assert page.locator("#support").get_attribute("aria-pressed") == "true"
    check_page(page, "proposal-detail")

    other = log_in(contexts(), server, supporter)
    open_page(other, server, "#proposals")
    other.locator(f"#proposals-list [data-proposal='{pid}'] a").click()
    other.wait_for_selector("#support")
    other.locator("#support").click()
    other.wait_for_selector("#proposal-notice")
    assert other.locator("#proposal-status").inner_text() == "공식 검토 중"
    assert other.locator("#support-count").inner_text() == "지지 2명 / 기준 2명"
    assert "자동 (지지 기준 도달)" in other.locator("#responses").inner_text()

    # Comments: script stays text; the proposer reports it; an operator hides it.
    other.locator("#comment-body").fill("<b id=bold>좋은 제안</b> <script>window.pwned=3</script>")
    other.locator("#comment-form button[type=submit]").click()
    other.wait_for_selector("#comments .comment-body")
    assert other.locator("#comments .comment-body").inner_text() == (
        "<b id=bold>좋은 제안</b> <script>window.pwned=3</script>"
    )
    assert other.locator("#bold").count() == 0
    assert other.evaluate("window.pwned") is None
    page.reload()
    page.wait_for_selector("#comments .comment")
    page.locator("#comments .report").click()
    page.locator("#comments input[name=reason]").fill("광고성 댓글")
    page.locator("#comments .report-form button[type=submit]").click()
    page.wait_for_function(
        "() => document.querySelector('#comments [role=status]').textContent !== ''"
    )
    assert page.locator("#comments [role=status]").inner_text() == (
        "신고해 주셔서 감사합니다. 담당 공무원이 확인합니다."
    )
    operator = people.operator.headers
    queue = http.get("/api/v1/proposals/moderation/reports", headers=operator).json()
    report = next(r for r in queue if r["proposal_id"] == pid)
    r = http.post(
        f"/api/v1/proposals/comments/{report['comment_id']}/hide",
        json={"reason": "광고 게시물"},
        headers=operator,
    )
    assert r.status_code == 204, r.text
    # The official response.
    r = http.post(
        f"/api/v1/proposals/{pid}/responses",
        json={
            "status": "accepted",
            "message_ko": "내년 상반기에 가로등 12개를 설치합니다.",
            "message_en": "Twelve street lights will be installed in the first half of next year.",
        },
        headers=operator,
    )
    assert r.status_code == 201, r.text
    other.reload()
    other.wait_for_selector("#comments .hidden-comment")
    assert (
        other.locator("#comments .hidden-comment")
        .inner_text()
        .startswith("운영자가 숨긴 댓글입니다. 사유: 광고 게시물")
    )
    assert "좋은 제안" not in other.locator("#comments").inner_text()
    assert other.locator("#proposal-status").inner_text() == "수용"
    assert "내년 상반기에 가로등 12개를 설치합니다." in other.locator("#responses").inner_text()
    assert other.locator("#support-closed").count() == 1
    other.locator("#lang-switch").click()
    other.wait_for_function(
        "() => document.getElementById('proposal-status').textContent === 'Accepted'"
    )
    assert "Twelve street lights" in other.locator("#responses").inner_text()

    # The list: under "answered", with the map.
    open_page(other, server, "#proposals")
    other.locator("#proposals-filter-answered").click()
    other.wait_for_selector(f"#proposals-list [data-proposal='{pid}']")
    assert other.locator("#proposals-filter-answered").get_attribute("aria-pressed") == "true"
    other.wait_for_selector("#proposals-map canvas")
    check_page(other, "proposals-list")


def test_who_may_not_support_or_comment_is_told_why(
    contexts: Any, server: LiveServer, http: httpx.Client, people: People
) -> None:
    author = people.resident(BORAM)
    r = http.post(
        "/api/v1/proposals",
        json={
            "title": "버스 정류장 그늘막",
            "description": "여름에 정류장이 너무 뜨겁습니다. 그늘막을 설치해 주세요.",
            "location": {"type": "Point", "coordinates": BORAM_POINT},
        },
        headers=author.headers,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    citizen = log_in(contexts(), server, people.citizen())
    open_page(citizen, server, f"#proposals/{pid}")
    citizen.wait_for_selector("#support-problem")
    assert (
        citizen.locator("#support-problem")
        .inner_text()
        .startswith("지지는 인증된 세종 주민만 할 수 있습니다.")
    )
    assert citizen.locator("#support").count() == 0
    assert citizen.locator("#comment-form").count() == 1  # any logged-in person comments
    anonymous = log_in(contexts(), server, None)
    open_page(anonymous, server, f"#proposals/{pid}")
    anonymous.wait_for_selector("#comment-problem")
    assert (
        anonymous.locator("#support-problem")
        .inner_text()
        .startswith("로그인하면 참여할 수 있습니다.")
    )
    assert anonymous.locator("#comment-form").count() == 0
    open_page(anonymous, server, "#proposals/new")
    assert (
        anonymous.locator("#proposal-problem")
        .inner_text()
        .startswith("로그인하면 참여할 수 있습니다.")
    )
    assert anonymous.locator("#proposal-form").count() == 0
