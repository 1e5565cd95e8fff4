"""The read path's shortcuts answer as the general code does (session 9, branch read-margin)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import QueryParams
from starlette.responses import Response

from cityos.config import Settings
from cityos.hub.api._http import JSON, JSON_LD, json_response
from cityos.hub.api._params import DEFAULT_RENDERING, render_options
from cityos.hub.api._route import NO_PARAMETERS, HubRequest, Parameters
from cityos.hub.context import ContextResolver


def request_with(query: bytes) -> HubRequest:
    scope = {"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []}
    return HubRequest(scope)


@pytest.mark.parametrize(
    "query", [b"", b"a=1", b"a=1&a=2&b=", b"options=keyValues,sysAttrs&attrs=x", b"x=%41&y"]
)
def test_parameters_answer_as_query_params(query: bytes) -> None:
    general, ours = QueryParams(query), request_with(query).query_params
    assert isinstance(ours, Parameters)
    assert list(ours.multi_items()) == list(general.multi_items())
    assert dict(ours) == dict(general)
    assert len(ours) == len(general)
    assert bool(ours) == bool(general)
    for name in ("a", "b", "x", "y", "options", "attrs", "missing"):
        assert ours.get(name) == general.get(name)
        assert ours.get(name, "default") == general.get(name, "default")
        assert ours.getlist(name) == general.getlist(name)
        assert (name in ours) == (name in general)


def test_a_request_without_a_query_shares_the_empty_parameters() -> None:
    assert request_with(b"").query_params is NO_PARAMETERS
    request = request_with(b"a=1")
    assert request.query_params is request.query_params  # parsed once


def test_default_rendering_is_what_no_parameter_gives() -> None:
    ctx = ContextResolver(Settings()).core
    assert render_options(set(), None, ctx) == DEFAULT_RENDERING


def starlette_json(
    content: Any, *, status: int, ctx: Any, media: str, headers: dict[str, str] | None
) -> Response:
    """What json_response built before: a dict of headers given to Response."""
    import orjson

    out = dict(headers or {})
    if ctx is not None:
        if media == JSON_LD:
            if isinstance(content, dict):
                content = {**content, "@context": ctx.body_value()}
        else:
            out["Link"] = ctx.link_value()
    return Response(orjson.dumps(content), status_code=status, media_type=media, headers=out)


@pytest.mark.parametrize("media", [JSON, JSON_LD])
@pytest.mark.parametrize("status", [200, 201, 207])
@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"NGSILD-Results-Count": "3"},
        {"NGSILD-Results-Count": "3", "Link": '<http://x/?offset=20>; rel="next"'},
        {"Location": "/x", "Content-Type": "application/json"},
    ],
)
def test_json_response_headers_as_before(
    media: str, status: int, headers: dict[str, str] | None
) -> None:
    ctx = ContextResolver(Settings()).core
    content = {"id": "urn:ngsi-ld:T:1", "type": "T", "n": {"type": "Property", "value": 1}}
    ours = json_response(content, status=status, ctx=ctx, media=media, headers=headers)
    before = starlette_json(content, status=status, ctx=ctx, media=media, headers=headers)
    assert ours.raw_headers == before.raw_headers
    assert (ours.status_code, ours.body, ours.media_type) == (
        before.status_code,
        before.body,
        before.media_type,
    )
    ours.headers["Link"] = "changed"  # routes still edit headers afterwards (query pages)
    before.headers["Link"] = "changed"
    assert ours.raw_headers == before.raw_headers


def test_json_response_without_context() -> None:
    ours = json_response([1, 2], status=200)
    before = Response(b"[1,2]", media_type=JSON, headers={})
    assert ours.raw_headers == before.raw_headers
    assert ours.body == before.body
