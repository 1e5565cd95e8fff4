"""What every HTTP request gets around the app, in one pure-ASGI layer (no body buffering).

In order, outermost first, as four middlewares did before (each a coroutine frame and two
of them a ``send`` wrapper per request, about 70,000 instructions together; benchmarks/
hub_cost.py): the request metrics (count and time by route template), the security headers
(:mod:`cityos.security.headers`), the rate limits (:mod:`cityos.security.ratelimit`) and
the request size limit (:mod:`cityos.security.body_limit`). Each part is optional. With a
CORS allow-list, :func:`cityos.security.install_security` puts CORS between the two halves
(metrics and headers outside it, limits inside), as before.
"""

from __future__ import annotations

from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityos.observability import RequestMetrics
from cityos.security import body_limit
from cityos.security.headers import add_security_headers, security_headers
from cityos.security.ratelimit import RateLimiter


class EdgeMiddleware:
    """Metrics, security headers, rate limits and the size limit of every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: RequestMetrics | None = None,
        behind_tls: bool | None = None,
        limiter: RateLimiter | None = None,
        max_body: int | None = None,
    ) -> None:
        """Wrap ``app``; ``behind_tls`` None adds no security headers, else as the setting."""
        self.app = app
        self.metrics = metrics
        self.behind_tls = behind_tls
        self.limiter = limiter
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500
        metrics = self.metrics
        tls = self.behind_tls
        added = None if tls is None else security_headers(scope, behind_tls=tls)

        async def send_on(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if added is not None:
                    add_security_headers(message, added)
            await send(message)

        try:
            if self.limiter is not None:
                refusal = self.limiter.refusal(scope)
                if refusal is not None:
                    code, headers, body = refusal
                    start = {"type": "http.response.start", "status": code, "headers": headers}
                    await send_on(start)
                    await send_on({"type": "http.response.body", "body": body})
                    return
            limit = self.max_body
            if limit is not None and not body_limit.exempt(scope["path"]):
                if body_limit.declared_too_large(scope, limit):
                    await body_limit.refuse(send_on, limit)
                    return
                buffered = await body_limit.read_within(receive, limit)
                if buffered is None:
                    await body_limit.refuse(send_on, limit)
                    return
                receive = body_limit.replay(buffered, receive)
            wrapped = metrics is not None or added is not None
            await self.app(scope, receive, send_on if wrapped else send)
        finally:
            if metrics is not None:
                metrics.record(scope, status, perf_counter() - started)
