"""Shared fixtures: a fresh database per test module on each backend, and an app client.

Every test that uses ``database_url`` (directly or through ``settings``, ``client``, a live
server) runs once per backend, SQLite and PostgreSQL. ``@pytest.mark.backend(name)`` on a
test, or in a module's ``pytestmark``, keeps only that backend's case and *deselects* the
other (``pytest_collection_modifyitems`` below): it is neither run nor skipped, so with
CI=true no test shows as skipped. Use it for

- a test of one backend's own behaviour (``backend("postgresql")``: a PostGIS plan, a
  PostgreSQL lock), and
- a test whose point does not depend on storage, with :data:`STORAGE_INDEPENDENT`
  (``backend("sqlite")``): a browser test of what a page does with the API's answers (the
  API's own tests run on both backends and show those answers are the same), or a check of
  a stream or a file that never reaches the database.

A test that writes or reads stored data to show what the storage does keeps both backends.
docs/testing.md has the rule and the list of what runs once.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, TypeVar

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Engine

from cityos import db
from cityos.app import create_app
from cityos.config import Settings
from cityos.hub import _native

# Property tests check answers, not speed: hypothesis's default 200 ms deadline per example
# fails them on a loaded 2-core CI machine (seen: test_model_fast_path, session 7).
hypothesis_settings.register_profile("cityos", deadline=None)
hypothesis_settings.load_profile("cityos")

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get(
    "CITYOS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
# Runs a test on SQLite only because what it checks is the same whatever stores the data
# (module docstring, docs/testing.md); the PostgreSQL case is deselected, not skipped.
STORAGE_INDEPENDENT = pytest.mark.backend("sqlite")


def postgres_available() -> str | None:
    """Return why PostgreSQL + PostGIS cannot be used, or None when it can."""
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
            if row is None:
                return "PostGIS is not installed (apt-get install postgresql-15-postgis-3)"
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}"
    return None


T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a new event loop in a thread of its own.

    ``asyncio.run`` in the test's own thread fails once the browser tests have started:
    the sync Playwright fixture keeps an event loop running in the main thread for the whole
    session, so a test that runs after them (in any order) must not rely on there being none.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="test-loop") as pool:
        return pool.submit(asyncio.run, coro).result()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Return True as soon as ``condition()`` holds, polling every ``step`` seconds; after
    ``timeout`` seconds return what it says then (for work other threads finish)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def native_extension(name: str) -> ModuleType | None:
    """Return the hub's C extension ``cityos.hub.<name>``, imported directly (its tests run
    it beside the Python path whatever ``CITYOS_NATIVE`` says), or None when not built."""
    assert name in _native.NAMES, f"{name} is not among cityos.hub._native.NAMES"
    try:
        return importlib.import_module(f"cityos.hub.{name}")
    except ImportError:
        return None


def require_native(name: str, module: ModuleType | None) -> ModuleType:
    """Return ``module``; when the extension was not built, fail with ``CI=true`` (never a
    silent skip there), skip elsewhere (a machine without a C compiler)."""
    if module is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cityos.hub.{name} is not built (scripts/setup.sh builds it)")
        pytest.skip(f"cityos.hub.{name} is not built here (no C compiler at install)")
    return module


def assert_no_leaks(run: Callable[[int], None], watched: list[Any]) -> None:
    """Call ``run(n)`` (n rounds of a C function's calls on every path): after a warm-up,
    20,000 rounds must change no reference count among ``watched`` and hold less than
    64,000 bytes of traced memory."""
    run(100)
    gc.collect()
    counts = [sys.getrefcount(o) for o in watched]
    tracemalloc.start()
    run(20_000)
    gc.collect()
    grown, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [sys.getrefcount(o) for o in watched] == counts
    assert grown < 64_000, f"{grown} bytes still held after 20,000 rounds"


def unavailable(service: str, why: str) -> NoReturn:
    """Skip (locally) or fail (CI=true) a test whose real ``service`` is missing."""
    if IN_CI:
        pytest.fail(f"CI=true forbids skipping the {service} tests: {why}")
    pytest.skip(why)


def require_postgres() -> None:
    """Skip (locally) or fail (CI=true) when PostgreSQL + PostGIS is missing."""
    why = postgres_available()
    if why is not None:
        unavailable("PostgreSQL", why)


def create_pg_database() -> str:
    """Create an empty database with a unique name and return its URL."""
    name = f"cityos_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield the URL of a fresh, empty database on each backend (one per test module)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "cityos.db"
        yield f"sqlite:///{path}"
        return
    require_postgres()
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def hub_auth(request: pytest.FixtureRequest) -> str:
    """Return the module's ``HUB_AUTH`` ("on" or "off"; "off" when the module sets none)."""
    return str(getattr(request.module, "HUB_AUTH", "off"))


@pytest.fixture(scope="module", autouse=True)
def _hub_auth_environment(request: pytest.FixtureRequest) -> Iterator[None]:
    """Set CITYOS_AUTH for the module, so settings a test builds itself follow HUB_AUTH too.

    Tests of NGSI-LD semantics (hub, interop) talk to the hub without credentials; access
    control has its own modules (``HUB_AUTH = "on"``). The product default stays "on".
    """
    patch = pytest.MonkeyPatch()
    patch.setenv("CITYOS_AUTH", hub_auth(request))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    """Return test settings on the module's database, without the built-in city.

    Authentication is off unless the test module sets ``HUB_AUTH = "on"``: most API modules
    test NGSI-LD semantics; tests/hub/test_auth*.py and tests/identity/ test access control.
    """
    return Settings(
        database_url=database_url,
        mode="test",
        seed_city=False,
        log_level="warning",
        auth=hub_auth(request),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    """Yield an engine on the module's database, migrated to the newest revision."""
    db.upgrade(settings)
    made = db.make_engine(settings)
    yield made
    made.dispose()


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    """Yield an HTTP client on a running CityOS app (lifespan included)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


HUB_ROLES = (
    "anonymous",
    "citizen",
    "resident",
    "developer",
    "operator",
    "admin",
    "developer key",
    "device key",
)
CALLER_PASSWORD = "correct horse battery"


def make_callers(
    client: TestClient,
    settings: Settings,
    *,
    tenant: str,
    developer_scopes: str | None = None,
    device_scopes: str | None = None,
) -> dict[str, dict[str, str]]:
    """Create one caller per role of HUB_ROLES; return the request headers of each.

    Users log in through ``POST /auth/token``; the operator is of 교통과. The developer key
    reads ``tenant``; the device key writes ``Vehicle`` there (unless scopes are given).
    """
    from datetime import UTC, datetime

    from cityos import db
    from cityos.identity import keys, service
    from cityos.identity.models import Role

    roles = {
        "citizen": ({Role.CITIZEN}, None),
        "resident": ({Role.CITIZEN, Role.RESIDENT}, None),
        "developer": ({Role.DEVELOPER}, None),
        "operator": ({Role.OPERATOR}, "교통과"),
        "admin": ({Role.ADMIN}, None),
    }
    suffix = uuid.uuid4().hex[:6]
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    engine = db.make_engine(settings)
    try:
        with engine.begin() as connection:
            now = datetime.now(UTC)
            for name, (held, department) in roles.items():
                service.create_user(
                    connection,
                    username=f"{name}-{suffix}",
                    password=CALLER_PASSWORD,
                    roles=held,
                    department=department,
                    actor="test",
                    now=now,
                    allow_reserved=True,
                )
            for name, role, text in (
                ("developer key", Role.DEVELOPER, developer_scopes or f"tenants={tenant}"),
                (
                    "device key",
                    Role.DEVICE,
                    device_scopes or f"tenants={tenant};types=Vehicle;actions=write",
                ),
            ):
                _, key = keys.create_api_key(
                    connection,
                    name=name,
                    role=role,
                    scopes=keys.parse_scopes(text),
                    actor="test",
                    now=now,
                )
                headers[name] = {"X-API-Key": key}
    finally:
        engine.dispose()
    for name in roles:
        headers[name] = login_headers(client, f"{name}-{suffix}")
    return headers


def login_headers(client: TestClient, username: str) -> dict[str, str]:
    """Log in through the API and return the Authorization header."""
    r = client.post("/auth/token", data={"username": username, "password": CALLER_PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the other backend's case of a ``@pytest.mark.backend(name)`` test.

    A test of one backend's own behaviour, or one whose point does not depend on storage
    (:data:`STORAGE_INDEPENDENT`), is then neither run nor skipped on the other, so with
    CI=true no backend test ever shows as skipped. A name that is no backend is an error
    (it would deselect both cases).
    """
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is not None and (len(marker.args) != 1 or marker.args[0] not in BACKENDS):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.backend takes one of {BACKENDS}, not {marker.args}"
            )
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("database_url") if callspec is not None else None
        (drop if marker and param is not None and param != marker.args[0] else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
