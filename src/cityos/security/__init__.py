"""Hardening of the HTTP app: rate limits, CORS allow-list and security headers.

:func:`install_security` is called once by :func:`cityos.app.create_app`. Order, outermost
first: security headers (so even a 429 or a CORS preflight carries them), CORS, rate limits,
the request size limit, then the app. ``docs/security.md`` ("Hardening") describes each.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from cityos.config import Settings
from cityos.security.body_limit import BodyLimitMiddleware
from cityos.security.headers import SecurityHeadersMiddleware
from cityos.security.ratelimit import RateLimitMiddleware, limits_of

__all__ = ["install_security"]

CORS_HEADERS = [
    "Accept",
    "Authorization",
    "Content-Type",
    "Link",
    "NGSILD-Tenant",
    "X-API-Key",
    "X-CSRF-Token",
]
CORS_EXPOSED = ["Link", "Location", "NGSILD-Results-Count", "Retry-After"]


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the size limit, rate limiter, CORS allow-list (if any origin) and security headers."""
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    limits = limits_of(settings)
    if limits is not None:
        app.add_middleware(RateLimitMiddleware, limits=limits, secret_key=settings.secret_key)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,  # the web app's cookies, from an allowed origin only
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, behind_tls=settings.behind_tls)
