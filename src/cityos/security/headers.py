"""Security headers on every response (added by :mod:`cityos.security.edge`, no buffering).

- ``Content-Security-Policy`` for a same-origin web app: scripts, styles, images, fonts and
  connections from this origin only, no plugins, no framing, forms post here. The API docs
  (``/docs``, ``/redoc``) load Swagger UI / ReDoc from their CDN and get a policy allowing
  exactly that.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
  ``X-Frame-Options: DENY`` (and ``frame-ancestors 'none'``), ``Cross-Origin-Opener-Policy``,
  a ``Permissions-Policy`` that keeps the camera and microphone off.
- ``Strict-Transport-Security`` only when the request came over TLS or
  ``CITYOS_BEHIND_TLS=true`` (RFC 6797 8.1: never over plain HTTP).

A header the route set itself is left as it is.
"""

from __future__ import annotations

from starlette.types import Message, Scope

APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# What FastAPI's Swagger UI and ReDoc pages load (inline bootstrap script, jsDelivr CDN).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
HSTS = "max-age=63072000; includeSubDomains"
COMMON = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), payment=(), geolocation=(self)"),
)


def _raw(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs)


# The headers to add, encoded once: (CSP is the docs' policy, over TLS) -> raw pairs.
_ADDED = {
    (docs, tls): _raw(
        COMMON
        + (("Content-Security-Policy", DOCS_CSP if docs else APP_CSP),)
        + ((("Strict-Transport-Security", HSTS),) if tls else ())
    )
    for docs in (False, True)
    for tls in (False, True)
}


# Every header name that may be added (lower-case bytes).
_NAMES = frozenset(name for pairs in _ADDED.values() for name, _ in pairs)


def security_headers(scope: Scope, *, behind_tls: bool) -> tuple[tuple[bytes, bytes], ...]:
    """Return the raw security headers a response to this request gets."""
    return _ADDED[scope["path"] in DOCS_PATHS, behind_tls or scope.get("scheme") == "https"]


def add_security_headers(message: Message, added: tuple[tuple[bytes, bytes], ...]) -> None:
    """Add ``added`` to an ``http.response.start`` message, but no header the route set itself.

    What ``MutableHeaders.setdefault`` does for each header, in one pass; a response that
    sets none of them (nearly all) gets them all without a set of its header names.
    """
    headers = message["headers"] = list(message["headers"])
    for name, _ in headers:
        if name in _NAMES:
            present = {name for name, _ in headers}
            headers.extend(pair for pair in added if pair[0] not in present)
            return
    headers.extend(added)
