"""How the poll and proposal routes answer: bilingual errors, and JSON safe to embed in HTML.

Citizens' text is stored exactly as written. On output :class:`SafeJSONResponse` writes
``<``, ``>`` and ``&`` as ``\\u003c``, ``\\u003e``, ``\\u0026`` (as Go's encoding/json does):
the decoded JSON is the same text, but the bytes can never open a ``<script>`` element, even
if a page pastes the JSON into HTML. Pages still insert text with ``textContent``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.responses import JSONResponse

from cityos.identity._routing import IdentityRoute

_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))


def safe_json(content: Any) -> bytes:
    """Return ``content`` as UTF-8 JSON with ``<``, ``>`` and ``&`` escaped."""
    body = orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
    for raw, escaped in _ESCAPES:
        body = body.replace(raw, escaped)
    return body


class SafeJSONResponse(JSONResponse):
    """A JSON response whose text cannot break out into HTML (see the module docstring)."""

    def render(self, content: Any) -> bytes:
        """Return the escaped JSON body."""
        return safe_json(content)


def civic_router(prefix: str, tag: str) -> APIRouter:
    """Return a router whose errors are bilingual JSON and whose responses are escaped JSON."""
    return APIRouter(
        prefix=prefix,
        tags=[tag],
        route_class=IdentityRoute,
        default_response_class=SafeJSONResponse,
    )
