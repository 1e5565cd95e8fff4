"""The NGSI-LD API router (mounted at /ngsi-ld/v1) and its error mapping."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from cityos.hub.api import (
    batch,
    contexts,
    discovery,
    entities,
    query,
    subscriptions,
    temporal,
    temporal_provision,
)
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
    parts, wheres = [], []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}")
        wheres.append(where)
    return problem_response(
        BadRequestData(
            f"{'; '.join(parts) or 'invalid request'} / 요청이 올바르지 않습니다"
            + (f": {', '.join(wheres)}의 값을 확인하세요" if wheres else "")
        )
    )


# nginx's code for "client closed request": nobody receives it, the access log and the
# request metrics show it
CLIENT_CLOSED = 499


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client went away while its body was being read (a load generator stopping, a
    browser tab closed): nothing failed here, and nobody is left to answer. Logged at info
    level without a traceback; until session 15 each one was an ``unhandled_error`` with a
    traceback at error level (wrk's stop left several per run)."""
    log.info("client_disconnected", path=request.url.path, method=request.method)
    return Response(status_code=CLIENT_CLOSED)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    return problem_response(
        InternalError(
            "the broker failed unexpectedly; see its log"
            " / 브로커에 예상하지 못한 오류가 났습니다. 브로커 로그를 확인하세요"
        )
    )


def mount_flat(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to the app itself, as ``app.include_router(router)`` would.

    ``include_router`` keeps the router as one entry of the app's route list, and FastAPI
    matches a request against the router's routes twice: once to learn that the router
    matches, once more to pick the route (a sixth of a one-attribute PATCH, measured with
    benchmarks/hub_cost.py). Copied to the app's list in the same place and order, every
    route is matched once; which route a request reaches, 404s, 405s with their ``Allow``
    header, redirects and the OpenAPI document stay the same (tests/hub/test_routing.py).
    The copy is made the way FastAPI makes an included route (``_EffectiveRouteContext``),
    from the route's own settings; the router itself has none left over (its prefix, tags
    and dependencies were applied when each route was declared).
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):  # pragma: no cover - the hub declares none
            raise TypeError(f"cannot mount {route!r} flat: only API routes can be")
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=route.methods,
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
            strict_content_type=route.strict_content_type,
        )


ROUTERS = (
    query.router,
    entities.router,
    batch.router,
    discovery.router,
    contexts.router,
    temporal.router,
    temporal_provision.router,
    subscriptions.router,
)


def install(app: FastAPI) -> None:
    """Mount the NGSI-LD routes and map errors to ProblemDetails."""
    for router in ROUTERS:
        mount_flat(app, router)
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
