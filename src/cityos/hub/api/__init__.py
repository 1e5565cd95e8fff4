"""The NGSI-LD API router (mounted at /ngsi-ld/v1) and its error mapping."""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub.api import batch, contexts, discovery, entities, query, temporal, temporal_provision
from cityos.hub.errors import BadRequestData, HubError, InternalError
from cityos.observability import log

PREFIX = "/ngsi-ld/v1"


def problem_response(error: HubError) -> Response:
    """Render a hub error as NGSI-LD ProblemDetails."""
    return Response(
        orjson.dumps(error.problem()),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers or None,
    )


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    if exc.status >= 500 and exc.status != 503:
        log.error("hub_error", path=request.url.path, detail=exc.detail)
    return problem_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}")
    return problem_response(BadRequestData("; ".join(parts) or "invalid request"))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    return problem_response(InternalError("the broker failed unexpectedly; see its log"))


def install(app: FastAPI) -> None:
    """Mount the NGSI-LD routes and map errors to ProblemDetails."""
    for module in (query, entities, batch, discovery, contexts, temporal, temporal_provision):
        app.include_router(module.router)
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
