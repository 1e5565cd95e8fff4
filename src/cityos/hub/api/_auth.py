"""Who may call a hub route: the caller (from a cached credential check) and what it may touch.

Every NGSI-LD route starts with :func:`authorize` (read or write, in the request's tenant),
before it looks at the tenant's existence or the store, so a refused caller learns nothing
about another tenant, not even whether it exists. The answer is a :class:`Grant`; routes
that touch typed entities then ask it about those types. The policy itself is
:func:`cityos.identity.access.hub_grant`; ``docs/security.md`` has the route × role table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cityos.hub.api._http import header, resolver_of, tenant_of
from cityos.hub.context import ActiveContext
from cityos.hub.errors import BadRequestData, Forbidden, HubError, Unauthorized
from cityos.hub.typeq import TypeSelection
from cityos.identity.access import EVERY_TYPE, Action, hub_grant
from cityos.identity.cache import principal_cache
from cityos.identity.cookies import Credentials, check_csrf_binding, credentials_of
from cityos.identity.dependencies import authenticate, identity_context
from cityos.identity.errors import IdentityError
from cityos.identity.models import Principal, Role

LOG_IN = (
    "log in first: send 'Authorization: Bearer <token>' (POST /auth/token) or 'X-API-Key' / "
    "먼저 로그인하세요: 'Authorization: Bearer <토큰>' 또는 'X-API-Key'를 보내세요"
)


@dataclass(frozen=True, slots=True)
class Grant:
    """What the caller may do in the request's tenant: one action, on some entity types."""

    principal: Principal | None
    tenant: str
    action: Action
    types: frozenset[str]  # as written in the scopes; {"*"}: every type
    iris: frozenset[str]  # the same types, also expanded under the core context

    @property
    def every_type(self) -> bool:
        """Return True when no entity type is out of reach (no per-type checks needed)."""
        return "*" in self.types

    def _refuse(self, what: str) -> Forbidden:
        """Return the 403 for ``what`` ("English / 한국어"), each language in its own half."""
        allowed = ", ".join(sorted(self.types))
        what_en, _, what_ko = what.partition(" / ")
        return Forbidden(
            f"{what_en}: your {self.action} scope in this tenant covers only the entity types "
            f"{allowed} / {what_ko}: 이 테넌트에서의 {self.action} 권한은 다음 엔터티 유형에만 "
            f"해당합니다: {allowed}"
        )

    def check_types(self, entity_types: Iterable[str], *, what: str) -> None:
        """Refuse (403) unless the scope covers the entity's expanded types.

        Reads need one of the entity's types in scope, writes all of them.
        """
        if not self.covers(entity_types):
            raise self._refuse(what)

    def covers(self, entity_types: Iterable[str]) -> bool:
        """Return True when the scope covers an entity of these expanded types (see check_types).

        Linked entity retrieval asks this of every linked entity, leaving out the others.
        """
        if self.every_type:
            return True
        types = list(entity_types)
        hits = [t in self.iris for t in types]
        return bool(types) and (all(hits) if self.action == "write" else any(hits))

    def check_selection(self, selection: TypeSelection | None) -> None:
        """Refuse (403) a query that could return an entity with no type in scope."""
        if self.every_type:
            return
        if selection is None:
            raise self._refuse(
                "name the entity types to query (type=…) / 조회할 엔터티 유형을 지정하세요(type=…)"
            )
        if any(group.isdisjoint(self.iris) for group in selection.groups):
            raise self._refuse(
                "the query names entity types outside your scope"
                " / 질의에 권한 밖의 엔터티 유형이 있습니다"
            )

    def check_whole_tenant(self, what: str) -> None:
        """Refuse (403) a request that would show every type of the tenant (discovery)."""
        if not self.every_type:
            raise self._refuse(what)


