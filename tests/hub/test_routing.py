"""The hub's routes, mounted flat on the app, route exactly as FastAPI's include_router does.

:func:`cityos.hub.api.mount_flat` copies each hub router's routes onto the app (a request is
then matched once, not twice). These tests build the same app a second time with
``app.include_router`` and compare the two: the OpenAPI document, and for every hub route
(and near misses: trailing slashes, extra segments, unknown paths) under every method the
status, headers and body of the answer, and the route template it was counted under.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cityos.app import create_app
from cityos.config import Settings
from cityos.hub import api as hub_api

HUB_AUTH = "on"  # anonymous callers: most routes answer 401 before they touch the store
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _included(app: FastAPI, router: APIRouter) -> None:
    app.include_router(router)


@pytest.fixture(scope="module")
def apps(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Yield clients of the app as built (flat) and as include_router would build it."""
    flat = create_app(settings)
    patch = pytest.MonkeyPatch()
    patch.setattr(hub_api, "mount_flat", _included)
    try:
        included = create_app(settings)
    finally:
        patch.undo()
    here = ("127.0.0.1", 50000)  # /metrics answers a scraper on this host
    with (
        TestClient(flat, client=here) as flat_client,
        TestClient(included, client=here) as included_client,
    ):
        yield flat_client, included_client


def hub_paths() -> list[str]:
    """Return request paths around every hub route: itself, with '/', '//' and a segment more."""
    paths = {"/ngsi-ld", "/ngsi-ld/v1", "/ngsi-ld/v1/", "/ngsi-ld/v1/nothing", "/nothing"}
    for router in hub_api.ROUTERS:
        for route in router.routes:
            path = re.sub(r"\{[^}]+\}", "urn:ngsi-ld:Thing:1", getattr(route, "path", ""))
            paths |= {path, path + "/", path + "//", path + "/more", path.upper()}
    return sorted(paths)


def test_the_hub_routes_are_on_the_app_itself(apps: tuple[TestClient, TestClient]) -> None:
    flat, included = apps
    template = "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}"
    flat_app, included_app = flat.app, included.app
    assert isinstance(flat_app, FastAPI)
    assert isinstance(included_app, FastAPI)
    on_app = [r for r in flat_app.router.routes if getattr(r, "path", None) == template]
    assert len(on_app) == 3
    assert all(isinstance(r, APIRoute) for r in on_app)
    assert not any(getattr(r, "path", None) == template for r in included_app.router.routes)


def test_the_openapi_document_is_the_same(apps: tuple[TestClient, TestClient]) -> None:
    flat, included = apps
    document = flat.get("/openapi.json").json()
    assert document == included.get("/openapi.json").json()
    assert "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}" in document["paths"]


def test_every_request_reaches_the_same_route(apps: tuple[TestClient, TestClient]) -> None:
    """Same answer (status, Allow and other headers, body) and same metrics route label."""
    answers: list[list[tuple[str, int, dict[str, str], bytes]]] = [[], []]
    for path in hub_paths():
        for method in METHODS:
            for side, client in enumerate(apps):
                r = client.request(method, path, follow_redirects=False)
                headers = {k: v for k, v in r.headers.items() if k != "date"}
                answers[side].append((f"{method} {path}", r.status_code, headers, r.content))
    assert answers[0] == answers[1]
    statuses = {status for _, status, _, _ in answers[0]}
    assert {401, 404, 405, 307} <= statuses  # the walk saw routes, misses and redirects
    allowed = {h["allow"] for _, status, h, _ in answers[0] if status == 405}
    assert any("," in a for a in allowed)  # ... and a 405 listing several methods

    def labels(client: TestClient) -> list[str]:
        text = client.get("/metrics").text
        return [line for line in text.splitlines() if line.startswith("cityos_http_requests_t")]

    flat_labels, included_labels = labels(apps[0]), labels(apps[1])
    assert flat_labels == included_labels
    assert any('route="/ngsi-ld/v1/entities/{entity_id}/attrs/{attr}"' in x for x in flat_labels)
