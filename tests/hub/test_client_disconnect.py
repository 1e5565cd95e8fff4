"""A client that goes away while its body is read is no server error (no traceback, no
``unhandled_error``): the request is logged at info level and answered 499, for nobody."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import cityos.hub.api as hub_api
from tests.conftest import STORAGE_INDEPENDENT

PATH = "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:gone/attrs/level"


@STORAGE_INDEPENDENT  # the body is never read to its end: no storage is asked
def test_a_client_gone_mid_body_is_logged_quietly(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[tuple[str, str]] = []

    class Log:  # the hub API's logger, recording (level, event)
        def __getattr__(self, level: str) -> Any:
            return lambda event, **_: logged.append((level, event))

    monkeypatch.setattr(hub_api, "log", Log())
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": b'{"value": ', "more_body": True},
        {"type": "http.disconnect"},  # the rest never comes
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PATCH",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def call() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    client.portal.call(call)  # type: ignore[union-attr]
    assert logged == [("info", "client_disconnected")]  # not ("exception", "unhandled_error")
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 499
    # the hub still answers the next request as usual
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:gone").status_code == 404
