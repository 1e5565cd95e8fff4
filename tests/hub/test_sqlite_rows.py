"""Multi-row INSERTs (store/_sqlite_rows.py) write what one-row INSERTs would, in order."""

from __future__ import annotations

import sqlite3

import pytest

from cityos.hub.store._sqlite_rows import ROWS, insert_rows


def _table(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    return conn.execute("SELECT rowid, * FROM t ORDER BY rowid").fetchall()


@pytest.mark.parametrize("count", [0, 1, 4, 5, 99, ROWS - 1, ROWS, ROWS + 1, 2 * ROWS + 123])
def test_rows_keys_and_order_are_those_of_one_row_inserts(count: int) -> None:
    rows = [
        (f"urn:ngsi-ld:Sensor:{i}", i * 0.5, None if i % 3 else b"\x00{}") for i in range(count)
    ]
    one, many = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    for conn in (one, many):
        conn.execute("CREATE TABLE t (id TEXT, x REAL, blob)")
    one.executemany("INSERT INTO t (id, x, blob) VALUES (?, ?, ?)", rows)
    insert_rows(many, "INSERT INTO t (id, x, blob)", rows)
    assert _table(many) == _table(one)
    assert len(_table(many)) == count


def test_a_tail_applies_to_every_row_and_later_rows_win() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER)")
    rows = [(f"e{i % (ROWS + 5)}", i) for i in range(2 * ROWS + 10)]
    tail = " ON CONFLICT (id) DO UPDATE SET n = excluded.n"
    insert_rows(conn, "INSERT INTO t (id, n)", rows, tail=tail)
    expected = {key: n for key, n in rows}  # the last row of each id
    assert dict(conn.execute("SELECT id, n FROM t").fetchall()) == expected


def test_a_failing_row_raises_as_executemany_does() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY)")
    rows = [(f"e{i}",) for i in range(ROWS + 3)] + [("e7",)]
    with pytest.raises(sqlite3.IntegrityError):
        insert_rows(conn, "INSERT INTO t (id)", rows)


class _Counting:
    """A connection that counts the statements it runs (each row set of executemany)."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE TABLE t (id TEXT)")
        self.runs = 0

    def executemany(self, sql: str, params: list[object]) -> None:
        self.runs += len(params)
        self.conn.executemany(sql, params)  # type: ignore[arg-type]


@pytest.mark.parametrize(("count", "runs"), [(1000, 2), (999, 1 + 4 + 4 + 3 + 4), (7, 1 + 2)])
def test_few_statements_a_batch(count: int, runs: int) -> None:
    """Largest statements first: a batch of 1,000 rows is two statements, not 1,000 or 20."""
    from cityos.hub.store._sqlite_rows import SIZES

    counting = _Counting()
    insert_rows(counting, "INSERT INTO t (id)", [(str(i),) for i in range(count)])
    assert counting.runs == runs
    assert SIZES[-1] == 1
    assert counting.conn.execute("SELECT count(*) FROM t").fetchone()[0] == count
