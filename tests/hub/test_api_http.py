"""HTTP plumbing of the hub routes (cityos.hub.api._http)."""

from __future__ import annotations

from starlette.requests import Request

from cityos.hub.api._http import header


def test_header_reads_what_request_headers_get_reads() -> None:
    raw = [(b"host", b"x"), (b"link", b"<a>"), (b"accept", b"application/json"), (b"link", b"<b>")]
    request = Request({"type": "http", "headers": raw})
    for name in ("host", "link", "accept", "ngsild-tenant", "authorization"):
        assert header(request, name.encode()) == request.headers.get(name)
