"""The hub's route class: a FastAPI route that calls a request-only endpoint directly.

The hottest NGSI-LD routes (retrieve an entity, update one attribute) read their parameters
from the request themselves (see :func:`cityos.hub.api._http.query_docs`), so FastAPI has
nothing to solve for them. Its request handler still costs about a seventh of a one-attribute
PATCH (benchmarks/hub_cost.py): two exit stacks, dependency solving with a sub-response, the
endpoint's source location for error messages, and a second exception-handling wrapper
around the one :class:`starlette.middleware.exceptions.ExceptionMiddleware` already puts
around every route. For an endpoint ``async def f(request: Request) -> Response``,
:class:`HubRoute` calls ``f`` and sends its response; an exception goes to the same
handlers as before, one level up. Everything else of the route (matching, 405, OpenAPI) is
FastAPI's own. While FastAPI's OpenTelemetry instrumentation records a request, the route
answers through FastAPI's handler, so its spans and telemetry data stay as they were.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data
from starlette.convertors import StringConvertor
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import PARAM_REGEX, Match
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


def takes_only_the_request(route: APIRoute) -> bool:
    """Return True for an ``async def f(request: Request) -> Response`` endpoint."""
    dependant = route.dependant
    parameters = list(inspect.signature(route.endpoint).parameters.values())
    return (
        inspect.iscoroutinefunction(route.endpoint)
        and len(parameters) == 1
        and parameters[0].kind
        in (parameters[0].POSITIONAL_ONLY, parameters[0].POSITIONAL_OR_KEYWORD)
        and dependant.request_param_name == parameters[0].name
        and not (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
            or dependant.dependencies
            or dependant.websocket_param_name
            or dependant.http_connection_param_name
            or dependant.response_param_name
            or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name
        )
        and route.response_field is None
        and route.stream_item_type is None
        and _returns_a_response(route.endpoint)
    )


def _returns_a_response(endpoint: Callable[..., Any]) -> bool:
    annotation = inspect.signature(endpoint, eval_str=True).return_annotation
    return isinstance(annotation, type) and issubclass(annotation, Response)


class Parameters(QueryParams):
    """Query parameters whose ``get`` is one dict look-up.

    ``QueryParams.get`` is ``Mapping.get``: ``self[key]``, which raises and catches a
    ``KeyError`` for every parameter a request leaves out (a plain GET leaves out all six
    that retrieval reads). The answers are the same: the last value of the name, else the
    default.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        return self._dict.get(key, default)


NO_PARAMETERS = Parameters()  # immutable, so one serves every request without a query


class HubRequest(Request):
    """A request whose query parameters are :class:`Parameters`, parsed only when present."""

    @property
    def query_params(self) -> QueryParams:
        if not self.scope["query_string"]:
            return NO_PARAMETERS
        if not hasattr(self, "_query_params"):
            self._query_params = Parameters(self.scope["query_string"])
        return self._query_params


def direct_app(endpoint: Endpoint, fastapi_app: ASGIApp) -> ASGIApp:
    """Return an ASGI app that calls ``endpoint`` and sends its response."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if get_telemetry_data() is not None:  # FastAPI's OpenTelemetry is recording
            await fastapi_app(scope, receive, send)
            return
        response = await endpoint(HubRequest(scope, receive, send))
        await response(scope, receive, send)

    return app


class HubRoute(APIRoute):
    """An API route that calls a request-only endpoint without FastAPI's request handler.

    It also turns a request down at once when its path cannot match: it does not start with
    the route's literal part (what comes before the first parameter), or it has another
    number of slashes than the route while no parameter of the route may hold a slash. The
    regular expression would turn such a path down too, after a few calls; a request passes
    by a dozen routes before it reaches ``PATCH …/attrs/{attr}``. Where the route is matched
    on behalf of an included router (which may add a prefix) or under a ``root_path``,
    FastAPI matches it as usual.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if takes_only_the_request(self):
            self.app = direct_app(endpoint, self.app)
        found = PARAM_REGEX.search(self.path)
        self.literal_prefix = self.path[: found.start()] if found else self.path
        # A path's slash count, when every parameter is one segment ("str"); else -1.
        one_segment = all(type(c) is StringConvertor for c in self.param_convertors.values())
        self.slashes = self.path_format.count("/") if one_segment else -1

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match as FastAPI does; a path outside the literal prefix is no match at once."""
        if (
            "fastapi" not in scope  # no included router is matching on its routes' behalf
            and scope["type"] == "http"
            and not scope.get("root_path")
            and (
                not scope["path"].startswith(self.literal_prefix)
                or (self.slashes >= 0 and scope["path"].count("/") != self.slashes)
            )
        ):
            return Match.NONE, {}
        return super().matches(scope)
