"""Browser-test fixtures: CityOS served by a real uvicorn, driven by Debian's Chromium.

The browser is ``/usr/bin/chromium`` (scripts/services.sh installs it), launched headless
through Playwright for Python; ``playwright install`` is never used. Each launch gets a fresh
temporary user-data-dir from Playwright, and each test a new browser context (no cookies or
storage carried over). Screenshots go to ``test-artifacts/`` (gitignored; CI keeps them).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from cityos import db
from cityos.app import create_app
from cityos.config import Settings
from cityos.identity import service
from cityos.identity.models import Role
from tests.conftest import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
HUB_AUTH = "on"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """CityOS under a real uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-web", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def create_user(self, *roles: Role, department: str | None = None) -> str:
        """Create a user with ``roles`` (password :data:`PASSWORD`); return the username."""
        username = f"web-{uuid.uuid4().hex[:8]}"
        engine = db.make_engine(self.settings)
        try:
            with engine.begin() as connection:
                service.create_user(
                    connection,
                    username=username,
                    password=PASSWORD,
                    roles=set(roles),
                    department=department,
                    actor="test",
                    now=datetime.now(UTC),
                    allow_reserved=True,
                )
        finally:
            engine.dispose()
        return username


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[LiveServer]:
    """Serve CityOS with the built-in Sejong city (authentication on) on each backend."""
    settings = Settings(
        database_url=database_url,
        mode="test",
        seed_city=True,
        log_level="warning",
        auth="on",
    )
    with LiveServer(settings) as live:
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Yield a headless Debian Chromium driven by Playwright (skips locally if missing)."""
    if not CHROMIUM.exists():
        why = f"{CHROMIUM} is missing: run scripts/services.sh (apt-get install chromium)"
        unavailable("browser", why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Yield a page in a fresh context; save a screenshot named after the test at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()
    assert not errors, f"script errors in the page: {errors}"


def run_axe(page: Any) -> list[dict[str, Any]]:
    """Run the vendored axe-core in the page; return the serious and critical violations."""
    # Evaluated over the DevTools protocol: the page's CSP (script-src 'self') stays in force.
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        "async () => await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',"
        " 'wcag21aa', 'best-practice']})"
    )
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def link(context: str) -> dict[str, str]:
    """Return the JSON-LD Link header naming ``context``."""
    return {
        "Link": f'<{context}>; rel="http://www.w3.org/ns/json-ld#context"; '
        'type="application/ld+json"'
    }


def token(server: LiveServer, *roles: Role, department: str | None = None) -> dict[str, str]:
    """Create a user with ``roles`` and return its bearer-token header."""
    username = server.create_user(*roles, department=department)
    r = httpx.post(
        server.url + "/auth/token", data={"username": username, "password": PASSWORD}, timeout=30
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
