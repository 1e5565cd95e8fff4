"""Shared fixtures: a fresh database per test module on each backend, and an app client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings

BACKENDS = ("sqlite", "postgresql")
PG_ADMIN_URL = os.environ.get(
    "CITYOS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


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


def require_postgres() -> None:
    """Skip (locally) or fail (CI=true) when PostgreSQL + PostGIS is missing."""
    why = postgres_available()
    if why is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true forbids skipping PostgreSQL tests: {why}")
    pytest.skip(why)


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


@pytest.fixture(scope="module")
def settings(database_url: str) -> Settings:
    """Return test settings on the module's database, without the built-in city."""
    return Settings(database_url=database_url, mode="test", seed_city=False, log_level="warning")


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    """Yield an HTTP client on a running CityOS app (lifespan included)."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client
