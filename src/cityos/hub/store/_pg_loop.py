"""One-entity reads on the event loop: a few libpq connections driven without a thread.

A GET by id through the store's threads pays for a hop each way: the executor's queue and
a futex wake of a worker, the GIL handed to it and back, the worker's answer written to the
event loop's self-pipe (~112,000 instructions of Python, and the system calls and context
switches callgrind does not see). The statement itself is one prepared ``SELECT`` that
the server answers in a few tens of microseconds. Here the event loop sends it on a
connection of its own (libpq in non-blocking mode: psycopg opens every connection so),
waits for the socket with ``add_reader`` like any other socket, and reads the result:
no thread, no lock, no futex.

Connections are opened in the store's threads, never on the loop (a connect blocks for
milliseconds), and only when a read finds none idle; while all are busy, or until the
first is open, a read answers :data:`BUSY` and the caller takes the threaded path. A read
that is cancelled (the client went away) mid-statement closes its connection, whose
result would otherwise arrive in the next read. Each connection is used by one read at a
time; reads may come from more than one event loop (tests start one per client), so the
socket is watched on the loop of the read that uses it, only while it waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Literal

import psycopg
from psycopg import errors, pq

from cityos.hub.store._pg_prepared import Statement
from cityos.hub.store.base import BUSY, Busy


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait(loop: asyncio.AbstractEventLoop, fd: int, *, write: bool = False) -> None:
    """Return once ``fd`` is readable (``write``: writable)."""
    waiter: asyncio.Future[None] = loop.create_future()
    if write:
        loop.add_writer(fd, _wake, waiter)
    else:
        loop.add_reader(fd, _wake, waiter)
    try:
        await waiter
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


class LoopReader:
    """Up to ``size`` connections on which the event loop runs prepared statements."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        statements: Sequence[Statement],
        executor: Callable[[], Executor],
        size: int,
    ) -> None:
        self._connect = connect
        self._statements = statements
        self._executor = executor
        self._size = size
        self._idle: list[psycopg.Connection[Any]] = []
        self._opened = 0  # open or being opened
        self._opening = False  # one connection at a time: a server that is down costs a
        # store thread per attempt, not one per GET
        self._lock = threading.Lock()  # guards _opened, _opening and _closed
        self._closed = False

    def _open(self) -> None:
        """Open one connection and prepare the statements on it (in a store thread)."""
        try:
            conn = self._connect()
            for statement in self._statements:
                result = conn.pgconn.prepare(statement.name, statement.sql)
                if result.status != pq.ExecStatus.COMMAND_OK:
                    conn.close()
                    raise errors.error_from_result(result, encoding=conn.info.encoding)
        except BaseException:
            with self._lock:
                self._opened -= 1
                self._opening = False
            raise
        with self._lock:
            closed = self._closed
            self._opening = False
        if closed:
            conn.close()
        else:
            self._idle.append(conn)

    def _drop(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            self._opened -= 1
        conn.close()

    async def run(
        self, statement: Statement, params: Sequence[bytes]
    ) -> pq.abc.PGresult | Literal[Busy.BUSY]:
        """Return the result of ``statement`` (text parameters and results), or BUSY (no
        idle connection: the caller runs the statement in a thread instead).

        Raises as psycopg does for an error result. A broken connection (the server
        restarted, or ended an idle session) is closed and the read answers BUSY: these are
        reads, so the caller may run the statement again.
        """
        try:
            conn = self._idle.pop()
        except IndexError:
            with self._lock:
                grow = not self._closed and not self._opening and self._opened < self._size
                if grow:
                    self._opened += 1
                    self._opening = True
            if grow:
                self._executor().submit(self._open)
            return BUSY
        pgconn = conn.pgconn
        done = False
        try:
            loop = asyncio.get_running_loop()
            pgconn.send_query_prepared(statement.name, params)
            while pgconn.flush():  # 1: libpq's output buffer is not all sent yet
                await _wait(loop, pgconn.socket, write=True)
            results = []
            while True:  # results until libpq's None (the server's ReadyForQuery)
                pgconn.consume_input()
                while pgconn.is_busy():
                    await _wait(loop, pgconn.socket)
                    pgconn.consume_input()
                found = pgconn.get_result()
                if found is None:
                    break
                results.append(found)
            done = True
        except psycopg.OperationalError:
            return BUSY  # the connection is dropped below
        finally:
            if not done:  # cancelled or broken mid-statement: its connection is spent
                self._drop(conn)
        if self._closed:
            self._drop(conn)
        else:
            self._idle.append(conn)
        for result in results:
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise errors.error_from_result(result, encoding=conn.info.encoding)
        if not results:
            raise psycopg.OperationalError(
                "the server sent no result / 서버가 결과를 보내지 않았습니다"
            )
        return results[0]

    def close(self) -> None:
        """Close the idle connections; busy ones close when their read ends."""
        with self._lock:
            self._closed = True
        while self._idle:
            self._drop(self._idle.pop())
