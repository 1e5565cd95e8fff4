"""The answers the router itself gives — no such path (404), method not allowed (405) — in
Korean and English, as every other error of CityOS.

FastAPI answers them ``{"detail": "Not Found"}``; this handler keeps that shape, the status
and the headers (a 405's ``Allow``) and writes the detail in both languages with what to do.
An ``HTTPException`` raised with a detail of its own is answered as FastAPI does.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

# status -> (English, Korean); {path} and {method} are filled in
_ROUTER_ERRORS = {
    404: (
        "Not Found: nothing is served at {path}; the API is listed at /docs",
        "찾을 수 없습니다: {path} 경로에는 아무것도 없습니다. API 목록은 /docs에 있습니다",
    ),
    405: (
        "Method Not Allowed: {path} does not take {method}; the Allow header lists what it takes",
        "허용되지 않는 메서드입니다: {path}에는 {method}를 쓸 수 없습니다. "
        "쓸 수 있는 메서드는 Allow 헤더에 있습니다",
    ),
}


async def router_error(request: Request, exc: Exception) -> Response:
    """Answer a 404/405 of the router in both languages; anything else as FastAPI does."""
    assert isinstance(exc, HTTPException)
    texts = _ROUTER_ERRORS.get(exc.status_code)
    if texts is None or exc.detail != HTTPStatus(exc.status_code).phrase:
        return await http_exception_handler(request, exc)
    # the path as the client sent it, cut so a long one cannot bloat the answer
    path = request.url.path[:200]
    english, korean = (t.format(path=path, method=request.method) for t in texts)
    return JSONResponse(
        {"detail": f"{english} / {korean}"}, status_code=exc.status_code, headers=exc.headers
    )


def install(app: FastAPI) -> None:
    """Answer the router's own 404 and 405 in Korean and English."""
    app.add_exception_handler(HTTPException, router_error)
