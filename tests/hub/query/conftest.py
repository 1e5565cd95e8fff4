"""A throw-away PostgreSQL 15 database for the SQL equivalence tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import unavailable

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


@pytest.fixture(scope="module")
def pg_conn() -> Iterator[psycopg.Connection]:
    """Yield a connection to a fresh database, dropped afterwards; skip if none (not in CI)."""
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", f"PostgreSQL is unreachable: {exc}")
    name = "cityos_qtest_" + uuid.uuid4().hex[:12]
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = psycopg.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={name}"))
        conn.autocommit = True
        # the nested jsonb function scans inflate cost estimates past jit_above_cost; JIT
        # compiling each unique query then costs ~1 s (see docs/hub/query-language.md)
        conn.execute("SET jit = off")
        try:
            yield conn
        finally:
            conn.close()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
