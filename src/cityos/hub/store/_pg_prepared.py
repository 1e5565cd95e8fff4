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
connection is used by one thread at a time, so its set of prepared names and its queue of
deferred statements need no lock.

A statement whose result nobody reads (BEGIN, a PATCH's UPDATE, its history INSERT when no
partition needs checking) can be *deferred* (:func:`defer`): it is sent, in libpq's
pipeline mode, together with the next statement that :func:`run` or :func:`command`
executes on the connection, in one round trip. A PATCH so costs two round trips (BEGIN and
the entity read ``FOR UPDATE``; the UPDATE, the history and COMMIT) instead of five; each
one cost the server about 15-60 µs of CPU (waking up, reading, answering) and the hub a
GIL hand-off (docs/benchmarks.md, session 8, "PostgreSQL PATCH: round trips"). A deferred
statement's error is raised by the call that sends it; everything after it up to that call
is skipped by the server (an aborted pipeline), so the transaction fails as it would have
at the deferred statement. Before any other use of the connection (psycopg's own
``execute``), :func:`flush` sends what is queued; :func:`discard` drops it (a rollback).
"""

from __future__ import annotations

import select
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from psycopg import errors, pq

from cityos.hub.store._greenlet import in_loop_greenlet

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
# Statements queued on a connection: (prepared name, parameters), or (None, a command).
_Queued = tuple[bytes | None, Sequence[bytes] | bytes]


class _State:
    """What this module keeps per connection: one look-up per call."""

    __slots__ = ("names", "queued")

    def __init__(self) -> None:
        self.names: set[bytes] = set()  # statements prepared on it
        self.queued: list[_Queued] = []  # statements deferred on it


_states: WeakKeyDictionary[psycopg.Connection[Any], _State] = WeakKeyDictionary()
_lock = threading.Lock()  # guards adding a connection to _states, not its state


@dataclass(frozen=True)
class Statement:
    """A statement with ``$n`` placeholders and the name it is prepared under."""

    name: bytes
    sql: bytes


def _checked(conn: psycopg.Connection[Any], result: pq.abc.PGresult) -> pq.abc.PGresult:
    if result.status not in _OK:
        raise errors.error_from_result(result, encoding=conn.info.encoding)
    return result


def _state(conn: psycopg.Connection[Any]) -> _State:
    state = _states.get(conn)
    if state is None:
        with _lock:
            state = _states.setdefault(conn, _State())
    return state


def _loop_waits(conn: psycopg.Connection[Any]) -> bool:
    """Return whether waits on ``conn`` are awaited on the event loop (a loop connection
    used from a loop greenlet, ``_pg_loop``): libpq's blocking calls must not be used."""
    return hasattr(conn, "loop_wait") and in_loop_greenlet()


def _prepared(conn: psycopg.Connection[Any], statement: Statement) -> _State:
    state = _state(conn)
    if statement.name not in state.names:
        if _loop_waits(conn):
            conn.pgconn.send_prepare(statement.name, statement.sql)
            _results(conn)
        else:
            _checked(conn, conn.pgconn.prepare(statement.name, statement.sql))
        state.names.add(statement.name)
    return state


def prepare_all(conn: psycopg.Connection[Any], statements: Sequence[Statement]) -> None:
    """Prepare ``statements`` on ``conn`` now (a loop connection as it opens, in a thread)."""
    for statement in statements:
        _prepared(conn, statement)


def run(
    conn: psycopg.Connection[Any], statement: Statement, params: Sequence[bytes]
) -> pq.abc.PGresult:
    """Execute ``statement`` (text parameters and results) on ``conn``, after the statements
    deferred on it (in the same round trip); raise as psycopg."""
    queued = _prepared(conn, statement).queued
    if queued:
        queued.append((statement.name, params))
        return _pipeline(conn, queued)
    if _loop_waits(conn):
        conn.pgconn.send_query_prepared(statement.name, params)
        return _results(conn)
    return _checked(conn, conn.pgconn.exec_prepared(statement.name, params))


def command(conn: psycopg.Connection[Any], sql: bytes) -> None:
    """Run a parameterless command (BEGIN, COMMIT, ROLLBACK) on ``conn``, after the
    statements deferred on it; raise as psycopg."""
    queued = _state(conn).queued
    if queued:
        queued.append((None, sql))
        _pipeline(conn, queued)
        return
    if _loop_waits(conn):
        conn.pgconn.send_query(sql)
        _results(conn)
        return
    _checked(conn, conn.pgconn.exec_(sql))


