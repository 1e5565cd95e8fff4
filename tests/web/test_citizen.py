"""The citizen app in a real browser: 360 px home, registration, login and my account."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import LiveServer

pytestmark = pytest.mark.slow
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
    assert page.locator("#services li").count() == 7
    assert all("준비 중" in text for text in page.locator("#services li").all_inner_texts())
    page.screenshot(path=str(Path("test-artifacts").resolve() / "citizen-home-360.png"))


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
