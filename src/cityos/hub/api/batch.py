"""Batch entity operations: /entityOperations/create|upsert|update|delete|merge (6.14–6.18)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub._context_http import parse_link_header
from cityos.hub.api._auth import Grant, authorize, body_types
from cityos.hub.api._http import (
    JSON,
    blocking,
    json_response,
    options_of,
    parse_body,
    read_body,
    request_context,
    store_of,
    tenant_of,
)
from cityos.hub.batch import BatchResult, Operation, run_batch, run_batch_lane
from cityos.hub.context import ActiveContext
from cityos.hub.errors import BadRequestData, HubError
from cityos.hub.store.base import EntityQuery

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD batch operations"])
BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"type": "array"}},
            "application/ld+json": {"schema": {"type": "array"}},
        }
    }
}


def _element_id(element: Any, operation: Operation) -> Any:
    if operation == "delete":
        return element
    return element.get("id") if isinstance(element, Mapping) else None


async def _outside_scope(
    request: Request, grant: Grant, operation: Operation, body: Any, ctx: ActiveContext
) -> tuple[list[Any], BatchResult]:
    """Split a batch into the elements the grant covers and errors for the others.

    An element is checked against the types it names and the types its entity has now;
    elements whose id the batch cannot read are left for run_batch to report.
    """
    refused = BatchResult()
    if grant.every_type or not isinstance(body, list):
        return body, refused
    ids = [i for i in (_element_id(e, operation) for e in body) if isinstance(i, str)]
    stored: dict[str, list[str]] = {}
    store = store_of(request)
    exists: bool = bool(ids) and await blocking(store.tenant_exists, grant.tenant)
    if exists:
        query = EntityQuery(ids=tuple(dict.fromkeys(ids)), limit=len(ids))
        page = await blocking(store.query, grant.tenant, query)
        stored = {e["id"]: e["type"] for e in page.entities}
    kept: list[Any] = []
    for element in body:
        entity_id = _element_id(element, operation)
        if not isinstance(entity_id, str):
            kept.append(element)
            continue
        named = [] if operation == "delete" else body_types(element, ctx)
        try:
            if named is None:
                grant.check_types(
                    [],
                    what=f"cannot tell the type of {entity_id}"
                    f" / {entity_id}의 유형을 알 수 없습니다",
                )
            types = (named or []) + stored.get(entity_id, [])
            if types or operation in ("create", "upsert"):
                grant.check_types(
                    types,
                    what=f"may not write entity {entity_id}"
                    f" / 엔터티 {entity_id}을(를) 쓸 수 없습니다",
                )
        except HubError as error:
            refused.fail(entity_id, error)
            continue
        kept.append(element)
    return kept, refused


async def _batch(request: Request, operation: Operation) -> Response:
    grant = await authorize(request, "write")
    options = options_of(request)
    if operation == "upsert" and {"replace", "update"} <= options:
        raise BadRequestData(
            "options=replace and options=update exclude each other"
            " / options=replace와 options=update는 함께 쓸 수 없습니다"
        )
    raw, media = await read_body(request)
    if media == JSON and operation in ("create", "upsert") and grant.every_type:
        done = await _lane(request, operation, raw)
        if done is not None:
            return _answer(operation, done)
    body = parse_body(raw)
    if isinstance(body, list) and not body:
        raise BadRequestData(
            f"the batch {operation} names no entities: send a non-empty array"
            f" / 배치 {operation}에 엔터티가 없습니다. 비어 있지 않은 배열을 보내세요"
        )
    if isinstance(body, list) and None in body:
        # null is no entity (5.2.1): the request is malformed, not one of its entities
        raise BadRequestData(
            f"the batch {operation} array holds null; send entities only"
            f" / 배치 {operation} 배열에 null이 있습니다. 엔터티만 보내세요"
        )
    tenant = tenant_of(request, must_exist=operation not in ("create", "upsert"))
    result = BatchResult()
    for ctx, elements in await _context_groups(request, operation, body, media, result):
        kept, refused = await _outside_scope(request, grant, operation, elements, ctx)
        part = await blocking(
            run_batch,
            store_of(request),
            tenant,
            operation,
            kept,
            ctx,
            replace="update" not in options,
            no_overwrite="noOverwrite" in options,
        )
        result.success.extend(part.success)
        result.created.extend(part.created)
        result.errors.extend(part.errors + refused.errors)
    return _answer(operation, result)


def _answer(operation: Operation, result: BatchResult) -> Response:
    if result.errors:
        return json_response(result.body(), status=207)
    if operation == "create":
        return json_response(result.success, status=201)
    if operation == "upsert" and result.created:
        return json_response(result.created, status=201)
    return Response(status_code=204)


async def _lane(request: Request, operation: Operation, raw: bytes) -> BatchResult | None:
    """Run a create/upsert of new entities in the object-free lane (``run_batch_lane``), or
    return None: the lane declined, or the request has an error that the usual path reports
    (in its usual order: the body's JSON first)."""
    try:
        tenant = tenant_of(request, must_exist=False)
        ctx = await request_context(request, None, JSON)
    except HubError:
        return None
    return await blocking(run_batch_lane, store_of(request), tenant, operation, raw, ctx)


async def _context_groups(
    request: Request, operation: Operation, body: Any, media: str, result: BatchResult
) -> list[tuple[ActiveContext, Any]]:
    """Split a batch by the @context each element is to be read with (5.5.5, 6.3.5).

    With application/ld+json each entity carries its own @context (one missing is that
    entity's error); with application/json the Link header's context serves all, and an
    entity carrying @context in the body is that entity's error. Either way one bad entity
    is reported in the 207 result, never failing the others.
    """
    if operation == "delete" or not isinstance(body, list):
        return [(await request_context(request, None, None), body)]
    link = request.headers.get("link")
    if media == "application/ld+json" and link and parse_link_header(link) is not None:
        # 6.3.5: the whole request is malformed, not each of its entities
        raise BadRequestData(
            "a application/ld+json batch carries each entity's @context in the body, not in a "
            "Link header: drop the Link header or send application/json / application/ld+json "
            "배치는 각 엔터티의 @context를 본문에 담습니다. Link 헤더를 빼거나 "
            "application/json으로 보내세요"
        )
    if media != "application/ld+json":
        ctx = await request_context(request, None, media)
        kept = []
        for element in body:
            if isinstance(element, dict) and "@context" in element:
                result.fail(
                    element.get("id"),
                    BadRequestData(
                        "with Content-Type application/json the @context goes in a Link "
                        "header, not in the entity; send application/ld+json to embed it"
                        " / Content-Type application/json에서는 @context를 엔터티가 아니라 "
                        "Link 헤더에 넣습니다. 엔터티에 담으려면 application/ld+json으로 "
                        "보내세요"
                    ),
                )
            else:
                kept.append(element)
        return [(ctx, kept)] if kept else []
    groups: dict[bytes, list[Any]] = {}
    for element in body:
        if isinstance(element, dict) and "@context" not in element:
            result.fail(
                element.get("id"),
                BadRequestData(
                    "with Content-Type application/ld+json every entity needs @context"
                    " / Content-Type application/ld+json에서는 모든 엔터티에 @context가 있어야 "
                    "합니다"
                ),
            )
            continue
        key = orjson.dumps(element.get("@context")) if isinstance(element, dict) else b""
        groups.setdefault(key, []).append(element)
    resolved = []
    for elements in groups.values():
        first = next((e for e in elements if isinstance(e, dict)), None)
        try:
            ctx = await request_context(request, first, media if first is not None else None)
        except HubError as error:
            if error.status >= 500:
                raise
            for element in elements:
                result.fail(_element_id(element, operation), error)
            continue
        resolved.append((ctx, elements))
    return resolved


def _route(operation: Operation, summary: str) -> None:
    async def handler(request: Request) -> Response:
        return await _batch(request, operation)

    handler.__doc__ = summary
    handler.__name__ = f"batch_{operation}"
    router.add_api_route(
        f"/entityOperations/{operation}",
        handler,
        methods=["POST"],
        summary=summary,
        openapi_extra=BODY,
        response_model=None,
    )


_route("create", "Create many entities (201 ids, or 207 BatchOperationResult)")
_route("upsert", "Create or replace/update many entities (options=replace|update)")
_route("update", "Update attributes of many entities (options=noOverwrite)")
_route("delete", "Delete many entities by id")
_route("merge", "Merge fragments into many entities")