def _results(conn: psycopg.Connection[Any]) -> pq.abc.PGresult:
    """Send what libpq holds of the statement just queued on ``conn`` and read its results
    (without libpq's blocking calls); return the last, or raise the first error."""
    pgconn = conn.pgconn
    while pgconn.flush():
        _wait(conn, select.POLLOUT)
    results = []
    result = _next_result(conn)
    while result is not None:
        results.append(result)
        result = _next_result(conn)
    for found in results:
        _checked(conn, found)
    if not results:
        raise psycopg.OperationalError(
            "the server sent no result / 서버가 결과를 보내지 않았습니다"
        )
    return results[-1]


def defer(conn: psycopg.Connection[Any], statement: Statement, params: Sequence[bytes]) -> None:
    """Queue ``statement`` on ``conn``: it runs with the next :func:`run`, :func:`command` or
    :func:`flush` there, and its error (if any) is raised by that call."""
    _prepared(conn, statement).queued.append((statement.name, params))


def defer_command(conn: psycopg.Connection[Any], sql: bytes) -> None:
    """Queue a parameterless command (BEGIN) on ``conn``, as :func:`defer` does."""
    _state(conn).queued.append((None, sql))


def flush(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """Run the statements deferred on ``conn`` now; return ``conn``."""
    queued = _state(conn).queued
    if queued:
        _pipeline(conn, queued)
    return conn


def discard(conn: psycopg.Connection[Any]) -> None:
    """Drop the statements deferred on ``conn`` unsent (its transaction is rolled back)."""
    _state(conn).queued.clear()


def _next_result(conn: psycopg.Connection[Any]) -> pq.abc.PGresult | None:
    """Return libpq's next result, waiting for the socket without the GIL.

    psycopg's ``get_result`` keeps the GIL while libpq blocks (psycopg itself calls it only
    once ``is_busy`` is false): a thread blocked there on a row lock would stop the thread
    holding that lock from ever committing. ``poll`` releases the GIL while it waits.
    """
    pgconn = conn.pgconn
    while pgconn.is_busy():
        _wait(conn, select.POLLIN)
        pgconn.consume_input()
    return pgconn.get_result()


def _wait(conn: psycopg.Connection[Any], event: int) -> None:
    """Wait for ``conn``'s socket: on the event loop from a loop greenlet, else in ``poll``
    (which releases the GIL)."""
    if _loop_waits(conn):
        conn.loop_wait(event)  # type: ignore[attr-defined]
        return
    poller = select.poll()
    poller.register(conn.pgconn.socket, event)
    poller.poll()


def _pipeline(conn: psycopg.Connection[Any], queued: list[_Queued]) -> pq.abc.PGresult:
    """Send ``queued`` (emptied) in one pipeline and one round trip; return the last
    statement's result, or raise the first error (the server skips the rest)."""
    items = list(queued)
    queued.clear()
    pgconn = conn.pgconn
    pgconn.enter_pipeline_mode()
    try:
        for name, arg in items:
            if name is None:
                # a command in the extended protocol (pipeline mode has no simple query)
                pgconn.send_query_params(arg, None)  # type: ignore[arg-type]
            else:
                pgconn.send_query_prepared(name, arg)  # type: ignore[arg-type]
        pgconn.pipeline_sync()
        while pgconn.flush():  # the connection is non-blocking: send what is left
            _wait(conn, select.POLLOUT)
        results: list[pq.abc.PGresult] = []
        for _ in items:
            result = _next_result(conn)
            while result is not None:  # a statement's results end with None
                results.append(result)
                result = _next_result(conn)
        sync = _next_result(conn)
        if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
            raise psycopg.OperationalError(
                "pipeline out of step / 파이프라인의 응답 순서가 맞지 않습니다"
            )
    finally:
        if pgconn.pipeline_status != pq.PipelineStatus.OFF:
            with suppress(psycopg.Error):
                pgconn.exit_pipeline_mode()
    for result in results:
        if result.status == pq.ExecStatus.PIPELINE_ABORTED:
            continue  # skipped after the error raised below
        _checked(conn, result)
    return results[-1]
