"""Cookie sessions for the web app: ``POST /auth/login`` and ``POST /auth/refresh``.

The same accounts, lockout and sessions as ``POST /auth/token``; the tokens travel in
HttpOnly cookies instead of the body, and the body carries the CSRF token the page must
echo in ``X-CSRF-Token`` (:mod:`cityos.identity.cookies`). ``POST /auth/logout`` clears them.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from cityos.identity import cookies, service
from cityos.identity._routing import IdentityRoute, read_form
from cityos.identity.dependencies import Identity, IdentityContext
from cityos.identity.errors import MalformedRequest

router = APIRouter(tags=["identity"], route_class=IdentityRoute)

_LOGIN_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            }
        },
    }
}


class CookieSession(BaseModel):
    """What a cookie login or refresh answers: lifetimes and the CSRF token (no tokens)."""

    csrf_token: str
    expires_in: int
    refresh_expires_in: int


def _session_response(
    request: Request, identity: IdentityContext, pair: service.TokenPair
) -> JSONResponse:
    secret = identity.settings.secret_key
    body = CookieSession(
        csrf_token=cookies.csrf_token(pair.session_id, secret_key=secret),
        expires_in=int((pair.access_expires_at - identity.now).total_seconds()),
        refresh_expires_in=int((pair.refresh_expires_at - identity.now).total_seconds()),
    )
    response = JSONResponse(
        body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
    )
    cookies.set_session_cookies(
        response,
        access_token=pair.access_token,
        access_expires_at=pair.access_expires_at,
        refresh_token=pair.refresh_token,
        refresh_expires_at=pair.refresh_expires_at,
        session_id=pair.session_id,
        now=identity.now,
        secure=cookies.is_tls(request, identity.settings),
        secret_key=secret,
    )
    return response


@router.post(
    "/login",
    summary="Log in with cookies (web app)",
    response_model=CookieSession,
    openapi_extra=_LOGIN_FORM,
    responses={
        401: {},
        403: {"description": "Origin of another website"},
        423: {"description": "Locked after repeated failures"},
    },
)
async def login(request: Request, identity: Identity) -> JSONResponse:
    """Check a username and password and set the session cookies (HttpOnly) and CSRF token."""
    cookies.check_origin(request, identity.settings)
    form = await read_form(request)
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        raise MalformedRequest(
            "Logging in needs 'username' and 'password'.",
            "로그인에는 'username'과 'password'가 필요합니다.",
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
    return _session_response(request, identity, pair)


@router.post(
    "/refresh",
    summary="Refresh the cookie session (web app)",
    response_model=CookieSession,
    responses={
        400: {"description": "No refresh cookie"},
        401: {},
        403: {"description": "Missing or wrong X-CSRF-Token"},
    },
)
async def refresh(request: Request, identity: Identity) -> JSONResponse:
    """Trade the refresh cookie for new session cookies (needs ``X-CSRF-Token``)."""
    cookies.check_origin(request, identity.settings)
    token = request.cookies.get(cookies.REFRESH_COOKIE, "")
    if not token:
        raise MalformedRequest(
            "No cityos_refresh cookie came with the request; log in with POST /auth/login.",
            "cityos_refresh 쿠키가 없습니다. POST /auth/login으로 로그인하세요.",
        )
    sent = request.headers.get(cookies.CSRF_HEADER, "")
    expected = request.cookies.get(cookies.CSRF_COOKIE, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise cookies.CsrfFailed(
            "Send the CSRF token (the cityos_csrf cookie) in the X-CSRF-Token header.",
            "CSRF 토큰(cityos_csrf 쿠키 값)을 X-CSRF-Token 헤더에 담아 보내세요.",
        )
    pair = await run_in_threadpool(
        lambda: service.refresh(
            identity.engine, refresh_token=token, settings=identity.settings, now=identity.now
        )
    )
    if not hmac.compare_digest(
        sent, cookies.csrf_token(pair.session_id, secret_key=identity.settings.secret_key)
    ):
        # A CSRF cookie of another session: end the new pair's session rather than hand it out.
        with identity.engine.begin() as connection:
            service.revoke_session(
                connection, session_id=pair.session_id, reason="csrf_mismatch", now=identity.now
            )
        raise cookies.CsrfFailed(
            "The CSRF token is not this session's; log in again.",
            "CSRF 토큰이 이 세션의 것이 아닙니다. 다시 로그인하세요.",
        )
    return _session_response(request, identity, pair)
