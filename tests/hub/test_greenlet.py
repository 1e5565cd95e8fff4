"""The loop greenlets that run synchronous store code on the event loop (``_greenlet``)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from functools import partial
from typing import Any

import pytest
from greenlet import getcurrent

from cityos.hub.store._greenlet import await_, bound, in_loop_greenlet, run_in_greenlet
from tests.conftest import run_async

REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


class Payload:
    """Something a call returns or takes, to see whether an idle greenlet keeps it."""


def test_calls_wait_on_the_loop_and_reuse_an_idle_greenlet() -> None:
    async def scenario() -> list[Any]:
        seen = []

        def call(n: int) -> int:
            seen.append(getcurrent())
            assert in_loop_greenlet()
            assert bound() == f"conn {n}"
            return await_(asyncio.sleep(0.001, result=n * 10))

        results = [await run_in_greenlet(lambda n=n: call(n), f"conn {n}") for n in range(3)]
        assert bound() is None  # outside, nothing is bound
        assert not in_loop_greenlet()
        return [results, len({id(g) for g in seen})]

    assert run_async(scenario()) == [[0, 10, 20], 1]  # one greenlet, reused


def test_an_error_where_the_call_waited_is_raised_in_the_call_and_the_greenlet_survives() -> None:
    async def scenario() -> list[Any]:
        log = []

        def failing() -> None:
            try:
                await_(asyncio.sleep(-1, result=None))  # fine
                await_(_fails())
            finally:
                log.append("cleaned up")

        with pytest.raises(ValueError, match="boom"):
            await run_in_greenlet(failing, None)
        log.append(await run_in_greenlet(lambda: await_(asyncio.sleep(0, result="again")), None))
        return log

    assert run_async(scenario()) == ["cleaned up", "again"]


async def _fails() -> None:
    raise ValueError("boom")


def test_concurrent_calls_on_one_loop_each_get_a_greenlet_of_their_own() -> None:
    async def scenario() -> list[int]:
        def call(n: int) -> int:
            first = await_(asyncio.sleep(0.01 * (3 - n), result=n))
            return first + await_(asyncio.sleep(0, result=100))

        return list(
            await asyncio.gather(*(run_in_greenlet(lambda n=n: call(n), n) for n in range(3)))
        )

    assert run_async(scenario()) == [100, 101, 102]


def test_the_call_sees_the_callers_context_and_its_changes_stay_there() -> None:
    async def scenario() -> list[str]:
        REQUEST.set("req-1")

        def call() -> str:
            seen = REQUEST.get()
            REQUEST.set("changed inside")
            return seen

        first = await run_in_greenlet(call, None)
        REQUEST.set("req-2")
        second = await run_in_greenlet(lambda: REQUEST.get(), None)
        return [first, second, REQUEST.get()]

    assert run_async(scenario()) == ["req-1", "req-2", "req-2"]


def test_an_idle_greenlet_keeps_nothing_of_the_last_call() -> None:
    async def scenario() -> tuple[weakref.ref[Payload], weakref.ref[Payload]]:
        held = {"taken": Payload(), "given": Payload()}
        refs = weakref.ref(held["taken"]), weakref.ref(held["given"])
        REQUEST.set("x")

        def call(arg: Payload) -> Payload:
            await_(asyncio.sleep(0))
            return held.pop("given")

        result = await run_in_greenlet(partial(call, held.pop("taken")), Payload())
        assert result is refs[1]()
        del result
        return refs

    refs = run_async(scenario())
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_await_outside_a_loop_greenlet_is_refused() -> None:
    with pytest.raises(RuntimeError, match="loop greenlet"):
        await_(asyncio.sleep(0))
