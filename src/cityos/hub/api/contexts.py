"""/jsonldContexts: list, add, serve and delete @contexts (GS CIM 009 v1.8, 5.13, 6.32–6.33).

Three kinds of entry (5.13.1): ``Hosted`` ones are added here; ``Cached`` ones are recorded
when a request names a context by URL and the hub loads it (fetched through the SSRF-checked
fetcher, or a shipped/configured offline copy); ``ImplicitlyCreated`` ones are made from the
inline @context of a subscription, which must keep it for its notifications. The core context
is listed as a Cached entry that cannot be deleted, only reloaded. See docs/hub/jsonld.md.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub._context_records import (
    CACHED,
    CORE_ID,
    HOSTED,
    KINDS,
    PATH,
    core_record,
    hosted_url,
    sync_usage,
)
from cityos.hub._context_sources import CORE_CONTEXT_URLS
from cityos.hub._time import utc_now
from cityos.hub.api._auth import require_roles
from cityos.hub.api._http import (
    blocking,
    json_response,
    read_json,
    resolver_of,
    store_of,
    tenant_of,
)
from cityos.hub.errors import (
    BadRequestData,
    InvalidRequest,
    LdContextNotAvailable,
    LdContextNotReloaded,
    ResourceNotFound,
)
from cityos.identity.models import Role

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD @contexts"])
JSON = "application/json"
JSON_LD = "application/ld+json"


def _details(record: dict[str, Any]) -> dict[str, Any]:
    out = {
        "URL": record["url"],
        "localId": record["id"],
        "kind": record["kind"],
        "createdAt": record["createdAt"],
        "numberOfHits": record.get("numberOfHits") or 0,
    }
    if record.get("lastUsage") is not None:  # optional: absent until the first use
        out["lastUsage"] = record["lastUsage"]
    return out


def _boolean(name: str, value: str | None) -> bool:
    if value not in (None, "true", "false"):
        raise BadRequestData(
            f"{name} must be true or false (got {value!r}) / {name}는 true 또는 false여야 합니다"
        )
    return value == "true"


def _is_core(context_id: str) -> bool:
    return context_id == CORE_ID or context_id in CORE_CONTEXT_URLS


async def _records(request: Request) -> list[dict[str, Any]]:
    """Return the tenant's and the shared entries, the core context first.

    What resolution noted (new Cached entries, hits) is written to the store first.
    """
    tenant = tenant_of(request, must_exist=False)  # another tenant's contexts: not there
    store = store_of(request)
    await blocking(sync_usage, store, resolver_of(request))
    return [core_record(), *await blocking(store.contexts, tenant)]


def _find(records: list[dict[str, Any]], context_id: str) -> dict[str, Any] | None:
    if _is_core(context_id):
        return records[0]
    for record in records[1:]:
        if context_id in (record["id"], record["url"]):
            return record
    return None


def _not_found(context_id: str) -> ResourceNotFound:
    return ResourceNotFound(
        f"no @context has the localId or URL {context_id!r} / "
        f"localId나 URL이 {context_id!r}인 @context가 없습니다"
    )


@router.post(
    "/jsonldContexts",
    status_code=201,
    summary="Add a @context to host",
    openapi_extra={
        "requestBody": {"content": {JSON: {"schema": {"type": "object", "required": ["@context"]}}}}
    },
)
async def add_context(request: Request) -> Response:
    """Host a user @context (kind Hosted); 201 with its path in the Location header."""
    await require_roles(request, Role.ADMIN, Role.OPERATOR)
    tenant = tenant_of(request, must_exist=False)  # listed and served in this tenant only
    body, _ = await read_json(request)
    if not isinstance(body, dict) or "@context" not in body:
        raise InvalidRequest(
            'the body must be a JSON object with an "@context" member / '
            '본문은 "@context" 멤버가 있는 JSON 객체여야 합니다'
        )
    if not isinstance(body["@context"], dict | list):
        raise BadRequestData(
            "@context must be an object or an array (not a bare string or a number) / "
            "@context는 객체나 배열이어야 합니다"
        )
    local_id = uuid.uuid4().hex
    url = hosted_url(str(request.base_url), local_id)
    resolver_of(request).add_stored(url, body)
    record = {
        "id": local_id,
        "url": url,
        "kind": HOSTED,
        "body": body,
        "createdAt": utc_now(),
        "tenant": tenant,
    }
    try:
        await blocking(store_of(request).put_context, record)
    except Exception:
        resolver_of(request).remove_stored(url)
        raise
    return Response(status_code=201, headers={"Location": PATH + local_id})


@router.get("/jsonldContexts", summary="List @contexts")
async def list_contexts(
    request: Request,
    details: Annotated[str | None, Query(description="true: details per context")] = None,
    kind: Annotated[str | None, Query(description="Hosted, Cached or ImplicitlyCreated")] = None,
) -> Response:
    """Return the URLs (or, with details=true, the details) of the core and stored @contexts."""
    if kind is not None and kind not in KINDS:
        raise BadRequestData(
            f"kind must be one of {', '.join(KINDS)} (got {kind!r}) / "
            f"kind는 {', '.join(KINDS)} 중 하나여야 합니다"
        )
    with_details = _boolean("details", details)
    chosen = [r for r in await _records(request) if kind is None or r["kind"] == kind]
    if with_details:
        return json_response([_details(r) for r in chosen])
    return json_response([r["url"] for r in chosen])


@router.get("/jsonldContexts/{context_id:path}", summary="Serve a @context")
async def get_context(
    request: Request,
    context_id: Annotated[str, Path(description="localId or URL of the @context")],
    details: Annotated[str | None, Query(description="true: its details")] = None,
) -> Response:
    """Return a @context ({"@context": …}) or, with details=true, its details.

    Asking for a context by its URL, or for its body, is a use of it (numberOfHits); asking
    for the details by localId is management and is not. The details show the count before
    this request.
    """
    with_details = _boolean("details", details)
    record = _find(await _records(request), context_id)
    if record is None:
        raise _not_found(context_id)
    if record["id"] != CORE_ID and (not with_details or context_id == record["url"]):
        resolver_of(request).usage.hit(record["url"])
    if with_details:
        return json_response(_details(record))
    accept = request.headers.get("accept", "")
    media = JSON_LD if JSON_LD in accept and JSON not in accept else JSON
    return Response(content=orjson.dumps(record["body"]), media_type=media)


@router.delete("/jsonldContexts/{context_id:path}", status_code=204, summary="Delete a @context")
async def delete_context(
    request: Request,
    context_id: Annotated[str, Path(description="localId or URL of the @context")],
    reload: Annotated[str | None, Query(description="true: load a Cached one again")] = None,
) -> Response:
    """Delete a @context (204), or with reload=true load a Cached one again (504 if it fails).

    The core context cannot be deleted (400); reload=true processes the shipped copy again.
    """
    await require_roles(request, Role.ADMIN, Role.OPERATOR)
    again = _boolean("reload", reload)
    resolver = resolver_of(request)
    if _is_core(context_id):
        if not again:
            raise BadRequestData(
                "the NGSI-LD core context cannot be deleted (reload=true loads it again) / "
                "NGSI-LD 핵심 @context는 삭제할 수 없습니다(reload=true로 다시 읽을 수 있습니다)"
            )
        await run_in_threadpool(resolver.reload_core)
        return Response(status_code=204)
    record = _find(await _records(request), context_id)
    store = store_of(request)
    if again:
        kind = "unknown" if record is None else record["kind"]
        if record is None or kind != CACHED:
            raise BadRequestData(
                f"reload=true applies to a Cached @context; {context_id} is {kind} / "
                f"reload=true는 Cached @context에만 쓸 수 있습니다({context_id}: {kind})"
            )
        try:
            context = await run_in_threadpool(resolver.reload, record["url"])
        except LdContextNotAvailable as error:
            detail, _, detail_ko = error.detail.partition(" / ")
            raise LdContextNotReloaded(
                f"{detail}; the cached copy is kept / {detail_ko}: 다시 읽지 못해 캐시된 사본을 "
                "유지합니다"
            ) from None
        fresh = {**record, "body": {"@context": context}, "createdAt": utc_now()}
        await blocking(store.delete_context, record["id"])
        await blocking(store.put_context, fresh)
        return Response(status_code=204)
    if record is None:
        raise _not_found(context_id)
    await blocking(store.delete_context, record["id"])
    resolver.remove_stored(record["url"])
    return Response(status_code=204)
