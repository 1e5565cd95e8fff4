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


def static_dir() -> Path:
    """Return the directory of the web app's static files inside the installed package."""
    return Path(str(resources.files("cityos.web").joinpath("static")))


def install(app: FastAPI) -> None:
    """Add the web pages, the layer registry, the basemap and ``/static`` to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
