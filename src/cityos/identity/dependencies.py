"""FastAPI dependencies: the identity context of a request and who is calling.

The router needs the app's settings and a database engine. Settings come from
``request.app.state.settings`` (``cityos.app.create_app`` sets it). The engine is made on
first use with ``cityos.db.make_engine`` and cached as ``request.app.state.identity_engine``;
set that attribute beforehand to share an engine, and call :func:`close_engine` on shutdown
(or let the process end). Two more optional hooks on ``app.state``:
``identity_clock`` (a callable returning an aware UTC datetime; tests move time with it) and
``resident_verifier`` (a :class:`~cityos.identity.verification.ResidentVerifier`; the
development verifier by default).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.engine import Engine

from cityos.config import Settings
from cityos.db import make_engine
from cityos.identity import cookies, keys, service, tokens
from cityos.identity.errors import AuthenticationRequired, Forbidden, InvalidToken
from cityos.identity.models import Principal, Role
from cityos.identity.verification import DevelopmentVerifier, ResidentVerifier

_engine_lock = threading.Lock()
# Declared for the OpenAPI document ("Authorize" in /docs); the headers are read below.
_bearer_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
_api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


@dataclass(frozen=True)
class IdentityContext:
    """What an identity route works with: settings, engine, the time now, the verifier."""

    settings: Settings
    engine: Engine
    now: datetime
    verifier: ResidentVerifier


def engine_for(app: FastAPI) -> Engine:
    """Return the app's identity engine, creating and caching it on first use."""
    engine: Engine | None = getattr(app.state, "identity_engine", None)
    if engine is None:
        with _engine_lock:
            engine = getattr(app.state, "identity_engine", None)
            if engine is None:
                engine = make_engine(app.state.settings)
                app.state.identity_engine = engine
    return engine


def close_engine(app: FastAPI) -> None:
    """Dispose of the cached identity engine, if one was made."""
    engine: Engine | None = getattr(app.state, "identity_engine", None)
    if engine is not None:
        engine.dispose()
        app.state.identity_engine = None


def identity_context(request: Request) -> IdentityContext:
    """Return the request's identity context (see the module docstring for the hooks)."""
    app = request.app
    clock: Callable[[], datetime] | None = getattr(app.state, "identity_clock", None)
    verifier: ResidentVerifier | None = getattr(app.state, "resident_verifier", None)
    return IdentityContext(
        settings=app.state.settings,
        engine=engine_for(app),
        now=clock() if clock is not None else datetime.now(UTC),
        verifier=verifier or DevelopmentVerifier(),
    )


Identity = Annotated[IdentityContext, Depends(identity_context)]


def optional_principal(
    request: Request,
    identity: Identity,
    _bearer: Annotated[str | None, Depends(_bearer_scheme)],
    _key: Annotated[str | None, Depends(_api_key_scheme)],
) -> Principal | None:
    """Return the caller from ``Authorization: Bearer``, ``X-API-Key`` or the session cookie.

    A credential that is present but wrong is an error (401), never anonymity; a cookie on
    an unsafe request needs its CSRF token (403, :mod:`cityos.identity.cookies`).
    """
    credentials = cookies.credentials_of(request.method, request.headers, request.cookies)
    principal, _ = authenticate(
        identity, authorization=credentials.authorization, api_key=credentials.api_key
    )
    cookies.check_csrf_binding(credentials, principal, identity.settings.secret_key)
    return principal


def authenticate(
    identity: IdentityContext, *, authorization: str | None, api_key: str | None
) -> tuple[Principal | None, datetime | None]:
    """Return the caller behind these headers (None if neither is sent) and when it expires.

    A credential that is present but wrong raises (401), never anonymity. The expiry is the
    access token's; an API key has none.
    """
    if authorization is not None and api_key is not None:
        raise InvalidToken(
            "Send either a bearer token or an API key, not both.",
            "Bearer 토큰과 API 키 중 하나만 보내세요.",
        )
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken(
                "The Authorization header must be 'Bearer <access token>'.",
                "Authorization 헤더는 'Bearer <액세스 토큰>' 형식이어야 합니다.",
            )
        claims = tokens.decode_access_token(
            token.strip(), secret_key=identity.settings.secret_key, now=identity.now
        )
        with identity.engine.connect() as connection:
            principal = service.principal_for_access_token(
                connection, token=token.strip(), settings=identity.settings, now=identity.now
            )
        return principal, claims.expires_at
    if api_key is not None:
        with identity.engine.begin() as connection:
            return keys.principal_for_api_key(connection, key=api_key, now=identity.now), None
    return None, None


def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """Return the caller, or refuse an anonymous request with 401."""
    if principal is None:
        raise AuthenticationRequired(
            "Log in first: send 'Authorization: Bearer <token>' or 'X-API-Key', "
            "or log in with POST /auth/login (cookies).",
            "먼저 로그인하세요: 'Authorization: Bearer <토큰>' 또는 'X-API-Key'를 보내거나 "
            "POST /auth/login으로 로그인하세요(쿠키).",
        )
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """Return a dependency that lets through only callers holding one of ``roles``."""
    names = ", ".join(sorted(roles))

    def check(principal: CurrentUser) -> Principal:
        if not principal.has_any(*roles):
            raise Forbidden(
                f"This needs one of the roles: {names}.",
                f"이 작업에는 다음 역할이 필요합니다: {names}.",
            )
        return principal

    return check


AdminUser = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
StaffUser = Annotated[Principal, Depends(require_roles(Role.OPERATOR, Role.ADMIN))]
