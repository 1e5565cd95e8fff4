"""Rate limits: token buckets per client IP and per API key or user, in this process.

Every request takes a token from its IP's bucket; one that carries a credential (a bearer
token, the session cookie or an API key) also takes one from the bucket of that user or
key. An empty bucket answers **429** with ``Retry-After`` (seconds until a token is back):
NGSI-LD ProblemDetails under ``/ngsi-ld``, the identity JSON error elsewhere. ``/healthz``
and ``/metrics`` are never limited (probes and scrapers).

Buckets live in the worker's memory: with N workers a client gets up to N times the rate.
Client IPs are the ASGI client address; behind a reverse proxy, run uvicorn with
``--proxy-headers --forwarded-allow-ips`` so that address is the real client.

A user is known by the ``sub`` of a correctly signed access token (the signature is checked,
so nobody can drain someone else's bucket by forging a claim; the session is not looked up:
that is the route's job). An API key is known by the SHA-256 of the whole key.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from starlette.requests import cookie_parser
from starlette.types import Scope

from cityos.config import Settings
from cityos.identity.cookies import ACCESS_COOKIE
from cityos.identity.errors import IdentityError
from cityos.identity.tokens import decode_access_token

EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})
MAX_BUCKETS = 100_000
MAX_KNOWN_CREDENTIALS = 4096
# Production defaults; development multiplies them (benchmarks, a developer's scripts).
PRODUCTION = {"ip_rate": 100.0, "ip_burst": 200, "client_rate": 50.0, "client_burst": 100}
DEVELOPMENT_FACTOR = 100


@dataclass(frozen=True)
class Limits:
    """Rates [requests/s] and bursts [requests] of the two kinds of bucket."""

    ip_rate: float
    ip_burst: int
    client_rate: float
    client_burst: int

    def __post_init__(self) -> None:
        if min(self.ip_rate, self.client_rate) <= 0 or min(self.ip_burst, self.client_burst) < 1:
            raise ValueError("rates must be > 0 and bursts >= 1")


def limits_of(settings: Settings) -> Limits | None:
    """Return the deployment's limits, or None when rate limiting is off."""
    enabled = settings.rate_limit
    if enabled is None:
        enabled = "off" if settings.mode == "test" else "on"
    if enabled == "off":
        return None
    factor = 1 if settings.mode == "production" else DEVELOPMENT_FACTOR
    return Limits(
        ip_rate=settings.rate_limit_ip_per_second or PRODUCTION["ip_rate"] * factor,
        ip_burst=settings.rate_limit_ip_burst or int(PRODUCTION["ip_burst"] * factor),
        client_rate=settings.rate_limit_client_per_second or PRODUCTION["client_rate"] * factor,
        client_burst=settings.rate_limit_client_burst or int(PRODUCTION["client_burst"] * factor),
    )


class TokenBuckets:
    """Token buckets by key, refilled continuously; the least recently used are forgotten.

    A forgotten bucket comes back full, which only ever favours the client; with
    ``max_buckets`` far above the number of active clients that does not matter.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``; return 0 if granted, else seconds until one is back."""
        now = self.clock()
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return wait


class ClientNames:
    """Credential -> the bucket key of its user or API key, remembered (bounded)."""

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key
        self._known: OrderedDict[str, str | None] = OrderedDict()
        self._keys: dict[str, str] = {}  # API key -> its bucket key

    def of(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """Return ``user:<id>`` or ``key:<digest>`` for the request's credential, else None.

        ``headers`` are the ASGI scope's (lower-case names); the first of each counts.
        """
        credential = authorization = cookie = None
        for header, value in headers:
            if header == b"x-api-key":
                if credential is None:
                    credential = value.decode("latin-1")
            elif header == b"authorization":
                if authorization is None:
                    authorization = value.decode("latin-1")
            elif header == b"cookie" and cookie is None:
                cookie = value.decode("latin-1")
        if credential is not None:
            key_name = self._keys.get(credential)
            if key_name is None:  # a device sends the same key with every request: hash it once
                key_name = "key:" + hashlib.sha256(credential.encode()).hexdigest()[:32]
                if len(self._keys) >= MAX_KNOWN_CREDENTIALS:
                    self._keys.clear()
                self._keys[credential] = key_name
            return key_name
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else ""
        else:
            token = cookie_parser(cookie or "").get(ACCESS_COOKIE, "")
        if not token:
            return None
        if token in self._known:
            self._known.move_to_end(token)
            return self._known[token]
        try:
            # Expiry is not the limiter's concern (the route refuses an expired token).
            claims = decode_access_token(
                token, secret_key=self.secret_key, now=datetime.min.replace(tzinfo=UTC)
            )
            name: str | None = f"user:{claims.user_id}"
        except IdentityError:
            name = None
        self._known[token] = name
        if len(self._known) > MAX_KNOWN_CREDENTIALS:
            self._known.popitem(last=False)
        return name


def _too_many(scope: Scope, wait: float) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    seconds = max(1, math.ceil(wait))
    detail = f"Too many requests; try again in {seconds} s."
    detail_ko = f"요청이 너무 많습니다. {seconds}초 후에 다시 시도하세요."
    if scope["path"].startswith("/ngsi-ld/"):
        body = {
            "type": "about:blank",  # NGSI-LD defines no error type for this (RFC 7807 4.2)
            "title": "Too Many Requests",
            "status": 429,
            "detail": f"{detail} / {detail_ko}",
        }
    else:
        body = {"error": "rate_limited", "detail": detail, "detail_ko": detail_ko}
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(seconds).encode()),
    ]
    return 429, headers, orjson.dumps(body)


class RateLimiter:
    """Which requests are beyond their IP's or their client's rate (answered 429)."""

    def __init__(
        self,
        *,
        limits: Limits,
        secret_key: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.by_ip = TokenBuckets(limits.ip_rate, limits.ip_burst, clock=clock)
        self.by_client = TokenBuckets(limits.client_rate, limits.client_burst, clock=clock)
        self.names = ClientNames(secret_key)

    def refusal(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """Take the request's tokens; return the 429 answer if it may not pass, else None."""
        if scope["path"] in EXEMPT_PATHS:
            return None
        client = scope.get("client")
        wait = self.by_ip.take(f"ip:{client[0] if client else '-'}")
        name = self.names.of(scope["headers"])
        if name is not None:
            wait = max(wait, self.by_client.take(name))
        if wait > 0:
            return _too_many(scope, wait)
        return None
