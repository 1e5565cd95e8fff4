"""Live poll results over Server-Sent Events: aggregates pushed when a vote commits.

The vote route publishes the poll's new results (aggregates only, never a ballot) on the
event loop right after its transaction commits; every stream of that poll gets an
``event: results`` with the :class:`~cityos.governance.polls.schemas.PollResults` JSON.
Votes committed by another worker process reach a stream at its next refresh (every
``REFRESH_S`` seconds it recounts and sends the results if they changed). Closing a poll early
sends the final results to this process's streams and ends them at once. A stream opens only
while the poll's results may be shown (closed, or ``live_results`` on) and ends when the
poll closes, after sending the final results. A browser that falls ``MAX_QUEUE`` messages
behind is disconnected (its EventSource reconnects and gets the current results first).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request

from cityos.governance.civic._http import safe_json

MAX_QUEUE = 100
REFRESH_S = 15.0


def message(results: dict[str, Any]) -> bytes:
    """Return one SSE ``results`` message."""
    return b"event: results\ndata: " + safe_json(results) + b"\n\n"


class PollFeed:
    """The open result streams of each poll, in one application."""

    def __init__(self) -> None:
        self.streams: dict[str, set[asyncio.Queue[bytes | None]]] = {}

    def subscribe(self, poll_id: str) -> asyncio.Queue[bytes | None]:
        """Return a new stream's queue for ``poll_id``."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_QUEUE)
        self.streams.setdefault(poll_id, set()).add(queue)
        return queue

    def unsubscribe(self, poll_id: str, queue: asyncio.Queue[bytes | None]) -> None:
        """Forget a stream (it ended)."""
        queues = self.streams.get(poll_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self.streams[poll_id]

    def watched(self, poll_id: str) -> bool:
        """Return whether any stream of this poll is open (no recount otherwise)."""
        return bool(self.streams.get(poll_id))

    def publish(self, poll_id: str, results: dict[str, Any]) -> None:
        """Queue the results for every stream of the poll (call on the event loop)."""
        data = message(results)
        for queue in list(self.streams.get(poll_id, ())):
            if queue.qsize() >= MAX_QUEUE - 1:
                self.unsubscribe(poll_id, queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(data)

    def end(self, poll_id: str) -> None:
        """End every stream of one poll after what is queued (it closed early)."""
        for queue in list(self.streams.get(poll_id, ())):
            self.unsubscribe(poll_id, queue)
            queue.put_nowait(None)

    def close(self) -> None:
        """End every stream (the application is stopping)."""
        for queues in self.streams.values():
            for queue in queues:
                queue.put_nowait(None)
        self.streams.clear()


def feed_of(app: FastAPI) -> PollFeed:
    """Return the application's poll feed, made on first use."""
    feed: PollFeed | None = getattr(app.state, "poll_feed", None)
    if feed is None:
        feed = PollFeed()
        app.state.poll_feed = feed
    return feed


def _key(results: dict[str, Any]) -> tuple[Any, ...]:
    return (results["ballots"], results["state"], repr(results.get("options")))


async def stream(
    request: Request,
    feed: PollFeed,
    poll_id: str,
    queue: asyncio.Queue[bytes | None],
    recount: Callable[[], Awaitable[tuple[dict[str, Any], float]]],
) -> AsyncIterator[bytes]:
    """Yield the current results, then each change, until the poll closes or the client goes.

    ``recount`` returns the results and the seconds until the poll closes (≤ 0: closed).
    """
    try:
        current, closes_in = await recount()
        last = _key(current)
        yield b"retry: 2000\n\n" + message(current)
        while closes_in > 0:
            try:
                data = await asyncio.wait_for(queue.get(), min(REFRESH_S, closes_in + 0.05))
            except TimeoutError:
                if await request.is_disconnected():
                    return
                current, closes_in = await recount()
                if _key(current) == last:
                    yield b": keep-alive\n\n"
                    continue
                last = _key(current)
                yield message(current)
                continue
            if data is None:
                return
            yield data
    finally:
        feed.unsubscribe(poll_id, queue)
