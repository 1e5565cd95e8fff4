"""Citizen polls in a real browser: a poll from creation to export, live results in a third
browser, ranked voting by keyboard, the pulse question, and each refusal's message."""

# ruff: noqa: F401, F811 - the fixtures are imported from tests.web._civic_web

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import STORAGE_INDEPENDENT
from tests.governance._civic import BORAM, JOCHIWON, People
from tests.web._civic_web import check_page, contexts, http, log_in, open_page, people, server
from tests.web.conftest import LiveServer

# On SQLite only: what the poll pages do; tests/governance checks polls, their live results
# and concurrent votes on both backends (docs/testing.md).
pytestmark = [pytest.mark.slow, STORAGE_INDEPENDENT]


def make_poll(http: httpx.Client, people: People, **fields: Any) -> dict[str, Any]:
    """Create a poll as the operator through the API; return it."""
    body = {
        "title_ko": "보람동 공원 새 이름",
        "title_en": "A new name for the Boram park",
        "description_ko": "주민 의견을 듣습니다.",
        "description_en": "We want residents' views.",
        "kind": "single",
        "options": [
            {"label_ko": "햇살공원", "label_en": "Sunshine Park"},
            {"label_ko": "금강공원", "label_en": "Geumgang Park"},
            {"label_ko": "보람공원", "label_en": "Boram Park"},
        ],
        "closes_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        "live_results": True,
    } | fields
    r = http.post("/api/v1/polls", json=body, headers=people.operator.headers)
    assert r.status_code == 201, r.text
    return r.json()


def ballots(page: Any, count: int) -> None:
    page.wait_for_selector(f"#poll-results-body .results[data-ballots='{count}']", timeout=15000)