def now_of(request: Request) -> datetime:
    """Return the time now as the identity layer sees it (tests move it)."""
    clock = getattr(request.app.state, "identity_clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def _hub_error(error: IdentityError) -> HubError:
    """Return the NGSI-LD ProblemDetails form of an identity error."""
    detail = f"{error.detail} / {error.detail_ko}"
    if error.status == 403:
        return Forbidden(detail)
    return Unauthorized(detail, error="invalid_token")


async def principal_of(request: Request) -> Principal | None:
    """Return the caller (None if anonymous); a present but wrong credential is 401.

    The credential is ``Authorization``, ``X-API-Key`` or else the session cookie; a cookie on
    a write needs its CSRF token (403).

    A credential already checked in the last ``auth_cache_seconds`` costs a dict lookup.
    """
    authorization = header(request, b"authorization")
    api_key = header(request, b"x-api-key")
    if authorization is not None or api_key is not None:
        credentials = Credentials(authorization, api_key)  # headers first, as credentials_of
    elif header(request, b"cookie") is None:
        return None  # the common anonymous read: no cookie parsing
    else:
        try:
            credentials = credentials_of(request.method, request.headers, request.cookies)
        except IdentityError as error:  # a cookie without its CSRF token on a write
            raise _hub_error(error) from None
        authorization, api_key = credentials.authorization, credentials.api_key
    if authorization is None and api_key is None:
        return None
    # Both at once is refused by authenticate (401); it is never cached.
    credential: str | None = None
    if api_key is None:
        credential = authorization
    elif authorization is None:
        credential = f"X-API-Key {api_key}"
    cache = principal_cache(request.app)
    now = now_of(request)
    secret = request.app.state.settings.secret_key
    if credential is not None:
        known = cache.get(credential, now)
        if known is not None:
            _check_csrf(credentials, known, secret)
            return known

    def check() -> tuple[Principal | None, datetime | None]:
        return authenticate(identity_context(request), authorization=authorization, api_key=api_key)

    try:
        principal, expires_at = await run_in_threadpool(check)
    except IdentityError as error:
        raise _hub_error(error) from None
    if principal is not None and credential is not None:
        cache.put(credential, principal, now, expires_at)
    _check_csrf(credentials, principal, secret)
    return principal


def _check_csrf(credentials: Credentials, principal: Principal | None, secret: str) -> None:
    try:
        check_csrf_binding(credentials, principal, secret)
    except IdentityError as error:
        raise _hub_error(error) from None


def _expanded(types: frozenset[str], request: Request) -> frozenset[str]:
    """Return scope types with their IRIs under the core context (never a user @context)."""
    if "*" in types:
        return types
    core = resolver_of(request).core
    return types | {core.expand_type(t) for t in types}


async def authorize(request: Request, action: Action) -> Grant:
    """Return what the caller may do in the request's tenant, or refuse with 401/403."""
    settings = request.app.state.settings
    tenant = tenant_of(request, must_exist=False)
    if settings.auth == "off":
        return Grant(None, tenant, action, EVERY_TYPE, EVERY_TYPE)
    principal = await principal_of(request)
    types = hub_grant(principal, tenant=tenant, action=action, settings=settings)
    if types is None:
        if principal is None:
            raise Unauthorized(
                f"{action} in this tenant needs a token or API key; {LOG_IN}"
                f" (이 테넌트에서 {action} 하려면 토큰이나 API 키가 필요합니다)"
            )
        raise Forbidden(
            f"{principal.name} may not {action} in this tenant / "
            f"이 테넌트에서 {action} 권한이 없습니다"
        )
    return Grant(principal, tenant, action, types, _expanded(types, request))


async def require_roles(request: Request, *roles: Role) -> Principal | None:
    """Refuse (401/403) a caller without one of ``roles`` (users only, not API keys)."""
    if request.app.state.settings.auth == "off":
        return None
    principal = await principal_of(request)
    if principal is None:
        raise Unauthorized(
            f"this needs a logged-in {' or '.join(roles)}; {LOG_IN}"
            f" ({' 또는 '.join(roles)} 역할로 로그인해야 합니다)"
        )
    if principal.api_key is not None or not principal.has_any(*roles):
        names = ", ".join(sorted(roles))
        raise Forbidden(f"this needs one of the roles {names} / 필요한 역할: {names}")
    return principal


def body_types(body: Any, ctx: ActiveContext) -> list[str] | None:
    """Return the expanded types an entity body names ([] if none, None if unreadable)."""
    if not isinstance(body, Mapping):
        return None
    raw = body.get("type", body.get("@type"))
    if raw is None:
        return []
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return [ctx.expand_type(n) for n in names]


async def refuse_empty_entity_id(request: Request, resource: str) -> Response:
    """Refuse a write whose URL has an empty entity id (``resource``: the collection path,
    e.g. ``/entities``) with 400, after checking the caller's write grant (so an anonymous
    caller still gets 401)."""
    await authorize(request, "write")
    raise BadRequestData(
        f"the URL names no entity id: {resource}/{{entityId}}… needs one / "
        f"URL에 엔터티 ID가 없습니다: {resource}/{{entityId}}… 형식으로 보내세요"
    )


def refuse_missing_entity_id(
    router: APIRouter, paths: Iterable[str], *, methods: list[str], resource: str
) -> None:
    """Answer writes to ``paths`` (URLs with an empty entity id under ``resource``) with
    400, not 404/405 (:func:`refuse_empty_entity_id`)."""

    async def missing_entity_id(request: Request) -> Response:
        return await refuse_empty_entity_id(request, resource)

    for path in paths:
        router.add_api_route(path, missing_entity_id, methods=methods, include_in_schema=False)
