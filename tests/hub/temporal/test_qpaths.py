"""The SQL that reads DateTime/Date/Time values agrees with the parser ``/entities`` uses.

PostgreSQL computes instants with integer arithmetic (``pg_instant``), SQLite calls the
parser itself (``cityos_instant``); both must give ``parse_temporal``'s ordinal, or NULL
exactly where it gives None, for any string.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cityos.hub.query._temporal import parse_temporal
from cityos.hub.query.sql import register_sqlite_functions
from cityos.hub.temporal._qpaths import pg_instant
from tests.conftest import PG_ADMIN_URL, require_postgres

KINDS = ("datetime", "date", "time")
SHAPED = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: (
        f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}"
    ),
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
    st.sampled_from(["", ".5", ".123456", ".123456789"]),
    st.sampled_from(["", "Z", "+09:00", "-05:30", "+23:59", "+24:00", "-00:99"]),
)
TEXTS = st.one_of(
    SHAPED,
    SHAPED.map(lambda t: t[:10]),  # dates
    SHAPED.map(lambda t: t[11:19]),  # times
    SHAPED.map(lambda t: t[11:16] + "Z"),
    st.text(st.sampled_from(list("0123456789-:TZ.+ ")), max_size=30),
)
EXAMPLES = [
    "2026-03-01T09:00:00+09:00",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "1900-02-29",
    "2000-02-29",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999-23:59",
    "23:59:59.9999999Z",
    "08:30",
]
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def pg() -> Iterator[psycopg.Connection]:
    require_postgres()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        yield conn


def expected(text: str, kind: str) -> int | None:
    seen = parse_temporal(text)
    return seen.ordinal if seen is not None and seen.kind == kind else None


@pytest.mark.backend("postgresql")
@SETTINGS
@given(text=TEXTS, kind=st.sampled_from(KINDS))
def test_postgres_instants_match_the_parser(pg: psycopg.Connection, text: str, kind: str) -> None:
    row = pg.execute(f"SELECT {pg_instant('CAST(%s AS text)', kind)}", [text]).fetchone()
    assert row is not None
    assert row[0] == expected(text, kind), (text, kind)


@pytest.mark.backend("postgresql")
@pytest.mark.parametrize("text", EXAMPLES)
def test_postgres_instants_of_edge_cases(pg: psycopg.Connection, text: str) -> None:
    for kind in KINDS:
        row = pg.execute(f"SELECT {pg_instant('CAST(%s AS text)', kind)}", [text]).fetchone()
        assert row is not None
        assert row[0] == expected(text, kind), (text, kind)


@pytest.mark.backend("sqlite")
@SETTINGS
@example(text="2026-03-01T09:00:00+09:00", kind="datetime")
@given(text=TEXTS, kind=st.sampled_from(KINDS))
def test_sqlite_instants_match_the_parser(text: str, kind: str) -> None:
    conn = sqlite3.connect(":memory:")
    register_sqlite_functions(conn)
    row = conn.execute("SELECT cityos_instant(?, ?)", [text, kind]).fetchone()
    assert row[0] == expected(text, kind)
    assert conn.execute("SELECT cityos_instant(3, 'date')").fetchone()[0] is None
