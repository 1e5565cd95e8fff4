"""Routes for single entities and their attributes (GS CIM 009 v1.8, 6.4–6.7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cityos.hub import service
from cityos.hub.api._auth import (
    Grant,
    authorize,
    body_types,
    refuse_empty_entity_id,
    refuse_missing_entity_id,
)
from cityos.hub.api._http import (
    DEFAULT_TENANT,
    accepted_type,
    blocking,
    get_entity,
    json_response,
    options_of,
    query_docs,
    read_json,
    request_context,
    store_of,
    tenant_of,
)
from cityos.hub.api._params import (
    DEFAULT_RENDERING,
    parse_projection,
    render_options,
    split_list,
)
from cityos.hub.api._route import HubRoute
from cityos.hub.context import ActiveContext
from cityos.hub.errors import BadRequestData, InvalidRequest, ResourceNotFound
from cityos.hub.geojson import feature, feature_collection
from cityos.hub.join import LinkedQuery, link_entities, parse_linked_query
from cityos.hub.model import check_entity_id
from cityos.hub.render import render_entity

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD entities"], route_class=HubRoute)
EntityId = Annotated[str, Path(description="Entity id (a URI), e.g. urn:ngsi-ld:Vehicle:A1")]
AttrName = Annotated[str, Path(description="Attribute name (a term or a full IRI)")]
BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {"type": "object"}},
        }
    }
}


async def read_object(request: Request, *, allow_merge_patch: bool = False) -> tuple[Any, str]:
    """Return the body (a JSON object, else InvalidRequest) and its media type."""
    body, media = await read_json(request, allow_merge_patch=allow_merge_patch)
    if not isinstance(body, dict):
        raise InvalidRequest(
            f"the body must be a JSON object, not {type(body).__name__}"
            f" / 본문은 {type(body).__name__}이(가) 아니라 JSON 객체여야 합니다"
        )
    return body, media


def entity_location(entity_id: str) -> str:
    """Return the Location path of an entity, percent-encoding what HTTP headers cannot carry."""
    return "/ngsi-ld/v1/entities/" + quote(entity_id, safe=":/@!$&'()*+,;=-._~")


async def check_write(
    request: Request,
    grant: Grant,
    entity_id: str,
    body: Any = None,
    ctx: ActiveContext | None = None,
) -> None:
    """Refuse (403) a write to an entity whose stored or new types are outside the grant.

    Costs a read of the entity only for a caller whose write scope is limited to some types.
    """
    if grant.every_type:
        return
    types: list[str] = []
    if body is not None and ctx is not None:
        named = body_types(body, ctx)
        if named is None:
            grant.check_types(
                [],
                what=f"cannot tell the type of {entity_id} / {entity_id}의 유형을 알 수 없습니다",
            )
        types += named or []
    current = await get_entity(store_of(request), grant.tenant, entity_id)
    if current is not None:
        types += current["type"]
    if types:  # else the service answers (404, or 400 for an entity without a type)
        grant.check_types(
            types,
            what=f"may not write entity {entity_id} / 엔터티 {entity_id}을(를) 쓸 수 없습니다",
        )


@router.post("/entities", status_code=201, openapi_extra=BODY, summary="Create an entity")
async def create_entity(request: Request) -> Response:
    """Create an entity (201 with Location; 409 AlreadyExists if the id is taken)."""
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=False)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    if not grant.every_type:
        named = body_types(body, ctx)
        grant.check_types(
            named or [],
            what="may not create an entity of this type / 이 유형의 엔터티를 만들 수 없습니다",
        )
    entity = await blocking(service.create_entity, store_of(request), tenant, body, ctx)
    headers = {"Location": entity_location(entity["id"])}
    if tenant != DEFAULT_TENANT:
        headers["NGSILD-Tenant"] = tenant
    return Response(status_code=201, headers=headers)


RETRIEVE_PARAMS = query_docs(
    path={"entity_id": "Entity id (a URI), e.g. urn:ngsi-ld:Vehicle:A1"},
    attrs="Attributes to return (comma list)",
    pick="Members to keep (comma list)",
    omit="Members to drop (comma list)",
    options="keyValues, concise, sysAttrs",
    format="normalized, concise, keyValues",
    lang="Language for LanguageProperty",
    datasetId="Instances to keep (@none: default)",
    join="Linked entities: inline (under each Relationship), flat (listed after), @none",
    joinLevel="How many Relationship hops join follows (default 1)",
    containedBy="Entity ids already retrieved: not fetched again (comma list)",
    geometryProperty="GeoProperty for Accept: application/geo+json (default location)",
)


@router.get("/entities/{entity_id}", summary="Retrieve an entity", openapi_extra=RETRIEVE_PARAMS)
async def retrieve_entity(request: Request) -> Response:
    """Return one entity in the asked representation (404 ResourceNotFound if none)."""
    entity_id: str = request.path_params["entity_id"]
    params = request.query_params
    attrs, pick, omit = params.get("attrs"), params.get("pick"), params.get("omit")
    format, lang = params.get("format"), params.get("lang")  # noqa: A001
    datasetId = params.get("datasetId")  # noqa: N806
    check_entity_id(entity_id)
    media = accepted_type(request, geojson=True)
    grant = await authorize(request, "read")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    linked: LinkedQuery | None = None
    if not params:  # no parameter: what parsing them gives (normalized, everything)
        opts = DEFAULT_RENDERING
    else:
        linked = parse_linked_query(params)
        opts = render_options(
            options_of(request),
            format,
            ctx,
            attrs=split_list(attrs),
            pick=parse_projection(pick, "pick", nested=linked is not None),
            omit=parse_projection(omit, "omit", nested=linked is not None),
            lang=lang,
            dataset_ids=split_list(datasetId),
        )
    entity = await get_entity(store_of(request), tenant, entity_id)
    if entity is None:
        raise ResourceNotFound(
            f"entity {entity_id} does not exist / 엔터티 {entity_id}이(가) 없습니다",
            instance=entity_id,
        )
    if not grant.every_type:  # (a scope of every type covers it: no message to build)
        grant.check_types(
            entity["type"],
            what=f"may not read entity {entity_id} / 엔터티 {entity_id}을(를) 읽을 수 없습니다",
        )
    rendered = render_entity(entity, ctx, opts)
    if opts.attrs is not None and not (set(entity["attrs"]) & set(opts.attrs)):
        raise ResourceNotFound(
            f"entity {entity_id} has none of the attributes {attrs}"
            f" / 엔터티 {entity_id}에 속성 {attrs} 중 어느 것도 없습니다"
        )
    if not rendered:
        raise ResourceNotFound(
            f"pick/omit leave nothing of entity {entity_id}"
            f" / pick/omit 후 엔터티 {entity_id}에 남는 것이 없습니다"
        )
    extra: list[tuple[dict[str, Any], dict[str, Any]]] = []  # join=flat: linked entities
    if linked is not None:
        extra = await blocking(
            link_entities, store_of(request), tenant, [(entity, rendered)], ctx, opts, linked,
            expand=ctx.expand, may_read=grant.covers,
        )  # fmt: skip
    if media == "application/geo+json":
        geoproperty = request.query_params.get("geometryProperty", "location")
        rendered = feature(entity, rendered, ctx.expand(geoproperty), ctx)
        if extra:  # join=flat lists the linked entities after this one (4.5.23)
            more = [feature(e, r, ctx.expand(geoproperty), ctx) for e, r in extra]
            rendered = feature_collection([rendered, *more])
        # GeoJSON has no Link to a @context of its own: it goes in the body (6.3.15)
        rendered["@context"] = ctx.body_value()
        return json_response(rendered, ctx=ctx, media=media)
    body = [rendered, *(r for _, r in extra)] if extra else rendered
    return json_response(body, ctx=ctx, media=media)


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete an entity")
async def delete_entity(request: Request, entity_id: EntityId) -> Response:
    """Delete an entity (204; 404 if none)."""
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    await check_write(request, grant, entity_id)
    await blocking(service.delete_entity, store_of(request), tenant, entity_id)
    return Response(status_code=204)


@router.post("/entities/{entity_id}/attrs", openapi_extra=BODY, summary="Append attributes")
async def append_attrs(
    request: Request,
    entity_id: EntityId,
    options: Annotated[str | None, Query(description="noOverwrite")] = None,
) -> Response:
    """Add attributes (204; 207 with UpdateResult if some were not overwritten)."""
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    await check_write(request, grant, entity_id)
    no_overwrite = "noOverwrite" in options_of(request)
    result = await blocking(
        service.append_attributes,
        store_of(request),
        tenant,
        entity_id,
        body,
        ctx,
        no_overwrite=no_overwrite,
    )
    if result.not_updated:
        return json_response(result.body(), status=207)
    return Response(status_code=204)


@router.patch("/entities/{entity_id}/attrs", openapi_extra=BODY, summary="Update attributes")
async def update_attrs(request: Request, entity_id: EntityId) -> Response:
    """Update existing attributes (204; 207 listing attributes the entity lacks)."""
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    await check_write(request, grant, entity_id)
    result = await blocking(
        service.update_attributes, store_of(request), tenant, entity_id, body, ctx
    )
    if result.not_updated:
        return json_response(result.body(), status=207)
    return Response(status_code=204)


# The one-attribute writes read their path parameters from ``request.path_params`` (as
# retrieve_entity does): FastAPI's parameter solving was ~10 % of a PATCH's instructions
# (benchmarks/hub_cost.py). The parameters are documented here instead.
ATTR_WRITE = {
    **BODY,
    **query_docs(
        path={
            "entity_id": "Entity id (a URI), e.g. urn:ngsi-ld:Vehicle:A1",
            "attr": "Attribute name (a term or a full IRI)",
        }
    ),
}


@router.patch(
    "/entities/{entity_id}/attrs/{attr}",
    openapi_extra=ATTR_WRITE,
    summary="Partially update one attribute",
)
async def patch_attr(request: Request) -> Response:
    """Merge new members into one attribute (204; 404 if the attribute is absent)."""
    return await _write_attribute(request, service.patch_attribute)


async def _write_attribute(request: Request, operation: Callable[..., None]) -> Response:
    """Check, authorise and run a one-attribute write (partial update or replace)."""
    entity_id: str = request.path_params["entity_id"]
    attr: str = request.path_params["attr"]
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    await check_write(request, grant, entity_id)
    await blocking(operation, store_of(request), tenant, entity_id, attr, body, ctx)
    return Response(status_code=204)


@router.put(
    "/entities/{entity_id}/attrs/{attr}",
    status_code=204,
    openapi_extra=ATTR_WRITE,
    summary="Replace one attribute",
)
async def replace_attr(request: Request) -> Response:
    """Replace one attribute instance whole (204; 404 if the entity or attribute is absent)."""
    return await _write_attribute(request, service.replace_attribute)


@router.delete("/entities/{entity_id}/attrs/{attr}", status_code=204, summary="Delete an attribute")
async def delete_attr(
    request: Request,
    entity_id: EntityId,
    attr: AttrName,
    datasetId: Annotated[str | None, Query(description="Delete only this instance")] = None,  # noqa: N803
    deleteAll: Annotated[str | None, Query(description="true: delete every instance")] = None,  # noqa: N803
) -> Response:
    """Delete an attribute, one of its datasetId instances, or all of them."""
    check_entity_id(entity_id)
    if deleteAll not in (None, "true", "false"):
        raise BadRequestData(
            f"deleteAll must be true or false (got {deleteAll!r})"
            f" / deleteAll은 true 또는 false여야 합니다 (받은 값: {deleteAll!r})"
        )
    if datasetId is not None and deleteAll == "true":
        raise BadRequestData(
            "give datasetId or deleteAll=true, not both"
            " / datasetId와 deleteAll=true 중 하나만 주세요"
        )
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    await check_write(request, grant, entity_id)
    ctx = await request_context(request)
    await blocking(
        service.delete_attribute,
        store_of(request),
        tenant,
        entity_id,
        attr,
        ctx,
        dataset_id=datasetId,
        delete_all=deleteAll == "true",
    )
    return Response(status_code=204)


@router.put(
    "/entities/{entity_id}", status_code=204, openapi_extra=BODY, summary="Replace an entity"
)
async def replace_entity(request: Request, entity_id: EntityId) -> Response:
    """Replace an entity whole, keeping its id and creation time."""
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    await check_write(request, grant, entity_id, body, ctx)
    await blocking(service.replace_entity, store_of(request), tenant, entity_id, body, ctx)
    return Response(status_code=204)


@router.patch(
    "/entities/{entity_id}", status_code=204, openapi_extra=BODY, summary="Merge into an entity"
)
async def merge_entity(request: Request, entity_id: EntityId) -> Response:
    """Merge a fragment into an entity; ``urn:ngsi-ld:null`` deletes an attribute."""
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    body, media = await read_object(request, allow_merge_patch=True)
    ctx = await request_context(
        request, body, "application/json" if media.endswith("merge-patch+json") else media
    )
    await check_write(request, grant, entity_id, body, ctx)
    await blocking(service.merge_entity, store_of(request), tenant, entity_id, body, ctx)
    return Response(status_code=204)


refuse_missing_entity_id(
    router,
    ("/entities//attrs", "/entities//attrs/", "/entities//attrs/{attr}"),
    methods=["POST", "PATCH", "PUT", "DELETE"],
    resource="/entities",
)


@router.api_route(
    "/entities/", methods=["GET", "POST", "PATCH", "PUT", "DELETE"], include_in_schema=False
)
async def entities_slash(request: Request) -> Response:
    """``/entities/``: GET and POST go on to ``/entities`` (the redirect Starlette gives any
    such path; a route here would otherwise turn it into 405), while PATCH, PUT and DELETE name
    an empty entity id, which is 400 (ETSI 054_02_02, 056_02_02), not 405."""
    if request.method in ("GET", "HEAD", "POST"):
        return RedirectResponse(str(request.url.replace(path=request.url.path[:-1])), 307)
    return await refuse_empty_entity_id(request, "/entities")
