"""The CityOS web app: an operations dashboard at ``/`` and a citizen app at ``/citizen``.

Static files (our ES modules, CSS, message catalogues and the vendored libraries) are served
from this package at ``/static``; there is no front-end build step (docs/web.md).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from cityos.web.api import router
from cityos.web.live import LiveFeed
from cityos.web.runs_api import router as runs_router


def static_dir() -> Path:
    """Return the directory of the web app's static files inside the installed package."""
    return Path(str(resources.files("cityos.web").joinpath("static")))


def install(app: FastAPI) -> None:
    """Add the web pages, the layer registry, the basemap and ``/static`` to ``app``."""
    app.include_router(router)
    app.include_router(runs_router)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")


def start(app: FastAPI) -> None:
    """Attach the live feed to the opened hub store (call in the lifespan, on the loop)."""
    import asyncio

    dispatcher = getattr(app.state, "notifications", None)
    app.state.live = LiveFeed(app.state.store, app.state.contexts, dispatcher)
    app.state.live.start(asyncio.get_running_loop())


def stop(app: FastAPI) -> None:
    """End every live stream and delete this process's live subscriptions (before the store
    and the notification dispatcher close)."""
    live = getattr(app.state, "live", None)
    if live is not None:
        live.close()
        live.unsubscribe_all()


def end_streams_soon(app: FastAPI) -> None:
    """End every live stream from a signal handler (thread-safe): the server is stopping.

    An open Server-Sent Events response would otherwise hold uvicorn's graceful shutdown
    until its timeout. Call from ``uvicorn.Server.handle_exit``.
    """
    live: LiveFeed | None = getattr(app.state, "live", None)
    if live is not None and live.loop is not None and not live.loop.is_closed():
        live.loop.call_soon_threadsafe(live.close)
