"""HubRoute: request-only endpoints are called directly, everything else is FastAPI's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.telemetry import get_telemetry_data
from fastapi.testclient import TestClient
from opentelemetry.trace import NoOpTracer, Tracer, TracerProvider
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cityos.hub import api as hub_api
from cityos.hub.api import entities, query
from cityos.hub.api._route import HubRoute, takes_only_the_request
from cityos.hub.errors import ResourceNotFound


def probe_app(**fastapi_args: Any) -> FastAPI:
    """Return an app with request-only and parameter-taking routes on a HubRoute router."""
    router = APIRouter(prefix="/p", route_class=HubRoute)

    @router.get("/only/{thing}")
    async def only(request: Request) -> Response:
        if request.path_params["thing"] == "missing":
            raise ResourceNotFound("no such thing / 그런 것은 없습니다")
        return JSONResponse(
            {
                "thing": request.path_params["thing"],
                "fastapi_handler": "fastapi_inner_astack" in request.scope,
                "telemetry": get_telemetry_data() is not None,
            },
            status_code=203,
        )

    @router.get("/typed/{thing}")
    async def typed(request: Request, thing: str) -> Response:
        handler = "fastapi_inner_astack" in request.scope
        return JSONResponse({"thing": thing, "fastapi_handler": handler})

    app = FastAPI(**fastapi_args)
    hub_api.mount_flat(app, router)
    app.add_exception_handler(ResourceNotFound, hub_api._hub_error)
    return app


def test_a_request_only_endpoint_is_called_directly() -> None:
    with TestClient(probe_app()) as client:
        r = client.get("/p/only/a")
        assert r.status_code == 203
        assert r.json() == {"thing": "a", "fastapi_handler": False, "telemetry": False}
        r = client.get("/p/typed/b")  # a parameter to solve: FastAPI's handler
        assert r.json() == {"thing": "b", "fastapi_handler": True}


def test_errors_of_a_direct_endpoint_reach_the_apps_handlers() -> None:
    with TestClient(probe_app()) as client:
        r = client.get("/p/only/missing")
        assert r.status_code == 404
        assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"
        r = client.post("/p/only/a")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET"


class Tracers(TracerProvider):
    """A tracer provider of the application's own (FastAPI ignores the API's no-op one)."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Tracer:
        return NoOpTracer()


def test_fastapis_handler_answers_while_opentelemetry_records() -> None:
    app = probe_app(telemetry={"tracer_provider": Tracers()})
    with TestClient(app) as client:
        r = client.get("/p/only/a")
        assert r.status_code == 203
        assert r.json() == {"thing": "a", "fastapi_handler": True, "telemetry": True}


def test_the_hot_entity_routes_are_request_only() -> None:
    """Retrieve and one-attribute writes take the direct call; a new parameter would lose it."""
    direct = {
        (method, route.path)
        for route in entities.router.routes
        if isinstance(route, HubRoute) and takes_only_the_request(route)
        for method in route.methods
    }
    for method, path in (
        ("GET", "/ngsi-ld/v1/entities/{entity_id}"),
        ("PATCH", "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}"),
        ("PUT", "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}"),
        ("POST", "/ngsi-ld/v1/entities"),
    ):
        assert (method, path) in direct
    assert ("DELETE", "/ngsi-ld/v1/entities/{entity_id}") not in direct  # typed parameters


def test_a_hub_route_matches_every_path_as_fastapi_does() -> None:
    """The quick refusal (literal prefix, slash count) never refuses a path the regex takes."""
    paths = [
        "/ngsi-ld/v1/entities",
        "/ngsi-ld/v1/entities/",
        "/ngsi-ld/v1/entities/urn:a:1",
        "/ngsi-ld/v1/entities/urn:a:1/",
        "/ngsi-ld/v1/entities/urn:a:1/attrs",
        "/ngsi-ld/v1/entities/urn:a:1/attrs/speed",
        "/ngsi-ld/v1/entities/urn:a:1/attrs/speed/x",
        "/ngsi-ld/v1/entities//attrs/speed",
        "/ngsi-ld/v1/entities/a/b/attrs/speed",
        "/ngsi-ld/v1/entityOperations/query",
        "/ngsi-ld/v1/entitiesX",
        "/api/ngsi-ld/v1/entities/urn:a:1",
        "/",
    ]
    for hub_route in [*entities.router.routes, *query.router.routes]:
        assert isinstance(hub_route, HubRoute)
        plain = APIRoute(hub_route.path, hub_route.endpoint, methods=hub_route.methods)
        for path in paths:
            for method in ("GET", "PATCH"):
                for extra in ({}, {"root_path": "/api"}, {"fastapi": {}}):
                    scope = {"type": "http", "method": method, "path": path, **extra}
                    got, child = hub_route.matches(dict(scope))
                    want, want_child = plain.matches(dict(scope))
                    assert got == want, (hub_route.path, path, method, extra)
                    assert child.get("path_params") == want_child.get("path_params")
