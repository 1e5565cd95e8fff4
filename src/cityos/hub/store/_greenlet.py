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
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from greenlet import getcurrent, greenlet

T = TypeVar("T")


class LoopGreenlet(greenlet):
    """A greenlet whose waits are awaited by the event loop task that runs it."""

    def __init__(self, run: Callable[[], Any], bound: Any) -> None:
        super().__init__(run)
        self.bound = bound  # what the call may use on the loop (a database connection)


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
    """Run ``call`` in a new :class:`LoopGreenlet` with ``bound`` attached, awaiting each
    awaitable it hands over with :func:`await_`; return its result or raise its exception.

    The call sees the caller's context variables (a copy, as a task would).
    """
    child = LoopGreenlet(call, bound)
    child.gr_context = contextvars.copy_context()
    handed = child.switch()
    while not child.dead:
        try:
            value = await handed
        except BaseException as error:  # noqa: BLE001 - raised in the call, where it waited
            handed = child.throw(error)
        else:
            handed = child.switch(value)
    return cast(T, handed)
