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
milliseconds), and only when a read finds none idle; until the first is open, or while one
is being opened, a read answers :data:`BUSY` and the caller takes the threaded path. Once
all ``size`` connections are open and busy, a read waits for the next one to come free
(first come, first served) instead: a thread hop costs the hub more than the wait. With 16
wrk connections on 8 loop connections, answering BUSY sent about a quarter of the GETs
through a store thread, each with its futex wakes, GIL hand-overs and a blocking ``poll``
(strace: ~5.6 futex calls per GET), and made the hub's CPU per GET the rate's limit
(docs/benchmarks.md, session 8). A read that is cancelled (the client went away)
mid-statement closes its connection, whose result would otherwise arrive in the next read;
the waiting reads then answer BUSY, as they do when a connection is dropped or the reader
closed. Each connection is used by one read at a time; reads may come from more than one
event loop (tests start one per client), so the socket is watched on the loop of the read
that uses it, only while it waits, and a connection is handed to a read waiting on another
loop through that loop's ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import suppress
from typing import Any, Literal, TypeVar

import psycopg
from psycopg import errors, pq
from psycopg.abc import PQGen
from psycopg.waiting import Ready, Wait

from cityos.hub.store._greenlet import await_, in_loop_greenlet
from cityos.hub.store._pg_prepared import Statement, prepare_all
from cityos.hub.store.base import BUSY, Busy
from cityos.observability import log

RV = TypeVar("RV")

RETRY_FIRST = 0.5  # [s] no new loop connection is tried this long after a failed open,
RETRY_MAX = 30.0  # doubling up to this while opens keep failing


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait_writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Return once ``fd`` is writable (libpq's output buffer was full: rare)."""
    waiter: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)


class _Watch:
    """A connection's socket as one event loop watches it for reading.

    The reader stays on the loop between reads: uvloop's ``add_reader`` makes a libuv poll
    handle (an ``ioctl`` and an ``epoll_ctl`` pair to test the descriptor, then the
    ``epoll_ctl`` that adds it) and ``remove_reader`` closes it: about six system calls a GET
    (strace), gone while the same loop reads on the connection again. The callback reads
    what came (``consume_input``) before it wakes the read: the socket is level-triggered,
    and left unread until the read's task runs it would wake the loop once more.
    """

    __slots__ = ("busy", "fd", "loop", "pgconn", "waiter")

    def __init__(self, pgconn: pq.abc.PGconn) -> None:
        self.pgconn = pgconn
        self.fd = pgconn.socket
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop watching fd
        self.waiter: asyncio.Future[None] | None = None  # the read waiting for input
        self.busy = False  # a read is running on the connection

    def readable(self, loop: asyncio.AbstractEventLoop) -> None:
        """The reader's callback on ``loop``."""
        if self.loop is not loop:  # left over from a loop no read uses now
            loop.remove_reader(self.fd)
            return
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if waiter.done():  # cancelled: the read closes the connection
                return
            try:
                self.pgconn.consume_input()
            except psycopg.OperationalError as exc:
                waiter.set_exception(exc)
            else:
                waiter.set_result(None)
        elif not self.busy:  # idle and readable (a notice, the server's end): the next
            loop.remove_reader(self.fd)  # read sees what it was
            self.loop = None

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        """Return once the socket was readable and libpq has read what came, watched by
        ``loop`` (the running loop); raise as ``consume_input`` does."""
        self.watch_on(loop)
        waiter: asyncio.Future[None] = loop.create_future()
        self.waiter = waiter
        try:
            await waiter
        finally:
            self.waiter = None

    def watch_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have ``loop`` (the running loop) watch the socket, if another one did."""
        if self.loop is not loop:
            self.forget()
            loop.add_reader(self.fd, self.readable, loop)
            self.loop = loop

    def forget(self) -> None:
        """Stop watching the socket (before its connection closes, or on another loop)."""
        old, self.loop = self.loop, None
        if old is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if old is running:
            old.remove_reader(self.fd)
        else:
            with suppress(RuntimeError):  # that loop is closed, and its watching with it
                old.call_soon_threadsafe(self._unwatch, old)

    def _unwatch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop ``loop`` (the running loop) watching the socket, unless a read on it has
        watched it again since (it would then wait for a callback that never comes)."""
        if self.loop is not loop:
            loop.remove_reader(self.fd)


