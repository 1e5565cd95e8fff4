"""Helpers of the citizen poll and proposal page tests: a server whose proposals need two
supports, people of each kind (through tests.governance._civic), browser logins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from cityos import db
from cityos.config import Settings
from tests.governance._civic import PASSWORD, People, Person
from tests.web.conftest import ARTIFACTS, LiveServer, run_axe


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    """Serve CityOS (Sejong seeded, authentication on); proposals reach review at 2 supports."""
    settings = Settings(
        database_url=database_url,
        mode="test",
        seed_city=True,
        log_level="warning",
        auth="on",
        proposal_support_percent=0.001,
        proposal_support_minimum=2,
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def people(server: LiveServer, http: httpx.Client) -> Iterator[People]:
    engine: Engine = db.make_engine(server.settings)
    try:
        yield People(http, engine, lambda: datetime.now(UTC))  # type: ignore[arg-type]
    finally:
        engine.dispose()


@pytest.fixture
def contexts(browser: Any) -> Iterator[Any]:
    """Yield a factory of browser contexts (closed at the end), each collecting script errors."""
    made: list[tuple[Any, list[str]]] = []

    def make(width: int = 1280, height: int = 800) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="ko-KR")
        errors: list[str] = []
        context.on("weberror", lambda error: errors.append(str(error.error)))
        made.append((context, errors))
        return context

    yield make
    for context, errors in made:
        context.close()
        assert not errors, f"script errors in the page: {errors}"


def log_in(context: Any, server: LiveServer, person: Person | None) -> Any:
    """Log ``person`` in (cookie session, like the page's form) and return a new page."""
    if person is not None:
        r = context.request.post(
            server.url + "/auth/login",
            form={"username": person.principal.name, "password": PASSWORD},
            headers={"Origin": server.url},
        )
        assert r.ok, r.text()
    return context.new_page()


def open_page(page: Any, server: LiveServer, hash_: str) -> None:
    """Open the citizen app at ``hash_`` (a fresh load) and wait until it has drawn itself."""
    if page.url.startswith(server.url):
        page.goto("about:blank")  # else a new hash only would be a same-document navigation
    page.goto(f"{server.url}/citizen{hash_}")
    page.wait_for_selector("body[data-ready='yes']")


def check_page(page: Any, name: str, *, width: int = 360) -> None:
    """axe-core in both themes: no serious or critical violation; at ``width`` px no
    horizontal scroll; a screenshot in test-artifacts/."""
    assert run_axe(page) == []
    page.locator("#theme-switch").click()
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    assert run_axe(page) == [], "dark theme"
    page.locator("#theme-switch").click()
    page.wait_for_function("() => document.documentElement.dataset.theme === 'light'")
    size = page.viewport_size
    page.set_viewport_size({"width": width, "height": 740})
    page.wait_for_timeout(200)
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{name}: horizontal scroll, the page is {scroll} px wide"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(Path(ARTIFACTS) / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)
