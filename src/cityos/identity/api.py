"""The identity HTTP API: register, log in (OAuth2 password grant), refresh, log out, API keys,
resident verification, one's own consents and audit trail.

Mount with ``app.include_router(router)``; see :mod:`cityos.identity.dependencies` for what
the router takes from ``app.state``. Errors are JSON ``{"error", "detail", "detail_ko"}``
(English and Korean); :class:`~cityos.identity._routing.IdentityRoute` renders them for
these routes, and :func:`identity_error_response` does it for anyone else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from cityos.identity import (
    account_api,
    audit,
    consent,
    cookies,
    keys,
    service,
    session_api,
    verification,
)
from cityos.identity._routing import IdentityRoute, identity_error_response, read_form, user_only
from cityos.identity.cache import principal_cache
from cityos.identity.dependencies import (
    AdminUser,
    CurrentUser,
    Identity,
    IdentityContext,
    OptionalUser,
    StaffUser,
)
from cityos.identity.errors import MalformedRequest, UnsupportedGrant
from cityos.identity.models import Principal, Role
from cityos.identity.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    ConsentRead,
    LogoutRequest,
    PrincipalRead,
    TokenResponse,
    UserCreate,
    UserRead,
    VerificationCreate,
    VerificationDecision,
    VerificationRead,
)

__all__ = ["CurrentUser", "OptionalUser", "identity_error_response", "router"]

router = APIRouter(prefix="/auth", tags=["identity"], route_class=IdentityRoute)


def _token_response(pair: service.TokenPair, now: datetime) -> JSONResponse:
    body = TokenResponse(
        access_token=pair.access_token,
        expires_in=int((pair.access_expires_at - now).total_seconds()),
        refresh_token=pair.refresh_token,
        refresh_expires_in=int((pair.refresh_expires_at - now).total_seconds()),
    )
    # RFC 6749, 5.1: responses carrying tokens must not be cached.
    return JSONResponse(
        body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, summary="Register (citizen)")
def register(body: UserCreate, identity: Identity) -> UserRead:
    """Create a citizen account; log in afterwards with ``POST /auth/token``."""
    with identity.engine.begin() as connection:
        name = service.normalise_username(body.username)
        user = service.create_user(
            connection,
            username=name,
            password=body.password,
            display_name=body.display_name,
            roles={Role.CITIZEN},
            actor="anonymous",
            now=identity.now,
        )
    return UserRead.of(user)


_TOKEN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                        "refresh_token": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/token",
    summary="Log in or refresh (OAuth2)",
    response_model=TokenResponse,
    openapi_extra=_TOKEN_FORM,
    responses={401: {}, 403: {}, 423: {"description": "Locked after repeated failures"}},
)
async def token(request: Request, identity: Identity) -> JSONResponse:
    """Exchange a username and password, or a refresh token, for new tokens (RFC 6749)."""
    form = await read_form(request)
    grant = form.get("grant_type") or "password"
    if grant == "password":
        username, password = form.get("username", ""), form.get("password", "")
        if not username or not password:
            raise MalformedRequest(
                "The password grant needs 'username' and 'password'.",
                "password 방식에는 'username'과 'password'가 필요합니다.",
            )
        pair = await run_in_threadpool(
            lambda: service.login(
                identity.engine,
                username=username,
                password=password,
                settings=identity.settings,
                now=identity.now,
            )
        )
    elif grant == "refresh_token":
        refresh = form.get("refresh_token", "")
        if not refresh:
            raise MalformedRequest(
                "The refresh_token grant needs 'refresh_token'.",
                "refresh_token 방식에는 'refresh_token'이 필요합니다.",
            )
        pair = await run_in_threadpool(
            lambda: service.refresh(
                identity.engine,
                refresh_token=refresh,
                settings=identity.settings,
                now=identity.now,
            )
        )
    else:
        raise UnsupportedGrant(
            f"grant_type {grant!r} is not supported; use password or refresh_token.",
            f"grant_type {grant!r}은(는) 지원하지 않습니다. password 또는 refresh_token을 쓰세요.",
        )
    return _token_response(pair, identity.now)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out (revoke)",
    response_class=Response,
)
def logout(
    request: Request,
    principal: CurrentUser,
    identity: Identity,
    body: Annotated[LogoutRequest | None, Body()] = None,
) -> Response:
    """End this session (or every session): its tokens stop working, its cookies are cleared."""
    with identity.engine.begin() as connection:
        service.logout(
            connection,
            principal=principal,
            now=identity.now,
            everywhere=body.everywhere if body else False,
        )
    cache = principal_cache(request.app)
    if body is not None and body.everywhere:
        cache.forget(user_id=principal.id)
    else:
        cache.forget(session_id=principal.session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    cookies.clear_session_cookies(response, secure=cookies.is_tls(request, identity.settings))
    return response


@router.get("/me", summary="Who am I")
def me(principal: CurrentUser, identity: Identity) -> PrincipalRead:
    """Return the calling user or API key, with roles (and scopes for a key)."""
    if principal.kind != "user":
        return PrincipalRead.of(principal)
    with identity.engine.connect() as connection:
        return PrincipalRead.of(principal, service.get_user(connection, user_id=principal.id))


@router.get("/me/audit", summary="Who accessed my data")
def my_audit(
    principal: CurrentUser,
    identity: Identity,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Return the audit entries about the calling user, newest first."""
    user_id = user_only(principal)
    with identity.engine.connect() as connection:
        entries = audit.entries(connection, subject=user_id, limit=limit)
    return [{"at": e.at, "actor": e.actor, "action": e.action, "reason": e.reason} for e in entries]


