"""Cookie sessions for the web app: HttpOnly token cookies and a double-submit CSRF token.

``POST /auth/login`` sets three cookies:

- ``cityos_access``: the JWT access token (HttpOnly, ``Path=/``, ``SameSite=Lax``);
- ``cityos_refresh``: the refresh token (HttpOnly, ``Path=/auth``, ``SameSite=Strict``), sent
  only to ``POST /auth/refresh`` and ``/auth/logout``;
- ``cityos_csrf``: the CSRF token, readable by the page's script (not HttpOnly).

All are ``Secure`` when the request came over TLS or ``CITYOS_BEHIND_TLS=true``. A request
authenticated by the access cookie with an unsafe method (anything but GET, HEAD, OPTIONS)
must echo the CSRF cookie in ``X-CSRF-Token``; the token is also bound to the session
(``HMAC(key, session id)``), so a cookie planted by a sibling site does not pass. Requests
with ``Authorization`` or ``X-API-Key`` ignore the cookies and need no CSRF token (a
browser never adds those headers by itself).

Login CSRF (a hostile page posting its own credentials to ``/auth/login`` so the victim's
browser works in the attacker's account) is refused by the ``Origin`` check: a browser sends
``Origin`` with every POST, and it must be this site's or one of ``CITYOS_CORS_ORIGINS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from cityos.config import Settings
from cityos.identity.errors import Forbidden
from cityos.identity.models import Principal

ACCESS_COOKIE = "cityos_access"
REFRESH_COOKIE = "cityos_refresh"
CSRF_COOKIE = "cityos_csrf"
CSRF_HEADER = "x-csrf-token"
REFRESH_PATH = "/auth"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CsrfFailed(Forbidden):
    """A cookie-authenticated unsafe request without the matching X-CSRF-Token header."""

    code = "csrf_failed"


def csrf_token(session_id: str, *, secret_key: str) -> str:
    """Return the CSRF token of a session (HMAC-SHA256 with a key derived for CSRF)."""
    key = hmac.new(secret_key.encode(), b"cityos/identity/csrf/v1", hashlib.sha256).digest()
    digest = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_tls(connection: HTTPConnection, settings: Settings) -> bool:
    """Return True when the client reached us over TLS (directly or through a TLS proxy)."""
    return settings.behind_tls or connection.url.scheme in ("https", "wss")


@dataclass(frozen=True)
class Credentials:
    """The credential a request carries, as headers, and a CSRF token still to bind."""

    authorization: str | None
    api_key: str | None
    from_cookie: bool = False
    csrf: str | None = None  # checked against the session once the caller is known


def _refuse_csrf() -> CsrfFailed:
    return CsrfFailed(
        "Send the CSRF token (the cityos_csrf cookie) in the X-CSRF-Token header.",
        "CSRF 토큰(cityos_csrf 쿠키 값)을 X-CSRF-Token 헤더에 담아 보내세요.",
    )


def check_origin(connection: HTTPConnection, settings: Settings) -> None:
    """Refuse a browser request whose ``Origin`` is neither this site nor an allowed origin.

    Requests without ``Origin`` (scripts, curl, mobile apps) pass: only browsers send it, and
    they always do on POST.
    """
    origin = connection.headers.get("origin")
    if origin is None or origin in settings.cors_origins:
        return
    if urlsplit(origin).netloc.lower() == connection.headers.get("host", "").lower():
        return
    raise CsrfFailed(
        "This request came from another website (Origin header); log in on CityOS itself.",
        "다른 웹사이트에서 온 요청입니다(Origin 헤더). CityOS에서 직접 로그인하세요.",
    )


def credentials_of(
    method: str, headers: Mapping[str, str], cookies: Mapping[str, str]
) -> Credentials:
    """Return the request's credential: headers first, else the access cookie (CSRF-checked)."""
    authorization = headers.get("authorization")
    api_key = headers.get("x-api-key")
    if authorization is not None or api_key is not None:
        return Credentials(authorization, api_key)
    token = cookies.get(ACCESS_COOKIE)
    if not token:
        return Credentials(None, None)
    csrf: str | None = None
    if method.upper() not in SAFE_METHODS:
        sent, expected = headers.get(CSRF_HEADER, ""), cookies.get(CSRF_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            raise _refuse_csrf()
        csrf = sent
    return Credentials(f"Bearer {token}", None, from_cookie=True, csrf=csrf)


def check_csrf_binding(credentials: Credentials, principal: Principal | None, secret: str) -> None:
    """Refuse a CSRF token that is not the one of the caller's session."""
    if credentials.csrf is None:
        return
    session = principal.session_id if principal is not None else None
    if session is None or not hmac.compare_digest(
        credentials.csrf, csrf_token(session, secret_key=secret)
    ):
        raise _refuse_csrf()


def set_session_cookies(
    response: Response,
    *,
    access_token: str,
    access_expires_at: datetime,
    refresh_token: str,
    refresh_expires_at: datetime,
    session_id: str,
    now: datetime,
    secure: bool,
    secret_key: str,
) -> str:
    """Set the three session cookies on a response; return the CSRF token."""
    csrf = csrf_token(session_id, secret_key=secret_key)
    access_age = max(0, int((access_expires_at - now).total_seconds()))
    refresh_age = max(0, int((refresh_expires_at - now).total_seconds()))
    response.set_cookie(
        ACCESS_COOKIE, access_token, max_age=access_age, path="/",
        secure=secure, httponly=True, samesite="lax",
    )  # fmt: skip
    response.set_cookie(
        REFRESH_COOKIE, refresh_token, max_age=refresh_age, path=REFRESH_PATH,
        secure=secure, httponly=True, samesite="strict",
    )  # fmt: skip
    # The CSRF cookie lives as long as the session so the page can still send it to refresh.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=refresh_age, path="/",
        secure=secure, httponly=False, samesite="lax",
    )  # fmt: skip
    return csrf


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    """Expire the session cookies (logout, account deletion)."""
    for name, path, httponly in (
        (ACCESS_COOKIE, "/", True),
        (REFRESH_COOKIE, REFRESH_PATH, True),
        (CSRF_COOKIE, "/", False),
    ):
        response.delete_cookie(name, path=path, secure=secure, httponly=httponly, samesite="lax")
