"""The citizen's own data over HTTP: ``GET /auth/me/data`` (export), ``GET /auth/me/access-log``
(who accessed my personal data) and ``DELETE /auth/me`` (delete my account)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from starlette.responses import JSONResponse

from cityos.identity import account, cookies
from cityos.identity._routing import IdentityRoute, user_only
from cityos.identity.cache import principal_cache
from cityos.identity.dependencies import CurrentUser, Identity
from cityos.privacy.crypto import Vault

router = APIRouter(tags=["identity"], route_class=IdentityRoute)


@router.get("/me/data", summary="Export all my data (JSON)")
def export_my_data(principal: CurrentUser, identity: Identity) -> JSONResponse:
    """Return the account, consents, verifications, personal data (decrypted) and audit trail."""
    user_id = user_only(principal)
    vault = Vault.from_settings(identity.settings)
    with identity.engine.begin() as connection:
        body = account.export_account(
            connection, vault=vault, user_id=user_id, actor=principal.actor, now=identity.now
        )
    return JSONResponse(
        body,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": 'attachment; filename="cityos-my-data.json"',
        },
    )


@router.get("/me/access-log", summary="Who accessed my personal data")
def my_access_log(
    principal: CurrentUser,
    identity: Identity,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Return each read, write, export, erasure or refusal of the caller's personal data."""
    user_id = user_only(principal)
    with identity.engine.connect() as connection:
        return account.access_log(connection, user_id=user_id, limit=limit)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete my account",
    response_class=Response,
    responses={409: {"description": "The last administrator"}},
)
def delete_me(request: Request, principal: CurrentUser, identity: Identity) -> Response:
    """Delete the caller's account and personal data; every session ends at once."""
    user_id = user_only(principal)
    vault = Vault.from_settings(identity.settings)
    with identity.engine.begin() as connection:
        account.delete_account(
            connection, vault=vault, user_id=user_id, actor=principal.actor, now=identity.now
        )
    principal_cache(request.app).forget(user_id=user_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    cookies.clear_session_cookies(response, secure=cookies.is_tls(request, identity.settings))
    return response
