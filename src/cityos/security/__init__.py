"""Hardening of the HTTP app: rate limits, CORS allow-list and security headers.

:func:`install_security` is called once by :func:`cityos.app.create_app`. Order, outermost
first: request metrics, security headers (so even a 429 or a CORS preflight carries them),
CORS, rate limits, the request size limit, then the app. All but CORS are parts of one
:class:`~cityos.security.edge.EdgeMiddleware`; with CORS on, CORS sits between two of them.
``docs/security.md`` ("Hardening") describes each.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from cityos.config import Settings
from cityos.observability import RequestMetrics
from cityos.security.edge import EdgeMiddleware
from cityos.security.ratelimit import RateLimiter, limits_of

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


def install_security(app: FastAPI, settings: Settings, *, metrics: RequestMetrics) -> None:
    """Add request metrics, security headers, CORS (if any origin), rate and size limits."""
    limits = limits_of(settings)
    limiter = None
    if limits is not None:
        limiter = RateLimiter(limits=limits, secret_key=settings.secret_key)
    tls, max_body = settings.behind_tls, settings.max_request_bytes
    if not settings.cors_origins:
        app.add_middleware(
            EdgeMiddleware, metrics=metrics, behind_tls=tls, limiter=limiter, max_body=max_body
        )
        return
    app.add_middleware(EdgeMiddleware, limiter=limiter, max_body=max_body)  # innermost
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,  # the web app's cookies, from an allowed origin only
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=CORS_HEADERS,
        expose_headers=CORS_EXPOSED,
        max_age=600,
    )
    app.add_middleware(EdgeMiddleware, metrics=metrics, behind_tls=tls)
