"""Subscription routes (GS CIM 009 v1.8, 6.10 and 6.11).

Subscribing needs a logged-in caller (token or API key) who may read the tenant; a caller
whose read scope covers only some types must name them in ``entities`` and may name no
others. The types the creator could read are stored with the subscription
(``owner_types``), and notifications never carry an entity without one of them. A caller
sees and changes only their own subscriptions; an admin sees every one of the tenant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub._context_records import create_implicit
from cityos.hub.api._auth import LOG_IN, Grant, authorize
from cityos.hub.api._http import (
    DEFAULT_TENANT,
    accepted_type,
    blocking,
    json_response,
    options_of,
    read_json,
    request_context,
    resolver_of,
    store_of,
    tenant_of,
)
from cityos.hub.errors import BadRequestData, InvalidRequest, Unauthorized
from cityos.hub.model import is_uri
from cityos.hub.subscriptions import notification_writer, schema, service
from cityos.hub.subscriptions.dispatcher import SERVER_OWNED
from cityos.hub.subscriptions.index import SubscriptionIndex
from cityos.identity.models import Role
from cityos.security import outbound

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD subscriptions"])
SubscriptionId = Annotated[str, Path(description="Subscription id (a URI)")]
BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {"type": "object"}},
        }
    }
}


def _index(request: Request) -> SubscriptionIndex:
    writer = notification_writer(store_of(request))
    assert writer is not None
    return writer.index


def _check_endpoint(request: Request, body: dict[str, Any]) -> None:
    """Refuse (400) an endpoint aimed at this server or its internal network (SSRF) and the
    ids CityOS keeps for its own subscriptions (docs/security.md, "Outbound requests")."""
    if str(body.get("id", "")).startswith(SERVER_OWNED):
        raise BadRequestData(
            f"subscription ids starting with {SERVER_OWNED} are CityOS's own; choose another id "
            f"/ {SERVER_OWNED}로 시작하는 구독 id는 CityOS 전용입니다. 다른 id를 쓰세요"
        )
    uri = body["notification"]["endpoint"]["uri"]
    policy = outbound.policy_of(request.app.state.settings)
    try:
        outbound.check_url(
            uri, policy, name="notification.endpoint.uri", schemes=outbound.NOTIFY_SCHEMES
        )
    except outbound.UnsafeTarget as error:
        raise BadRequestData(f"{error.detail} / {error.detail_ko}") from None


def _caller(grant: Grant, request: Request) -> tuple[str | None, bool]:
    """Return (owner id, sees every subscription); 401 for an anonymous caller."""
    if request.app.state.settings.auth == "off":
        return None, True
    principal = grant.principal
    if principal is None:
        raise Unauthorized(
            f"subscriptions need a token or API key; {LOG_IN}"
            " (구독에는 토큰이나 API 키가 필요합니다)"
        )
    admin = principal.api_key is None and principal.has_any(Role.ADMIN)
    return principal.actor, admin


def _check_reach(grant: Grant, body: dict[str, Any]) -> frozenset[str] | None:
    """Refuse types outside a limited read scope; return the owner's types (None: all)."""
    if grant.every_type:
        return None
    entities = body.get("entities") or []
    if not entities:
        grant.check_types(
            [],
            what="name the entity types to subscribe to (entities)"
            " / 구독할 엔터티 유형을 지정하세요(entities)",
        )
    for selector in entities:
        grant.check_types(
            [selector["type"]],
            what=f"may not subscribe to {selector['type']}"
            f" / {selector['type']}을(를) 구독할 수 없습니다",
        )
    return frozenset(grant.iris)


def _check_id(sub_id: str) -> None:
    """Refuse a subscription id that is not a URI (400, as ETSI 029_01/030_01/032_01 expect)."""
    if not is_uri(sub_id):
        raise BadRequestData(
            f"subscription id {sub_id!r} is not a URI, e.g. urn:ngsi-ld:Subscription:1 "
            "(구독 id는 URI여야 합니다)"
        )


def _location(sub_id: str) -> str:
    return "/ngsi-ld/v1/subscriptions/" + quote(sub_id, safe=":/@!$&'()*+,;=-._~")


@router.post("/subscriptions", status_code=201, openapi_extra=BODY, summary="Create a subscription")
async def create_subscription(request: Request) -> Response:
    """Create a subscription (201 with Location; 409 if the id is taken; 400 if invalid)."""
    grant = await authorize(request, "read")
    owner, _ = _caller(grant, request)
    tenant = tenant_of(request, must_exist=False)
    raw, media = await read_json(request)
    if not isinstance(raw, dict):
        raise InvalidRequest("the body must be a JSON object / 본문은 JSON 객체여야 합니다")
    ctx = await request_context(request, raw, media)
    body = schema.validate(raw, ctx)
    _check_endpoint(request, body)
    owner_types = _check_reach(grant, body)
    implicit = None
    if "jsonldContext" not in body and ctx.source is not None and ctx.url is None:
        # an inline @context (not one URL): kept as an ImplicitlyCreated /jsonldContexts
        # entry whose URL the notifications name (GS CIM 009 v1.8, 5.2.12 and 5.13)
        implicit = await blocking(
            create_implicit,
            store_of(request),
            resolver_of(request),
            str(request.base_url),
            ctx.source,
            tenant=tenant,
        )
        body["jsonldContext"] = implicit
    try:
        row = await blocking(
            service.create,
            store_of(request),
            _index(request),
            tenant=tenant,
            body=body,
            owner=owner,
            owner_types=owner_types,
        )
    except Exception:
        if implicit is not None:
            await blocking(store_of(request).delete_context, implicit.rsplit("/", 1)[1])
            resolver_of(request).remove_stored(implicit)
        raise
    headers = {"Location": _location(row.id)}
    if tenant != DEFAULT_TENANT:
        headers["NGSILD-Tenant"] = tenant
    return Response(status_code=201, headers=headers)