@router.get("/me/consents", summary="My consents")
def my_consents(principal: CurrentUser, identity: Identity) -> list[ConsentRead]:
    """Return every consent the caller gave, withdrawn ones included."""
    user_id = user_only(principal)
    with identity.engine.connect() as connection:
        return [ConsentRead.of(c) for c in consent.history(connection, user_id=user_id)]


@router.post("/me/consents", status_code=status.HTTP_201_CREATED, summary="Give consent")
def give_consent(
    principal: CurrentUser,
    identity: Identity,
    purpose: Annotated[str, Body(max_length=100)],
    version: Annotated[str, Body(max_length=40)],
) -> ConsentRead:
    """Consent to a purpose (e.g. walking_rewards) in a version of its notice."""
    user_id = user_only(principal)
    with identity.engine.begin() as connection:
        given = consent.grant(
            connection, user_id=user_id, purpose=purpose, version=version, now=identity.now
        )
    return ConsentRead.of(given)


@router.delete(
    "/me/consents/{purpose}", status_code=status.HTTP_204_NO_CONTENT, summary="Withdraw consent"
)
def withdraw_consent(purpose: str, principal: CurrentUser, identity: Identity) -> None:
    """Withdraw consent to a purpose; processing for it stops at once."""
    user_id = user_only(principal)
    with identity.engine.begin() as connection:
        consent.withdraw(connection, user_id=user_id, purpose=purpose, now=identity.now)


@router.post("/keys", status_code=status.HTTP_201_CREATED, summary="Create an API key (admin)")
def create_key(body: ApiKeyCreate, principal: AdminUser, identity: Identity) -> ApiKeyCreated:
    """Create a developer or device key; the response holds the key, shown only this once."""
    scopes = keys.make_scopes(
        tenants=body.scopes.tenants,
        entity_types=body.scopes.entity_types,
        actions=body.scopes.actions,
    )
    with identity.engine.begin() as connection:
        record, secret = keys.create_api_key(
            connection,
            name=body.name,
            role=Role(body.role),
            scopes=scopes,
            actor=principal.actor,
            now=identity.now,
            created_by=principal.id,
        )
    return ApiKeyCreated(**ApiKeyRead.of(record).model_dump(), key=secret)


@router.get("/keys", summary="List API keys (admin)")
def list_keys(principal: AdminUser, identity: Identity) -> list[ApiKeyRead]:
    """Return every key (never the secrets), revoked ones included."""
    with identity.engine.connect() as connection:
        return [ApiKeyRead.of(k) for k in keys.list_api_keys(connection)]


@router.delete("/keys/{key_id}", summary="Revoke an API key (admin)")
def revoke_key(
    request: Request, key_id: str, principal: AdminUser, identity: Identity
) -> ApiKeyRead:
    """Revoke a key by id or prefix; it stops working at once."""
    with identity.engine.begin() as connection:
        record = keys.revoke_api_key(
            connection, key_id=key_id, actor=principal.actor, now=identity.now
        )
    principal_cache(request.app).forget(key_id=record.id)
    return ApiKeyRead.of(record)


@router.post(
    "/verifications",
    status_code=status.HTTP_201_CREATED,
    summary="Ask to be verified as a Sejong resident",
)
def request_verification(
    principal: CurrentUser,
    identity: Identity,
    body: Annotated[VerificationCreate | None, Body()] = None,
) -> VerificationRead:
    """Start resident verification with the deployment's verifier."""
    user_id = user_only(principal)
    with identity.engine.begin() as connection:
        request = verification.request_verification(
            connection,
            user_id=user_id,
            verifier=identity.verifier,
            now=identity.now,
            evidence=body.evidence if body else None,
        )
    return VerificationRead.of(request)


@router.get("/verifications", summary="List verification requests")
def list_verification_requests(
    principal: CurrentUser,
    identity: Identity,
    state: Literal["pending", "approved", "rejected"] | None = None,
) -> list[VerificationRead]:
    """Operators and admins see every request; anyone else sees their own."""
    mine = None if principal.has_any(Role.OPERATOR, Role.ADMIN) else user_only(principal)
    with identity.engine.connect() as connection:
        found = verification.list_verifications(connection, state=state, user_id=mine)
    return [VerificationRead.of(r) for r in found]


def _decide(
    request_id: str,
    approve: bool,
    principal: Principal,
    identity: IdentityContext,
    note: str | None,
) -> VerificationRead:
    with identity.engine.begin() as connection:
        decided = verification.decide_verification(
            connection,
            request_id=request_id,
            approve=approve,
            decided_by=principal,
            now=identity.now,
            note=note,
        )
    return VerificationRead.of(decided)


@router.post("/verifications/{request_id}/approve", summary="Approve (operator)")
def approve_verification(
    request_id: str,
    principal: StaffUser,
    identity: Identity,
    body: Annotated[VerificationDecision | None, Body()] = None,
) -> VerificationRead:
    """Approve a pending request: the user becomes a ``resident``."""
    return _decide(request_id, True, principal, identity, body.note if body else None)


@router.post("/verifications/{request_id}/reject", summary="Reject (operator)")
def reject_verification(
    request_id: str,
    principal: StaffUser,
    identity: Identity,
    body: Annotated[VerificationDecision | None, Body()] = None,
) -> VerificationRead:
    """Reject a pending request (say why in ``note``)."""
    return _decide(request_id, False, principal, identity, body.note if body else None)


# Cookie sessions for the web app (login, refresh) and the citizen's own data (export,
# access log, account deletion) live in modules of their own, under the same /auth prefix.
router.include_router(session_api.router)
router.include_router(account_api.router)
