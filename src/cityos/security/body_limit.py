"""Request size limit for every route outside the hub (the hub checks its own, larger one).

A body longer than ``CITYOS_MAX_REQUEST_BYTES`` (1 MiB; forms, consents and key requests are
a few hundred bytes) is refused with **413** before the route sees any of it: at once when
``Content-Length`` says so, else as soon as the streamed (chunked) body passes the limit.
The body is read here first and handed to the route afterwards, so a route never acts on
half a body. Routes under a prefix in :data:`EXEMPT_PREFIXES` check their own limit (the
NGSI-LD hub: ``CITYOS_MAX_PAYLOAD_BYTES``).
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Photos checked by their own routes (5 MB): complaint media and proposal images.
EXEMPT_PREFIXES: tuple[str, ...] = ("/ngsi-ld/", "/open311/v2/media/", "/api/v1/uploads/")


class BodyLimitMiddleware:
    """Refuse (413) request bodies larger than ``limit`` bytes outside the exempt prefixes."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, send: Send) -> None:
        body = {
            "error": "payload_too_large",
            "detail": f"The request body is larger than {self.limit} bytes; send less.",
            "detail_ko": f"요청 본문이 {self.limit}바이트보다 큽니다. 더 작게 보내세요.",
        }
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps(body)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1  # unreadable: refuse rather than guess
                if declared > self.limit:
                    await self._refuse(send)
                    return
        # Read the whole body first (it is small), then replay it to the app.
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # the client went away; let the app see it
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        await self.app(scope, replay, send)