def _wake_writable(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(Ready.W)  # told apart from the watch's None (readable)


class LoopConnection(psycopg.Connection[Any]):
    """A loop reader's connection: in a loop greenlet (``_greenlet``) every wait on its
    socket is awaited on the event loop, so the synchronous store code of a write
    (psycopg's ``execute``, ``_pg_prepared``'s statements) may run there; elsewhere it
    waits as any psycopg connection."""

    watch: _Watch  # set by the reader that opened it

    def loop_wait(self, event: int) -> None:
        """Wait (in a loop greenlet) until the socket is readable (``select.POLLIN``; libpq
        has then read what came) or writable (``select.POLLOUT``)."""
        await_(self._socket_ready(event))

    async def _socket_ready(self, event: int) -> None:
        loop = asyncio.get_running_loop()
        if event & select.POLLOUT:
            await _wait_writable(loop, self.pgconn.socket)
        else:
            await self.watch.wait(loop)

    def wait(self, gen: PQGen[RV], interval: float = 0.1, timeout: float | None = None) -> RV:
        if timeout is not None or not in_loop_greenlet():  # (a timed wait: LISTEN's, never
            return super().wait(gen, interval, timeout)  # on a write's path)
        return await_(self._drive(gen))

    async def _drive(self, gen: PQGen[RV]) -> RV:
        """Run psycopg's generator ``gen`` to its end, awaiting the socket as it asks."""
        loop = asyncio.get_running_loop()
        fd = self.pgconn.socket
        try:
            state = next(gen)
            while True:
                if state == Wait.R:
                    await self.watch.wait(loop)
                    state = gen.send(Ready.R)
                    continue
                # writing (Wait.W or Wait.RW): nearly always writable at once
                poller = select.poll()
                poller.register(fd, select.POLLOUT | (select.POLLIN if state & Wait.R else 0))
                events = 0
                for _, found in poller.poll(0):
                    events |= found
                if events & (select.POLLOUT | select.POLLERR | select.POLLHUP):
                    state = gen.send(Ready.W if not events & select.POLLIN else Ready.RW)
                    continue
                if events & select.POLLIN:
                    state = gen.send(Ready.R)
                    continue
                if state & Wait.R:  # either: the watch's read, or the socket writable
                    waiter: asyncio.Future[Any] = loop.create_future()
                    self.watch.watch_on(loop)
                    self.watch.waiter = waiter
                    loop.add_writer(fd, _wake_writable, waiter)
                    try:
                        woke = await waiter
                    finally:
                        loop.remove_writer(fd)
                        self.watch.waiter = None
                    state = gen.send(Ready.W if woke == Ready.W else Ready.R)
                else:
                    await _wait_writable(loop, fd)
                    state = gen.send(Ready.W)
        except StopIteration as done:
            return done.value


class LoopReader:
    """Up to ``size`` connections on which the event loop runs prepared statements, and on
    which a loop greenlet's write transaction runs (:meth:`acquire`)."""

    def __init__(
        self,
        connect: Callable[[], LoopConnection],
        statements: Sequence[Statement],
        executor: Callable[[], Executor],
        size: int,
    ) -> None:
        self._connect = connect  # a LoopConnection
        self._statements = statements
        self._executor = executor
        self._size = size
        self._idle: list[LoopConnection] = []
        # reads waiting for a connection while all are busy; None: take the threaded path
        self._waiters: deque[asyncio.Future[LoopConnection | None]] = deque()
        self._opened = 0  # open or being opened
        self._opening = False  # one connection at a time: a server that is down costs a
        # store thread per attempt, not one per GET
        # After a failed open, none is tried before ``_retry_at`` (time.monotonic()): the
        # wait doubles from RETRY_FIRST to RETRY_MAX while opens keep failing (a server
        # that is down or restarting, a database without the hub's tables), so requests
        # take the threaded path instead of each trying a connect first.
        self._retry_at = 0.0
        self._retry_wait = 0.0
        # guards _opened, _opening, _retry_*, _closed, the choice between _idle and _waiters
        self._lock = threading.Lock()
        self._closed = False

    def _open(self) -> None:
        """Open one connection and prepare the statements on it (in a store thread)."""
        try:
            conn = self._connect()
            try:
                prepare_all(conn, self._statements)
            except BaseException:
                conn.close()
                raise
        except BaseException as error:
            with self._lock:
                self._opened -= 1
                self._opening = False
                self._retry_wait = min(RETRY_MAX, max(RETRY_FIRST, 2 * self._retry_wait))
                self._retry_at = time.monotonic() + self._retry_wait
                wait = self._retry_wait
            log.warning(
                "hub_loop_connection_failed",
                error=str(error)[:300],
                retry_in_s=wait,
                message="a loop connection to PostgreSQL did not open; requests use the "
                "store threads meanwhile / PostgreSQL 루프 연결을 열지 못했습니다. 그동안 요청은 "
                "저장소 스레드를 씁니다",
            )
            self._wake_all()
            if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit
                raise
            return
        conn.watch = _Watch(conn.pgconn)
        with self._lock:
            self._opening = False
            self._retry_wait = 0.0
        self._release(conn)

    def _release(self, conn: LoopConnection) -> None:
        """Hand ``conn`` to the first read waiting for one, else keep it idle (any thread)."""
        with self._lock:
            if self._closed:
                self._opened -= 1
                waiter = None
            else:
                waiter = self._next_waiter()
                if waiter is None:
                    self._idle.append(conn)
                    return
        if waiter is None:  # closed
            self._close(conn)
            return
        self._hand(waiter, conn)

    def _next_waiter(self) -> asyncio.Future[LoopConnection | None] | None:
        """Return the first waiting read not yet cancelled (with the lock held)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _hand(
        self,
        waiter: asyncio.Future[LoopConnection | None],
        conn: LoopConnection | None,
    ) -> None:
        """Settle ``waiter`` with ``conn`` on its own loop."""
        loop = waiter.get_loop()
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is here:
            self._settle(waiter, conn)
        else:
            try:
                loop.call_soon_threadsafe(self._settle, waiter, conn)
            except RuntimeError:  # its loop is closed: the read is gone
                if conn is not None:
                    self._release(conn)

    def _settle(
        self,
        waiter: asyncio.Future[LoopConnection | None],
        conn: LoopConnection | None,
    ) -> None:
        if not waiter.done():
            waiter.set_result(conn)
        elif conn is not None:  # cancelled meanwhile: the next waiter, or idle
            self._release(conn)

    def _wake_all(self) -> None:
        """Send every waiting read to the threaded path (a connection is gone, or never
        opened): a read waits only for a busy connection to come back, and one fewer might
        leave none to come back (a restarted server breaks them all). Rare: a cancelled or
        broken read, a failed open."""
        with self._lock:
            waiters = [w for w in self._waiters if not w.done()]
            self._waiters.clear()
        for waiter in waiters:
            self._hand(waiter, None)

    def _close(self, conn: LoopConnection) -> None:
        conn.watch.forget()
        conn.close()

    def _drop(self, conn: LoopConnection) -> None:
        with self._lock:
            self._opened -= 1
        self._close(conn)
        self._wake_all()

    async def _wait_for_connection(self) -> LoopConnection | None:
        """Return an idle connection, waiting while all are busy; None: take the threaded
        path (a connection is being opened, or the reader is closed)."""
        grow = False
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._closed:
                return None
            if self._opening or self._opened < self._size:
                grow = not self._opening and time.monotonic() >= self._retry_at
                if grow:
                    self._opened += 1
                    self._opening = True
                wait = False
            else:  # all open and busy: each will come back through _release
                waiter: asyncio.Future[LoopConnection | None] = (
                    asyncio.get_running_loop().create_future()
                )
                self._waiters.append(waiter)
                wait = True
        if not wait:
            if grow:
                self._executor().submit(self._open)
            return None
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over, then cancelled
                conn = waiter.result()
                if conn is not None:
                    self._release(conn)
            raise

    async def run(
        self, statement: Statement, params: Sequence[bytes]
    ) -> pq.abc.PGresult | Literal[Busy.BUSY]:
        """Return the result of ``statement`` (text parameters and results), or BUSY (no
        connection open yet, one being opened, or the reader closed: the caller runs the
        statement in a thread instead). While all ``size`` are busy, wait for one.

        Raises as psycopg does for an error result. A broken connection (the server
        restarted, or ended an idle session) is closed and the read answers BUSY: these are
        reads, so the caller may run the statement again.
        """
        conn = await self.acquire()
        if conn is None:
            return BUSY
        pgconn = conn.pgconn
        watch = conn.watch
        done = False
        try:
            loop = asyncio.get_running_loop()
            pgconn.send_query_prepared(statement.name, params)
            while pgconn.flush():  # 1: libpq's output buffer is not all sent yet
                await _wait_writable(loop, pgconn.socket)
            results = []
            # One read straight away: when the loop was slow to come back here (a busy
            # loop, or this thread preempted) the answer is often there already, and a
            # wait would cost a turn of the loop (a third of in-process GETs one at a time).
            # After that only is_busy() (what libpq holds) decides whether to wait: reading
            # again after each result was a recvfrom answering EAGAIN (strace: 0.9 a GET).
            pgconn.consume_input()
            while True:  # results until libpq's None (the server's ReadyForQuery)
                while pgconn.is_busy():
                    await watch.wait(loop)
                found = pgconn.get_result()
                if found is None:
                    break
                results.append(found)
            done = True
        except psycopg.OperationalError:
            return BUSY  # the connection is dropped below
        finally:
            watch.busy = False
            if not done:  # cancelled or broken mid-statement: its connection is spent
                self._drop(conn)
        self._release(conn)
        for result in results:
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise errors.error_from_result(result, encoding=conn.info.encoding)
        if not results:
            raise psycopg.OperationalError(
                "the server sent no result / 서버가 결과를 보내지 않았습니다"
            )
        return results[0]

    async def acquire(self) -> LoopConnection | None:
        """Return a connection for a loop greenlet's transaction (:meth:`finish` gives it
        back), waiting while all ``size`` are busy; None: none is open yet, one is being
        opened, or the reader is closed (the caller takes the threaded path)."""
        try:
            conn = self._idle.pop()
        except IndexError:
            waited = await self._wait_for_connection()
            if waited is None:
                return None
            conn = waited
        conn.watch.busy = True
        return conn

    def finish(self, conn: LoopConnection) -> None:
        """Take back a connection from :meth:`acquire`: idle again if it is as a read
        expects one (open, no transaction, no pipeline, nothing in flight), else closed
        (a write that failed or was cancelled mid-statement leaves it so)."""
        conn.watch.busy = False
        pgconn = conn.pgconn
        if (
            pgconn.status == pq.ConnStatus.OK
            and pgconn.transaction_status == pq.TransactionStatus.IDLE
            and pgconn.pipeline_status == pq.PipelineStatus.OFF
        ):
            self._release(conn)
        else:
            self._drop(conn)

    def close(self) -> None:
        """Close the idle connections (busy ones close when their read ends) and send the
        waiting reads to the threaded path."""
        with self._lock:
            self._closed = True
        while self._idle:
            self._drop(self._idle.pop())
        self._wake_all()