def test_a_poll_runs_end_to_end_with_live_results_and_exports(
    contexts: Any, server: LiveServer, http: httpx.Client, people: People
) -> None:
    poll = make_poll(http, people)
    pid = poll["id"]
    alice, bob = people.resident(BORAM), people.resident(BORAM)

    # A third browser, not logged in, watches the results live.
    watcher = log_in(contexts(), server, None)
    open_page(watcher, server, f"#polls/{pid}")
    ballots(watcher, 0)
    assert "로그인하면 참여할 수 있습니다." in watcher.locator("#poll-problem").inner_text()
    assert watcher.locator("#poll-closes").inner_text().endswith("KST")

    first = log_in(contexts(), server, alice)
    open_page(first, server, "#polls")
    assert "보람동" in first.locator("#polls-note").inner_text()
    first.locator(f"[data-poll='{pid}'] a").click()
    first.wait_for_selector("#ballot")
    check_page(first, "poll-ballot")
    # Alice's second tab, opened before she votes: its form is stale after the first vote.
    stale = first.context.new_page()
    open_page(stale, server, f"#polls/{pid}")
    stale.wait_for_selector("#ballot")

    first.locator("#ballot").get_by_label("햇살공원").check()
    first.locator("#ballot button[type=submit]").click()
    first.wait_for_selector("#poll-problem")
    assert (
        first.locator("#poll-state .notice.ok").inner_text() == "투표가 기록되었습니다. 감사합니다."
    )
    assert first.locator("#poll-problem").inner_text() == (
        "이미 투표하셨습니다. 한 사람은 한 번만 투표할 수 있습니다."
    )
    ballots(watcher, 1)  # the watcher's bars moved without a reload

    # Second vote from the stale tab: the server's refusal (409) is shown as it says it.
    stale.locator("#ballot").get_by_label("금강공원").check()
    stale.locator("#ballot button[type=submit]").click()
    stale.wait_for_function("() => document.getElementById('ballot-error').textContent !== ''")
    assert stale.locator("#ballot-error").inner_text() == (
        "이미 이 투표에 참여했습니다. 주민 한 명은 한 번만 투표할 수 있습니다."
    )

    second = log_in(contexts(), server, bob)
    open_page(second, server, f"#polls/{pid}")
    second.locator("#lang-switch").click()
    second.wait_for_function("() => document.documentElement.lang === 'en'")
    second.wait_for_selector("#ballot legend:has-text('Choose one option')")
    second.locator("#ballot button[type=submit]").click()  # nothing ticked
    assert second.locator("#ballot-error").inner_text() == (
        "Nothing is chosen: choose at least one option."
    )
    second.locator("#ballot").get_by_label("Geumgang Park").check()
    second.locator("#ballot button[type=submit]").click()
    second.wait_for_selector("#poll-problem")
    assert second.locator("#poll-state .notice.ok").inner_text() == (
        "Your vote is recorded. Thank you."
    )
    ballots(watcher, 2)
    bars = watcher.locator("#poll-results-body .bars li")
    assert bars.nth(0).locator(".bar-count").inner_text() == "1표 (50%)"
    assert bars.nth(1).locator(".bar-count").inner_text() == "1표 (50%)"
    assert bars.nth(2).locator(".bar-count").inner_text() == "0표 (0%)"
    assert watcher.locator("#poll-results-body progress").nth(0).get_attribute("value") == "1"

    # Closed: the stream's final message redraws the page (closed state, exports), no reload.
    r = http.post(f"/api/v1/polls/{pid}/close", headers=people.operator.headers)
    assert r.status_code == 200, r.text
    watcher.wait_for_selector("#poll-exports", timeout=5000)
    watcher.wait_for_selector("#poll-results-body .results[data-state='closed']", timeout=5000)
    assert watcher.locator("#poll-results-body .ballots").inner_text() == "최종 결과 · 총 2표"
    assert watcher.locator("#poll-problem").inner_text().startswith("투표가 마감되었습니다")
    check_page(watcher, "poll-closed")
    with watcher.expect_download() as download:
        watcher.locator("#poll-exports a", has_text="CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["option_id", "label_ko", "label_en", "votes", "share"]
    assert rows[1][:4] == ["1", "햇살공원", "Sunshine Park", "1"]
    assert rows[2][:4] == ["2", "금강공원", "Geumgang Park", "1"]
    assert ["ballots", "2"] in rows
    with watcher.expect_download() as download:
        watcher.locator("#poll-exports a", has_text="JSON").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert exported["ballots"] == 2
    assert [o["votes"] for o in exported["options"]] == [1, 1, 0]
    # The list shows it among the closed polls.
    open_page(first, server, "#polls")
    assert first.locator(f"#polls-closed [data-poll='{pid}'] .badge.done").count() == 1


def test_ranked_vote_by_keyboard_only(
    contexts: Any, server: LiveServer, http: httpx.Client, people: People
) -> None:
    poll = make_poll(
        http,
        people,
        kind="ranked",
        title_ko="버스 노선 우선순위",
        title_en="Bus route priorities",
        options=[
            {"label_ko": "가 노선", "label_en": "Route A"},
            {"label_ko": "나 노선", "label_en": "Route B"},
            {"label_ko": "다 노선", "label_en": "Route C"},
        ],
    )
    page = log_in(contexts(), server, people.resident(BORAM))
    open_page(page, server, f"#polls/{poll['id']}")
    page.wait_for_selector("#ballot-ranking")
    check_page(page, "poll-ranked")
    names = (
        "() => [...document.querySelectorAll('#ballot-ranking .rank-name')].map(e => e.textContent)"
    )
    assert page.evaluate(names) == ["가 노선", "나 노선", "다 노선"]
    # Keyboard only: Tab to "move 가 노선 down", Enter twice (focus follows the option).
    page.locator("#polls-body a[href='#polls']").focus()  # the link just before the ballot
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "가 노선 아래로 내리기"
    )
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    assert page.evaluate(names) == ["나 노선", "다 노선", "가 노선"]
    assert page.locator("#ballot [role=status]").inner_text() == "가 노선: 이제 3번째"
    # 가 is last: its "down" is disabled, so focus went to its "up"; one up again.
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "가 노선 위로 올리기"
    )
    page.keyboard.press("Enter")
    assert page.evaluate(names) == ["나 노선", "가 노선", "다 노선"]
    ranks = page.locator("#ballot-ranking .rank").all_inner_texts()
    assert ranks == ["1위", "2위", "3위"]
    page.locator("#ballot button[type=submit]").focus()
    with page.expect_request(lambda r: r.url.endswith("/votes")) as sent:
        page.keyboard.press("Enter")
    assert sent.value.post_data_json == {"choices": [2, 1, 3]}
    page.wait_for_selector("#poll-problem")
    ballots(page, 1)
    results = httpx.get(f"{server.url}/api/v1/polls/{poll['id']}/results", timeout=30).json()
    assert [o["votes"] for o in results["options"]] == [0, 1, 0]
    assert results["winner"] == 2


