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
from starlette.types import Message, Receive, Scope, Send

# Photos checked by their own routes (5 MB): complaint media and proposal images.
EXEMPT_PREFIXES: tuple[str, ...] = ("/ngsi-ld/", "/open311/v2/media/", "/api/v1/uploads/")


def exempt(path: str) -> bool:
    """Return True for a path whose routes check their own body limit."""
    return path.startswith(EXEMPT_PREFIXES)


def declared_too_large(scope: Scope, limit: int) -> bool:
    """Return True when a ``Content-Length`` header says more than ``limit`` (or is unreadable)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return True  # unreadable: refuse rather than guess
            if declared > limit:
                return True
    return False


async def read_within(receive: Receive, limit: int) -> list[Message] | None:
    """Read the whole body; return its messages, or None as soon as it passes ``limit``."""
    buffered: list[Message] = []
    size = 0
    while True:
        message = await receive()
        buffered.append(message)
        if message["type"] != "http.request":
            return buffered  # the client went away; let the app see it
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return buffered


def replay(buffered: list[Message], receive: Receive) -> Receive:
    """Return a ``receive`` that gives the buffered messages first, then reads on."""

    async def replayed() -> Message:
        if buffered:
            return buffered.pop(0)
        return await receive()

    return replayed


async def refuse(send: Send, limit: int) -> None:
    """Answer 413 (bilingual JSON) and close the connection."""
    body = {
        "error": "payload_too_large",
        "detail": f"The request body is larger than {limit} bytes; send less.",
        "detail_ko": f"요청 본문이 {limit}바이트보다 큽니다. 더 작게 보내세요.",
    }
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})
