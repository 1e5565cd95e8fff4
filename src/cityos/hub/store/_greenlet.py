"""Synchronous store code run on the event loop, its waits awaited there (greenlets).

A one-entity write on PostgreSQL is two round trips (the read ``FOR UPDATE``; the UPDATE,
history and COMMIT in one pipeline) around a few hundred microseconds of Python. Run in a
store thread it pays a thread hop each way (an executor queue, futex wakes, GIL hand-overs,
the answer written to the loop's self-pipe): ~170,000 instructions a PATCH counted, the
largest single cost of a PATCH after the HTTP layer (docs/benchmarks.md, session 9).
Rewriting the service's write paths as coroutines would double them; instead the same
synchronous code runs in a greenlet on the event loop, and each wait for the database
socket switches back to the loop's task, which awaits it like any other socket: the
technique SQLAlchemy's asyncio layer uses (``greenlet_spawn`` / ``await_only``).

Only code whose every wait goes through :func:`await_` may run here: a blocking wait would
stop the loop, and one on a row lock held by another greenlet of the same loop would never
end. PostgreSQL's loop connections (``_pg_loop.LoopConnection``) make each of their waits
such an await while in a :class:`LoopGreenlet`; the store binds one of them to the greenlet
for its transaction (``PostgresStore.call_on_loop``).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from greenlet import GreenletExit, getcurrent, greenlet

T = TypeVar("T")


class _Done:
    """What a :class:`LoopGreenlet` hands back when its call ended (never an awaitable)."""

    __slots__ = ("ok", "value")

    def __init__(self, ok: bool, value: Any) -> None:
        self.ok = ok
        self.value = value


class LoopGreenlet(greenlet):
    """A greenlet that runs calls for the event loop's thread, one after another, its waits
    awaited by the task that runs the call (:func:`run_in_greenlet`).

    Kept for the next call once one ends (a few idle per thread): a new greenlet per call
    cost ~6 µs more (CPython maps a data stack for each and unmaps it when it ends: two
    system calls, 3 % of the loop's time under a PATCH load in a py-spy profile).
    """

    def __init__(self) -> None:
        super().__init__(self._serve)
        self.bound: Any = None  # what the running call may use (a database connection)

    def _serve(self) -> None:
        # Started with no call: what a greenlet is first switched to with stays referenced
        # from its start for its whole life, and an idle greenlet must keep nothing.
        call: Callable[[], Any] = self.parent.switch()
        while True:
            try:
                done = _Done(True, call())
            except GreenletExit:  # the greenlet itself is being discarded
                raise
            except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
                done = _Done(False, error)
            del call  # nothing of an ended call stays referenced while idle (and the
            self.bound = None  # driver empties ``done``)
            call = self.parent.switch(done)


_IDLE_MAX = 64  # idle greenlets kept per thread
_idle = threading.local()


def in_loop_greenlet() -> bool:
    """Return whether the running code is in a :class:`LoopGreenlet` (its waits may be
    awaited with :func:`await_`)."""
    return type(getcurrent()) is LoopGreenlet


def bound() -> Any:
    """Return what :func:`run_in_greenlet` bound to the running greenlet, or None outside one."""
    current = getcurrent()
    return current.bound if type(current) is LoopGreenlet else None


def await_(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` on the event loop from synchronous code in a :class:`LoopGreenlet`
    and return its result (or raise its exception)."""
    current = getcurrent()
    if type(current) is not LoopGreenlet:
        close = getattr(awaitable, "close", None)
        if close is not None:  # a coroutine never to be awaited: no "never awaited" warning
            close()
        raise RuntimeError(
            "await_ outside a loop greenlet / 루프 그린렛 밖에서 await_를 호출했습니다"
        )
    return cast(T, current.parent.switch(awaitable))


async def run_in_greenlet(call: Callable[[], T], bound: Any) -> T:
    """Run ``call`` in a :class:`LoopGreenlet` with ``bound`` attached, awaiting each
    awaitable it hands over with :func:`await_`; return its result or raise its exception.

    The call sees the caller's context variables (a copy, as a task would). An exception
    raised where the call waited (the awaiting task cancelled, say) is raised in the call
    at its :func:`await_`, so its ``finally`` and ``except`` blocks run there.
    """
    idle: list[LoopGreenlet] | None = getattr(_idle, "greenlets", None)
    if idle is None:
        idle = _idle.greenlets = []
    if idle:
        worker = idle.pop()
        worker.parent = getcurrent()
    else:
        worker = LoopGreenlet()
        worker.switch()  # to where it waits for calls
    worker.bound = bound
    worker.gr_context = contextvars.copy_context()
    handed = worker.switch(call)
    while type(handed) is not _Done:
        try:
            value = await handed
        except BaseException as error:  # noqa: BLE001 - raised in the call, where it waited
            handed = worker.throw(error)
        else:
            handed = worker.switch(value)
    ok, value = handed.ok, handed.value
    handed.value = None
    worker.gr_context = None
    if len(idle) < _IDLE_MAX:
        idle.append(worker)
    if ok:
        return cast(T, value)
    raise value
