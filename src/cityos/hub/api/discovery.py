"""Discovery: /types, /types/{type}, /attributes, /attributes/{attr} (GS CIM 009 6.25–6.28)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub.api._auth import authorize
from cityos.hub.api._http import (
    accepted_type,
    blocking,
    json_response,
    request_context,
    store_of,
    tenant_of,
)
from cityos.hub.errors import BadRequestData, ResourceNotFound

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD discovery"])
Details = Annotated[str | None, Query(description="true: full details per item")]


def _details(value: str | None) -> bool:
    if value not in (None, "true", "false"):
        raise BadRequestData(
            f"details must be true or false (got {value!r})"
            f" / details는 true 또는 false여야 합니다 (받은 값: {value!r})"
        )
    return value == "true"


@router.get("/types", summary="List entity types")
async def list_types(request: Request, details: Details = None) -> Response:
    """Return an EntityTypeList, or EntityType objects with details=true."""
    media = accepted_type(request)
    grant = await authorize(request, "read")
    grant.check_whole_tenant("listing every entity type / 모든 엔터티 유형 나열")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    infos = await blocking(store_of(request).type_infos, tenant)
    if _details(details):
        body: Any = [
            {
                "id": i.type,
                "type": "EntityType",
                "typeName": ctx.compact(i.type),
                "attributeNames": sorted(ctx.compact(a) for a in i.attributes),
            }
            for i in infos
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:EntityTypeList:{tenant}",
            "type": "EntityTypeList",
            "typeList": [ctx.compact(i.type) for i in infos],
        }
    return json_response(body, ctx=ctx, media=media)


@router.get("/types/{type_name:path}", summary="Describe an entity type")
async def get_type(
    request: Request,
    type_name: Annotated[str, Path(description="Entity type (a term or a full IRI)")],
) -> Response:
    """Return an EntityTypeInfo: entity count and attribute details."""
    if not type_name:  # "/types/": the {type_name:path} route also matches the list
        return await list_types(request, request.query_params.get("details"))
    media = accepted_type(request)
    grant = await authorize(request, "read")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    iri = ctx.expand_type(type_name)
    grant.check_types(
        [iri],
        what=f"may not describe the type {type_name} / 유형 {type_name}을(를) 설명할 수 없습니다",
    )
    infos = await blocking(store_of(request).type_infos, tenant, [iri])
    if not infos:
        raise ResourceNotFound(
            f"no entity of type {type_name!r} exists / 유형이 {type_name!r}인 엔터티가 없습니다"
        )
    info = infos[0]
    body = {
        "id": info.type,
        "type": "EntityTypeInfo",
        "typeName": ctx.compact(info.type),
        "entityCount": info.entity_count,
        "attributeDetails": [
            {
                "id": a,
                "type": "Attribute",
                "attributeName": ctx.compact(a),
                "attributeTypes": sorted(kinds),
            }
            for a, kinds in sorted(info.attributes.items())
        ],
    }
    return json_response(body, ctx=ctx, media=media)


@router.get("/attributes", summary="List attributes")
async def list_attributes(request: Request, details: Details = None) -> Response:
    """Return an AttributeList, or Attribute objects with details=true."""
    media = accepted_type(request)
    grant = await authorize(request, "read")
    grant.check_whole_tenant("listing every attribute / 모든 속성 나열")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    infos = await blocking(store_of(request).attribute_infos, tenant)
    if _details(details):
        body: Any = [
            {
                "id": i.attr,
                "type": "Attribute",
                "attributeName": ctx.compact(i.attr),
                "typeNames": sorted(ctx.compact(t) for t in i.types),
            }
            for i in infos
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:AttributeList:{tenant}",
            "type": "AttributeList",
            "attributeList": [ctx.compact(i.attr) for i in infos],
        }
    return json_response(body, ctx=ctx, media=media)


@router.get("/attributes/{attr:path}", summary="Describe an attribute")
async def get_attribute(
    request: Request,
    attr: Annotated[str, Path(description="Attribute name (a term or a full IRI)")],
) -> Response:
    """Return an Attribute: how many entities have it, its kinds and entity types."""
    if not attr:  # "/attributes/": the {attr:path} route also matches the list
        return await list_attributes(request, request.query_params.get("details"))
    media = accepted_type(request)
    grant = await authorize(request, "read")
    # an attribute's description names every type that has it
    grant.check_whole_tenant("describing an attribute / 속성 설명")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    iri = ctx.expand(attr)
    infos = await blocking(store_of(request).attribute_infos, tenant, [iri])
    if not infos:
        raise ResourceNotFound(
            f"no entity has an attribute {attr!r} / 속성 {attr!r}을(를) 가진 엔터티가 없습니다"
        )
    info = infos[0]
    body = {
        "id": info.attr,
        "type": "Attribute",
        "attributeName": ctx.compact(info.attr),
        "attributeCount": info.count,
        "attributeTypes": sorted(info.kinds),
        "typeNames": sorted(ctx.compact(t) for t in info.types),
    }
    return json_response(body, ctx=ctx, media=media)
