"""A real HTTP notification receiver for tests: a threaded server on a free local port."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Collects every POSTed notification; can be stopped and started on the same port."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.times: list[float] = []  # time.perf_counter() at arrival
        self.attempts: list[tuple[float, str]] = []  # (perf_counter, subscription) of each POST
        self.status = 204
        self.delay = 0.0  # [s] before answering (a slow receiver keeps deliveries in flight)
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._cond = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", "0"))
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError:  # the sender gave up mid-request (e.g. shutting down)
                    return
                status = receiver.status
                with receiver._cond:
                    subscription = str(body.get("subscriptionId"))
                    receiver.attempts.append((time.perf_counter(), subscription))
                    receiver._cond.notify_all()
                if receiver.delay:
                    time.sleep(receiver.delay)
                if 200 <= status < 300:
                    with receiver._cond:
                        receiver.received.append(body)
                        receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                        receiver.times.append(time.perf_counter())
                        receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        ThreadingHTTPServer.request_queue_size = 1024  # the default backlog of 5 drops SYNs
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` notifications arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.received)

    def of_subscription(
        self, sub_id: str, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait for ``count`` notifications of one subscription; return them (in arrival
        order; fewer if ``timeout`` passed first)."""
        deadline = time.monotonic() + timeout
        while True:
            mine = [n for n in self.received if n["subscriptionId"] == sub_id]
            if len(mine) >= count or time.monotonic() > deadline:
                return mine
            self.wait_for(len(self.received) + 1, timeout=0.2)

    def wait_for_attempts(self, count: int, timeout: float = 10.0) -> list[tuple[float, str]]:
        """Wait until ``count`` POSTs (accepted or refused) came in; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.attempts) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.attempts)

    def clear(self) -> None:
        with self._cond:
            self.attempts.clear()
            self.received.clear()
            self.headers.clear()
            self.times.clear()
