"""The hub's hottest PostgreSQL statements, run as prepared statements straight on libpq.

psycopg's cursor layer (a cursor, a transformer, the prepared-statement manager and a
generator per statement) costs about 180,000 instructions a statement in this process;
executing a statement prepared on the connection's ``PGconn`` (psycopg's own libpq binding,
which releases the GIL while it waits), with parameters already as bytes, about 60,000
(callgrind, docs/benchmarks.md, session 6). Reading one entity, locking it and writing it
back are a handful of fixed statements run thousands of times a second, so they take this
path; every other statement keeps psycopg's.

A statement is prepared on a connection the first time that connection runs it (prepared
statements outlive transactions and rollbacks, and die with their connection). Each pooled
connection is used by one thread at a time, so its set of prepared names needs no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from psycopg import errors, pq

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_prepared: WeakKeyDictionary[psycopg.Connection[Any], set[bytes]] = WeakKeyDictionary()
_lock = threading.Lock()  # guards adding a connection to _prepared, not its set


@dataclass(frozen=True)
class Statement:
    """A statement with ``$n`` placeholders and the name it is prepared under."""

    name: bytes
    sql: bytes


def _checked(conn: psycopg.Connection[Any], result: pq.abc.PGresult) -> pq.abc.PGresult:
    if result.status not in _OK:
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    return result


def run(
    conn: psycopg.Connection[Any], statement: Statement, params: Sequence[bytes]
) -> pq.abc.PGresult:
    """Execute ``statement`` (text parameters and results) on ``conn``; raise as psycopg."""
    names = _prepared.get(conn)
    if names is None:
        with _lock:
            names = _prepared.setdefault(conn, set())
    pgconn = conn.pgconn
    if statement.name not in names:
        _checked(conn, pgconn.prepare(statement.name, statement.sql))
        names.add(statement.name)
    return _checked(conn, pgconn.exec_prepared(statement.name, params))


def command(conn: psycopg.Connection[Any], sql: bytes) -> None:
    """Run a parameterless command (BEGIN, COMMIT, ROLLBACK) on ``conn``; raise as psycopg."""
    _checked(conn, conn.pgconn.exec_(sql))