def test_who_may_not_vote_is_told_why(
    contexts: Any, server: LiveServer, http: httpx.Client, people: People
) -> None:
    jochiwon_only = make_poll(http, people, zones=[JOCHIWON], title_ko="조치원 주차장 위치")
    hidden = make_poll(http, people, live_results=False, title_ko="결과 비공개 투표")
    # A registered citizen who is not a verified resident.
    citizen = log_in(contexts(), server, people.citizen())
    open_page(citizen, server, f"#polls/{hidden['id']}")
    assert (
        citizen.locator("#poll-problem")
        .inner_text()
        .startswith("투표는 인증된 세종 주민만 할 수 있습니다.")
    )
    assert citizen.locator("#ballot").count() == 0
    assert citizen.locator("#poll-results-body").inner_text().startswith("결과는 투표 마감(")
    # A resident of 보람동 and a poll for 조치원읍 only.
    resident = log_in(contexts(), server, people.resident(BORAM))
    open_page(resident, server, "#polls")
    item = resident.locator(f"#polls-open [data-poll='{jochiwon_only['id']}']")
    assert item.locator(".badge").all_inner_texts() == ["조치원읍 주민만", "내 거주 동 대상 아님"]
    check_page(resident, "polls-list")
    item.locator("a").click()
    resident.wait_for_selector("#poll-problem")
    assert resident.locator("#poll-problem").inner_text() == (
        "이 투표는 조치원읍 주민만 참여할 수 있습니다 (내 거주 동: 보람동)."
    )
    # Script in a poll's text is shown as text.
    script = make_poll(http, people, title_ko="<img src=x id=pwned onerror=alert(1)>투표")
    open_page(resident, server, f"#polls/{script['id']}")
    assert resident.locator("#poll-title").inner_text() == (
        "<img src=x id=pwned onerror=alert(1)>투표"
    )
    assert resident.locator("#pwned").count() == 0


def test_pulse_question_answered_in_one_tap_then_its_share(
    contexts: Any, server: LiveServer, http: httpx.Client, people: People
) -> None:
    make_poll(
        http,
        people,
        pulse=True,
        zones=[BORAM],
        title_ko="오늘 출근길 버스는 붐볐나요?",
        title_en="Was your bus crowded this morning?",
        options=[{"label_ko": "네", "label_en": "Yes"}, {"label_ko": "아니요", "label_en": "No"}],
    )
    page = log_in(contexts(360, 740), server, people.resident(BORAM))
    open_page(page, server, "#home")
    page.wait_for_selector("#pulse-card:not([hidden]) #pulse-question")
    assert page.locator("#pulse-question").inner_text() == "오늘 출근길 버스는 붐볐나요?"
    check_page(page, "pulse-home")
    page.locator("#pulse-card button", has_text="아니요").click()
    page.wait_for_selector("#pulse-results .results[data-ballots]")
    assert page.locator("#pulse-thanks").inner_text() == "투표가 기록되었습니다. 감사합니다."
    assert int(page.locator("#pulse-results .results").get_attribute("data-ballots") or 0) >= 1
    # Answered: the next visit has no question for this person (this pulse was the only one).
    open_page(page, server, "#home")
    page.wait_for_timeout(300)
    assert page.locator("#pulse-card").is_hidden()
    # Logged out: no card.
    anonymous = log_in(contexts(), server, None)
    open_page(anonymous, server, "#home")
    assert anonymous.locator("#pulse-card").is_hidden()
