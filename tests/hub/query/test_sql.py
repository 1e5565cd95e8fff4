"""The SQL compilers select exactly what the Python evaluator accepts (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityos.hub.query import (
    QExpr,
    SqlPlan,
    compile_postgres,
    compile_predicate,
    compile_sqlite,
    matches,
    parse_q,
    plan_postgres,
    plan_sqlite,
    register_sqlite_functions,
)
from tests.hub.query.entities import expand, random_entity, random_q
from tests.hub.query.test_evaluate import CASES, TOWER

Rows = Callable[[str, list[Any]], list[tuple[str, Any]]]
ENTITIES = [random_entity(random.Random(7), i) for i in range(400)] + [TOWER]
SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def sqlite_rows() -> Iterator[Rows]:
    conn = sqlite3.connect(":memory:")
    register_sqlite_functions(conn)
    conn.execute("CREATE TABLE entity (id TEXT PRIMARY KEY, attrs TEXT NOT NULL)")
    conn.executemany(
        "INSERT INTO entity VALUES (?, ?)", [(e["id"], json.dumps(e["attrs"])) for e in ENTITIES]
    )
    yield lambda where, params: conn.execute(
        f"SELECT id, attrs FROM entity AS e WHERE {where}", params
    ).fetchall()
    conn.close()


@pytest.fixture(scope="module")
def postgres_rows(pg_conn: psycopg.Connection) -> Rows:
    pg_conn.execute("CREATE TABLE entity (id TEXT PRIMARY KEY, attrs JSONB NOT NULL)")
    with pg_conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO entity VALUES (%s, %s)",
            [(e["id"], json.dumps(e["attrs"])) for e in ENTITIES],
        )
    return lambda where, params: pg_conn.execute(
        f"SELECT id, attrs FROM entity AS e WHERE {where}", params
    ).fetchall()


def _expected(expr: QExpr) -> set[str]:
    return {e["id"] for e in ENTITIES if matches(expr, e)}


def _selected(rows: Rows, plan: SqlPlan) -> set[str]:
    found = rows(plan.sql, plan.params)
    if plan.residual is None:
        return {row[0] for row in found}
    keep = compile_predicate(plan.residual)
    attrs = [(row[0], row[1] if isinstance(row[1], dict) else json.loads(row[1])) for row in found]
    return {ident for ident, a in attrs if keep({"attrs": a})}


def _exact(rows: Rows, compiled: tuple[str, list[Any]] | None, expr: QExpr) -> None:
    if compiled is not None:
        where, params = compiled
        assert {row[0] for row in rows(where, params)} == _expected(expr)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_sqlite_agrees_on_the_semantics_cases(sqlite_rows: Rows, text: str, expected: bool) -> None:
    expr = parse_q(text).expanded(expand)
    assert (TOWER["id"] in _selected(sqlite_rows, plan_sqlite(expr))) is expected
    _exact(sqlite_rows, compile_sqlite(expr), expr)


@pytest.mark.postgres
@pytest.mark.parametrize(("text", "expected"), CASES)
def test_postgres_agrees_on_the_semantics_cases(
    postgres_rows: Rows, text: str, expected: bool
) -> None:
    expr = parse_q(text).expanded(expand)
    assert (TOWER["id"] in _selected(postgres_rows, plan_postgres(expr))) is expected
    _exact(postgres_rows, compile_postgres(expr), expr)


@SETTINGS
@given(st.randoms(use_true_random=False))
def test_sqlite_equals_python_on_random_queries(sqlite_rows: Rows, rng: random.Random) -> None:
    expr = parse_q(random_q(rng)).expanded(expand)
    assert _selected(sqlite_rows, plan_sqlite(expr)) == _expected(expr)
    _exact(sqlite_rows, compile_sqlite(expr), expr)


@pytest.mark.postgres
@SETTINGS
@given(st.randoms(use_true_random=False))
def test_postgres_equals_python_on_random_queries(postgres_rows: Rows, rng: random.Random) -> None:
    expr = parse_q(random_q(rng)).expanded(expand)
    assert _selected(postgres_rows, plan_postgres(expr)) == _expected(expr)
    _exact(postgres_rows, compile_postgres(expr), expr)


PUSHED = ['a==1;b!="x"|c', "a[k.l]>=2.5", "a.b.observedAt", '!a;a==1..2|a=="z","y"', "a==true,x"]


@pytest.mark.parametrize("text", PUSHED)
def test_pushed_down_constructs(text: str) -> None:
    expr = parse_q(text).expanded(expand)
    for plan in (plan_sqlite(expr), plan_postgres(expr)):
        assert plan.residual is None
    assert compile_sqlite(expr) is not None
    assert compile_postgres(expr) is not None


def test_regex_is_pushed_to_sqlite_only() -> None:
    expr = parse_q('a~="^x";b>1').expanded(expand)
    assert plan_sqlite(expr).residual is None
    plan = plan_postgres(expr)
    assert plan.residual == parse_q('a~="^x"').expanded(expand)
    assert plan.params == ["https://ex.org/b", "https://ex.org/b", *plan.params[2:]]


def test_temporal_literals_stay_in_python() -> None:
    expr = parse_q('a>2026-01-01T00:00:00Z;b=="x"|c').expanded(expand)
    assert compile_sqlite(expr) is None
    assert compile_postgres(expr) is None
    assert plan_sqlite(expr).residual == expr
    assert plan_sqlite(expr).sql == "(1=1)"


def test_unquotable_sqlite_keys_stay_in_python() -> None:
    expr = parse_q('a[we"ird]==1').expanded(expand)
    assert compile_sqlite(expr) is None
    assert compile_postgres(expr) is not None


def test_placeholders_and_parameters_line_up() -> None:
    expr = parse_q('a[k]=="x";b.c>2').expanded(expand)
    for (where, params), mark in (
        (compile_sqlite(expr), "?"),
        (compile_postgres(expr), "%s"),
    ):
        assert where.count(mark) == len(params)
        assert "\x00" not in where
        assert "https://" not in where


def test_cached_plans_hand_out_their_own_parameter_lists() -> None:
    expr = parse_q('a>1;b=="x"').expanded(expand)
    for plan in (plan_sqlite, plan_postgres):
        first = plan(expr)
        first.params.append("changed by a caller")
        again = plan(parse_q('a>1;b=="x"').expanded(expand))
        assert again.sql == first.sql
        assert again.params == first.params[:-1]
