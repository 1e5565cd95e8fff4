"""/jsonldContexts: serve, list and delete user @contexts (GS CIM 009 v1.8, 5.13, 6.31–6.32)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub._context_sources import CORE_CONTEXT_URLS
from cityos.hub._time import utc_now
from cityos.hub.api._auth import require_roles
from cityos.hub.api._http import blocking, json_response, read_json, resolver_of, store_of
from cityos.hub.context import CORE_CONTEXT_URL
from cityos.hub.errors import BadRequestData, ResourceNotFound
from cityos.identity.models import Role

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD @contexts"])
KINDS = ("Hosted", "Cached", "ImplicitlyCreated")


def _details(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "URL": record["url"],
        "localId": record["id"],
        "kind": record["kind"],
        "createdAt": record["createdAt"],
        "lastUsage": record.get("lastUsage"),
        "numberOfHits": record.get("numberOfHits", 0),
    }


def _find(records: list[dict[str, Any]], context_id: str) -> dict[str, Any]:
    for record in records:
        if context_id in (record["id"], record["url"]):
            return record
    raise ResourceNotFound(f"no stored @context has the id or URL {context_id!r}")


@router.post(
    "/jsonldContexts",
    status_code=201,
    summary="Store a @context to serve",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "object", "required": ["@context"]}}
            }
        }
    },
)
async def add_context(request: Request) -> Response:
    """Store a user @context; it is then served at the URL in the Location header."""
    await require_roles(request, Role.ADMIN, Role.OPERATOR)  # @contexts serve every tenant
    body, _ = await read_json(request)
    if not isinstance(body, dict) or "@context" not in body:
        raise BadRequestData('the body must be a JSON object with an "@context" member')
    if not isinstance(body["@context"], dict | list):
        raise BadRequestData("@context must be an object or an array (not a bare string)")
    local_id = uuid.uuid4().hex
    url = f"{str(request.base_url).rstrip('/')}/ngsi-ld/v1/jsonldContexts/{local_id}"
    resolver_of(request).add_stored(url, body)
    record = {"id": local_id, "url": url, "kind": "Hosted", "body": body, "createdAt": utc_now()}
    try:
        await blocking(store_of(request).put_context, record)
    except Exception:
        resolver_of(request).remove_stored(url)
        raise
    return Response(status_code=201, headers={"Location": url})


@router.get("/jsonldContexts", summary="List @contexts")
async def list_contexts(
    request: Request,
    details: Annotated[str | None, Query(description="true: details per context")] = None,
    kind: Annotated[str | None, Query(description="Hosted, Cached or ImplicitlyCreated")] = None,
) -> Response:
    """Return the URLs (or details) of the core context and every stored @context."""
    if kind is not None and kind not in KINDS:
        raise BadRequestData(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
    if details not in (None, "true", "false"):
        raise BadRequestData(f"details must be true or false (got {details!r})")
    records = await blocking(store_of(request).contexts)
    core = {
        "id": "ngsi-ld-core",
        "url": CORE_CONTEXT_URL,
        "kind": "Cached",
        "createdAt": None,
        "numberOfHits": 0,
    }
    everything = [core, *records]
    chosen = [r for r in everything if kind is None or r["kind"] == kind]
    if details == "true":
        return json_response([_details(r) for r in chosen])
    return json_response([r["url"] for r in chosen])


@router.get("/jsonldContexts/{context_id:path}", summary="Get a @context")
async def get_context(
    request: Request,
    context_id: Annotated[str, Path(description="Local id or URL of the @context")],
    details: Annotated[str | None, Query(description="true: its details")] = None,
) -> Response:
    """Return a stored @context ({"@context": …}) or, with details=true, its details."""
    record = _find(await blocking(store_of(request).contexts), context_id)
    if details == "true":
        return json_response(_details(record))
    body = record["body"]
    return Response(content=orjson.dumps(body), media_type="application/ld+json")


@router.delete("/jsonldContexts/{context_id:path}", status_code=204, summary="Delete a @context")
async def delete_context(
    request: Request,
    context_id: Annotated[str, Path(description="Local id or URL of the @context")],
    reload: Annotated[str | None, Query(description="true: fetch a Cached one again")] = None,
) -> Response:
    """Delete a hosted @context (204; 404 if unknown; the core context cannot be deleted)."""
    await require_roles(request, Role.ADMIN, Role.OPERATOR)
    if reload not in (None, "true", "false"):
        raise BadRequestData(f"reload must be true or false (got {reload!r})")
    if context_id in ("ngsi-ld-core", CORE_CONTEXT_URL) or context_id in CORE_CONTEXT_URLS:
        raise BadRequestData("the NGSI-LD core context cannot be deleted")
    records = await blocking(store_of(request).contexts)
    if reload == "true":
        # Only a Cached @context has an origin to fetch again (5.13.5); CityOS stores no
        # Cached ones, so a reload names either a Hosted one or nothing: both are refused.
        known = [r for r in records if context_id in (r["id"], r["url"])]
        kind = known[0]["kind"] if known else "unknown"
        raise BadRequestData(f"reload=true applies to a Cached @context; {context_id} is {kind}")
    record = _find(records, context_id)
    await blocking(store_of(request).delete_context, record["id"])
    resolver_of(request).remove_stored(record["url"])
    return Response(status_code=204)
