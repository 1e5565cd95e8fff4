"""A real CityOS server on a TCP port, for tests that drive it with third-party clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import uvicorn

from cityos.app import create_app
from cityos.config import Settings

START_TIMEOUT = 30.0  # [s] migrations on a fresh PostgreSQL database included


@dataclass(frozen=True)
class RunningServer:
    """Where a CityOS server started by `serve` listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://{self.host}:{self.port}"


@contextmanager
def serve(settings: Settings) -> Iterator[RunningServer]:
    """Run CityOS with uvicorn in a background thread on a free 127.0.0.1 port."""
    # Bind before starting so the port cannot be taken between choosing and listening.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    # uvicorn installs signal handlers only on the main thread, so Ctrl-C still reaches pytest.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail(f"CityOS did not start on {host}:{port} ({settings.backend})")
            time.sleep(0.05)
        yield RunningServer(host, port)
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        sock.close()
        assert not thread.is_alive(), "CityOS did not shut down"


@pytest.fixture(scope="module")
def seed_city() -> bool:
    """Return whether the server loads Sejong on start (override in a module to change)."""
    return False


@pytest.fixture(scope="module")
def cityos_server(database_url: str, seed_city: bool) -> Iterator[RunningServer]:
    """Yield a CityOS server listening on TCP, on a fresh database of each backend."""
    settings = Settings(
        database_url=database_url, mode="test", seed_city=seed_city, log_level="warning"
    )
    with serve(settings) as server:
        yield server
