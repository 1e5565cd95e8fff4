"""The dispatcher stops even when a wake-up (a committed write) races the stop."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from cityos.hub.subscriptions.dispatcher import Dispatcher


def test_stop_ends_the_loop_when_a_wake_up_races_it(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        running: Dispatcher = app.state.notifications

        async def race() -> list[int]:
            stuck = []
            for settle in range(8):  # wake-up and cancellation in every relative order
                for _ in range(3):
                    d = Dispatcher(running.store, running.index, running.writer, poll=30.0)
                    await d.start()
                    await asyncio.sleep(0.05)  # its first round is done: waiting for a wake-up
                    d.wake()
                    for _ in range(settle):
                        await asyncio.sleep(0)
                    stop = asyncio.create_task(d.stop())
                    done, _ = await asyncio.wait({stop}, timeout=5.0)
                    if not done:  # the loop lost its cancellation: end it to clean up
                        stuck.append(settle)
                        while not stop.done():
                            assert d._task is not None
                            d._task.cancel()
                            await asyncio.sleep(0.1)
            return stuck

        assert client.portal.call(race) == []  # type: ignore[union-attr]
