"""Routes that query entities: GET /entities and POST /entityOperations/query (6.4.3, 6.23)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub.api._auth import authorize
from cityos.hub.api._http import (
    GEO_JSON,
    accepted_type,
    blocking,
    json_response,
    options_of,
    query_docs,
    read_json,
    request_context,
    store_of,
    tenant_of,
)
from cityos.hub.api._params import (
    entity_query,
    flatten_query_body,
    parse_projection,
    render_options,
    split_list,
)
from cityos.hub.api._route import HubRoute
from cityos.hub.context import ActiveContext
from cityos.hub.geojson import feature, feature_collection
from cityos.hub.join import link_entities, parse_linked_query
from cityos.hub.render import render_entity
from cityos.hub.store.base import EntityQuery, QueryPage

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD query"], route_class=HubRoute)


def _page_links(request: Request, query: EntityQuery, page: QueryPage) -> str | None:
    """Return the Link header with rel=next / rel=prev page URLs, if there are such pages."""
    links = []
    params = dict(request.query_params)
    more = len(page.entities) == query.limit and (
        page.total is None or query.offset + query.limit < page.total
    )
    if more:
        params.update(offset=str(query.offset + query.limit), limit=str(query.limit))
        links.append(f'<{request.url.path}?{urlencode(params)}>; rel="next"')
    if query.offset > 0:
        params.update(offset=str(max(0, query.offset - query.limit)), limit=str(query.limit))
        links.append(f'<{request.url.path}?{urlencode(params)}>; rel="prev"')
    return ", ".join(links) or None


async def _answer(
    request: Request, params: dict[str, Any], ctx: ActiveContext, *, paginate_links: bool
) -> Response:
    media = accepted_type(request, geojson=True)
    grant = await authorize(request, "read")
    tenant = tenant_of(request, must_exist=True)
    settings = request.app.state.settings
    query = entity_query(
        params, ctx, max_page=settings.max_page_size, default_page=settings.default_page_size
    )
    # A scope limited to some types is checked against the query, never by dropping results.
    grant.check_selection(query.types)
    linked = parse_linked_query(params)
    options = options_of(request)
    if isinstance(params.get("options"), str):
        options |= set(params["options"].split(","))
    opts = render_options(
        options,
        params.get("format"),
        ctx,
        attrs=split_list(params.get("attrs")),
        pick=parse_projection(params.get("pick"), "pick", nested=linked is not None),
        omit=parse_projection(params.get("omit"), "omit", nested=linked is not None),
        lang=params.get("lang"),
        dataset_ids=split_list(params.get("datasetId")),
    )
    page = await blocking(store_of(request).query, tenant, query)
    pairs = [(e, render_entity(e, ctx, opts)) for e in page.entities]
    # An entity of which pick/omit leave nothing is not in the answer (4.21).
    pairs = [(e, r) for e, r in pairs if r]
    if linked is not None:  # inline: in place; flat: the linked entities after the page
        pairs += await blocking(
            link_entities, store_of(request), tenant, pairs, ctx, opts, linked,
            expand=ctx.expand, may_read=grant.covers,
        )  # fmt: skip
    rendered = [r for _, r in pairs]
    headers: dict[str, str] = {}
    if page.total is not None:
        headers["NGSILD-Results-Count"] = str(page.total)
    if paginate_links:
        link = _page_links(request, query, page)
        if link:
            headers["Link"] = link
    if media == GEO_JSON:
        geoproperty = ctx.expand(params.get("geometryProperty") or "location")
        body: Any = feature_collection([feature(e, r, geoproperty, ctx) for e, r in pairs])
        body["@context"] = ctx.body_value()  # GeoJSON carries its @context in the body
        response = json_response(body, ctx=ctx, media=media, headers=headers)
    else:
        response = json_response(rendered, ctx=ctx, media=media, headers=headers)
    if "Link" in headers and media != "application/ld+json":
        # keep both the @context link and the pagination links
        response.headers["Link"] = ctx.link_value() + ", " + headers["Link"]
    return response


QUERY_PARAMS = query_docs(
    type="Types: A,B or (A;B)|C",
    id="Entity ids (comma list)",
    idPattern="Regex on entity ids",
    attrs="Attributes (comma list)",
    q="NGSI-LD query language",
    scopeQ="Scope query, e.g. /Sejong/#",
    georel="near;maxDistance==1000, within, …",
    geometry="Point, Polygon, …",
    coordinates="GeoJSON coordinates",
    geoproperty="GeoProperty to test",
    limit="Page size (default 20)",
    offset="Entities to skip",
    count="true: NGSILD-Results-Count",
    options="keyValues, concise, sysAttrs",
    format="normalized, concise, keyValues",
    pick="Members to keep",
    omit="Members to drop",
    lang="Language for LanguageProperty",
    datasetId="Instances to keep (@none: default)",
    local="true: local entities only (all here)",
    join="Linked entities: inline, flat or @none (4.5.23)",
    joinLevel="Relationship hops join follows (default 1)",
    containedBy="Entity ids already retrieved (comma list)",
)


# Request-only (HubRoute calls it directly): it reads every parameter from the URL itself
# (``_answer``), and FastAPI's solving of 23 declared ones cost ~10 % of a page's hub CPU.
@router.get("/entities", summary="Query entities", openapi_extra=QUERY_PARAMS)
async def query_entities(request: Request) -> Response:
    """Return the entities matching the query, one page, with count and page links."""
    ctx = await request_context(request)
    return await _answer(request, dict(request.query_params), ctx, paginate_links=True)


@router.post(
    "/entityOperations/query",
    summary="Query entities (POST body)",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def query_post(request: Request) -> Response:
    """Return the entities matching a Query body; limit/offset/count come from the URL."""
    body, media = await read_json(request)
    params = flatten_query_body(body)  # first: a body that is no object is a 400, not a 500
    ctx = await request_context(request, body, media)
    for key in ("limit", "offset", "count", "options", "format"):
        if key in request.query_params:
            params[key] = request.query_params[key]
    return await _answer(request, params, ctx, paginate_links=False)