def _int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequestData(
            f"{name} must be a whole number from {low} to {high} (got {text!r}) / "
            f"{name}는 {low}~{high} 사이의 정수여야 합니다"
        )
    return int(text)


@router.get("/subscriptions", summary="Query subscriptions")
async def query_subscriptions(request: Request) -> Response:
    """Return one page of the caller's subscriptions (limit, offset, count=true)."""
    media = accepted_type(request)
    grant = await authorize(request, "read")
    owner, admin = _caller(grant, request)
    tenant = tenant_of(request, must_exist=False)
    ctx = await request_context(request)
    settings = request.app.state.settings
    limit = _int_param(
        request, "limit", settings.default_page_size, low=1, high=settings.max_page_size
    )
    offset = _int_param(request, "offset", 0, low=0, high=10**9)
    rows, total = await blocking(
        service.page,
        store_of(request),
        tenant=tenant,
        owner=owner,
        admin=admin,
        limit=limit,
        offset=offset,
    )
    now = datetime.now(UTC)
    sys_attrs = "sysAttrs" in options_of(request)
    body = [service.render(r, ctx, now=now, sys_attrs=sys_attrs) for r in rows]
    headers: dict[str, str] = {}
    if request.query_params.get("count") == "true":
        headers["NGSILD-Results-Count"] = str(total)
    links = []
    params = dict(request.query_params)
    if offset + limit < total:
        params.update(offset=str(offset + limit), limit=str(limit))
        links.append(f'<{request.url.path}?{urlencode(params)}>; rel="next"')
    if offset > 0:
        params.update(offset=str(max(0, offset - limit)), limit=str(limit))
        links.append(f'<{request.url.path}?{urlencode(params)}>; rel="prev"')
    response = json_response(body, ctx=ctx, media=media, headers=headers)
    if links and media != "application/ld+json":
        response.headers["Link"] = ", ".join([ctx.link_value(), *links])
    return response


@router.get("/subscriptions/{subscription_id}", summary="Retrieve a subscription")
async def retrieve_subscription(request: Request, subscription_id: SubscriptionId) -> Response:
    """Return one subscription with its status and delivery statistics (404 if none)."""
    _check_id(subscription_id)
    media = accepted_type(request)
    grant = await authorize(request, "read")
    owner, admin = _caller(grant, request)
    tenant = tenant_of(request, must_exist=False)
    ctx = await request_context(request)
    row = await blocking(
        service.get,
        store_of(request),
        tenant=tenant,
        sub_id=subscription_id,
        owner=owner,
        admin=admin,
    )
    sys_attrs = "sysAttrs" in options_of(request)
    body = service.render(row, ctx, now=datetime.now(UTC), sys_attrs=sys_attrs)
    return json_response(body, ctx=ctx, media=media)


@router.patch(
    "/subscriptions/{subscription_id}", openapi_extra=BODY, summary="Update a subscription"
)
async def update_subscription(request: Request, subscription_id: SubscriptionId) -> Response:
    """Change members of a subscription (204; null removes a member; 400 if the result is bad)."""
    _check_id(subscription_id)
    grant = await authorize(request, "read")
    owner, admin = _caller(grant, request)
    tenant = tenant_of(request, must_exist=False)
    raw, media = await read_json(request)
    if not isinstance(raw, dict):
        raise InvalidRequest("the body must be a JSON object / 본문은 JSON 객체여야 합니다")
    ctx = await request_context(request, raw, media)
    store = store_of(request)
    row = await blocking(
        service.get, store, tenant=tenant, sub_id=subscription_id, owner=owner, admin=admin
    )
    if ctx.source is None and row.body.get("context") is not None:
        ctx = await blocking(resolver_of(request).resolve, row.body["context"])
    schema.check_future_expiry(raw)
    merged = schema.merge(row.body, raw)
    body = schema.validate(merged, ctx, creating=False)
    _check_endpoint(request, body)
    if row.owner_types is not None:
        _check_reach(grant, body)
    await blocking(service.replace, store, _index(request), tenant=tenant, body=body)
    return Response(status_code=204)


@router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Delete a subscription")
async def delete_subscription(request: Request, subscription_id: SubscriptionId) -> Response:
    """Delete a subscription and its undelivered notifications (204; 404 if none)."""
    _check_id(subscription_id)
    grant = await authorize(request, "read")
    owner, admin = _caller(grant, request)
    tenant = tenant_of(request, must_exist=False)
    store = store_of(request)
    await blocking(
        service.get, store, tenant=tenant, sub_id=subscription_id, owner=owner, admin=admin
    )
    await blocking(service.delete, store, _index(request), tenant=tenant, sub_id=subscription_id)
    return Response(status_code=204)
