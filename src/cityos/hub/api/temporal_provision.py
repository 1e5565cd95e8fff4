"""Temporal provision routes (GS CIM 009 v1.8, 6.18.3.1, 6.19.3.2, 6.20-6.22).

They write an entity's history directly, never its current state: create or add to a
temporal entity, add instances, modify or delete one instance by ``instanceId``, delete an
attribute's history or the entity's. Access is checked like every hub write: a write
grant in the tenant covering every type the entity's history has and the body gives it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub.api._auth import Grant, authorize, body_types, refuse_missing_entity_id
from cityos.hub.api._http import DEFAULT_TENANT, blocking, request_context, store_of, tenant_of
from cityos.hub.api.entities import BODY, read_object
from cityos.hub.context import ActiveContext
from cityos.hub.errors import BadRequestData
from cityos.hub.model import check_attribute_name, check_entity_id
from cityos.hub.temporal import provision

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD temporal"])
EntityId = Annotated[str, Path(description="Entity id (a URI)")]
AttrName = Annotated[str, Path(description="Attribute name (a term or a full IRI)")]
InstanceId = Annotated[str, Path(description="instanceId, e.g. urn:ngsi-ld:Instance:42")]


async def _check_write(
    request: Request,
    grant: Grant,
    entity_id: str,
    body: object = None,
    ctx: ActiveContext | None = None,
) -> None:
    """Refuse (403) a write to a history whose stored or new types are outside the grant."""
    if grant.every_type:
        return
    types: list[str] = []
    if body is not None and ctx is not None:
        types += body_types(body, ctx) or []
    stored = await blocking(provision.stored_types, store_of(request), grant.tenant, entity_id)
    types += stored or []
    grant.check_types(
        types,
        what=f"may not write the history of {entity_id} / {entity_id}의 이력을 쓸 수 없습니다",
    )


@router.post(
    "/temporal/entities",
    status_code=201,
    openapi_extra=BODY,
    summary="Create or update the temporal evolution of an entity",
)
async def create_temporal(request: Request) -> Response:
    """Add a temporal entity's instances to its history (201 when new, else 204)."""
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=False)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    entity_id = check_entity_id(body.get("id", body.get("@id")))
    await _check_write(request, grant, entity_id, body, ctx)
    created = await blocking(provision.upsert_temporal_entity, store_of(request), tenant, body, ctx)
    if not created:
        return Response(status_code=204)
    headers = {
        "Location": "/ngsi-ld/v1/temporal/entities/" + quote(entity_id, safe=":/@!$&'()*+,;=-._~")
    }
    if tenant != DEFAULT_TENANT:
        headers["NGSILD-Tenant"] = tenant
    return Response(status_code=201, headers=headers)


@router.post(
    "/temporal/entities/{entity_id}/attrs",
    status_code=204,
    openapi_extra=BODY,
    summary="Add attribute instances to an entity's history",
)
async def append_temporal(request: Request, entity_id: EntityId) -> Response:
    """Add instances to an existing history (204; 404 if the entity has none)."""
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    await _check_write(request, grant, entity_id, body, ctx)
    await blocking(
        provision.append_temporal_attributes, store_of(request), tenant, entity_id, body, ctx
    )
    return Response(status_code=204)


@router.patch(
    "/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}",
    status_code=204,
    openapi_extra=BODY,
    summary="Modify one attribute instance",
)
async def patch_temporal_instance(
    request: Request, entity_id: EntityId, attr: AttrName, instance_id: InstanceId
) -> Response:
    """Change one instance's members (204; 404 if there is no such instance)."""
    check_entity_id(entity_id)
    check_attribute_name(attr)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    body, media = await read_object(request)
    ctx = await request_context(request, body, media)
    await _check_write(request, grant, entity_id)
    await blocking(
        provision.patch_instance,
        store_of(request),
        tenant,
        entity_id,
        attr,
        instance_id,
        body,
        ctx,
    )
    return Response(status_code=204)


@router.delete(
    "/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}",
    status_code=204,
    summary="Delete one attribute instance",
)
async def delete_temporal_instance(
    request: Request, entity_id: EntityId, attr: AttrName, instance_id: InstanceId
) -> Response:
    """Delete one instance (204; 404 if there is no such instance)."""
    check_entity_id(entity_id)
    check_attribute_name(attr)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    await _check_write(request, grant, entity_id)
    await blocking(
        provision.delete_instance,
        store_of(request),
        tenant,
        entity_id,
        attr,
        instance_id,
        ctx,
    )
    return Response(status_code=204)


@router.delete(
    "/temporal/entities/{entity_id}/attrs/{attr}",
    status_code=204,
    summary="Delete an attribute's history",
)
async def delete_temporal_attribute(
    request: Request,
    entity_id: EntityId,
    attr: AttrName,
    datasetId: Annotated[str | None, Query(description="Only this datasetId")] = None,  # noqa: N803
    deleteAll: Annotated[str | None, Query(description="true: every datasetId")] = None,  # noqa: N803
) -> Response:
    """Delete the default instance's history, one datasetId's, or all (deleteAll=true)."""
    check_entity_id(entity_id)
    check_attribute_name(attr)
    if deleteAll not in (None, "true", "false"):
        raise BadRequestData(
            f"deleteAll must be true or false (got {deleteAll!r}) / "
            "deleteAll은 true 또는 false여야 합니다"
        )
    if datasetId is not None and deleteAll == "true":
        raise BadRequestData(
            "give datasetId or deleteAll=true, not both / "
            "datasetId와 deleteAll=true 중 하나만 주세요"
        )
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    ctx = await request_context(request)
    await _check_write(request, grant, entity_id)
    await blocking(
        provision.delete_attribute_history,
        store_of(request),
        tenant,
        entity_id,
        attr,
        ctx,
        dataset_id=datasetId,
        delete_all=deleteAll == "true",
    )
    return Response(status_code=204)


@router.delete(
    "/temporal/entities/{entity_id}",
    status_code=204,
    summary="Delete the temporal evolution of an entity",
)
async def delete_temporal(request: Request, entity_id: EntityId) -> Response:
    """Delete an entity's whole history (204; 404 if it has none)."""
    check_entity_id(entity_id)
    grant = await authorize(request, "write")
    tenant = tenant_of(request, must_exist=True)
    await _check_write(request, grant, entity_id)
    await blocking(provision.delete_temporal_entity, store_of(request), tenant, entity_id)
    return Response(status_code=204)


# An empty entity id in the URL is a bad request (400), not an unknown route (404/405).
refuse_missing_entity_id(
    router,
    (
        "/temporal/entities//attrs",
        "/temporal/entities//attrs/{attr}",
        "/temporal/entities//attrs/{attr}/{instance_id}",
    ),
    methods=["POST", "PATCH", "DELETE"],
    resource="/temporal/entities",
)
