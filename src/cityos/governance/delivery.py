"""Webhook delivery of complaint events: an outbox, retried until the receiver says 2xx.

Each event of a complaint that registered a ``webhook_url`` is a row of
``complaints_webhooks``, written in the event's own transaction, so no step is lost even if
the process dies right after. :func:`deliver_due` sends what is due: right after the change
(the API schedules it) and on every run of the ``complaints_outbox`` job (``cityos.jobs``).
A sender *claims* a row by moving ``next_attempt_at`` past a lease, so two workers never
send one event at once. A failure is retried with exponential back-off (1 min, 2, 4 … capped
at 6 h); after :data:`MAX_ATTEMPTS` the row is marked failed and kept for the operator.
Delivery is at-least-once: receivers de-duplicate by ``event_id``.

Before each attempt the URL is checked again (:mod:`cityos.security.outbound`): its host is
resolved, every address must be public or allowed, and the request goes to the checked
address (the ``Host`` header and TLS server name stay the URL's), so a name that re-binds to
an internal address after registration reaches nothing. A refused target fails the row at
once (a retry would be refused too); a name that does not resolve is retried.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cityos.governance.models import webhooks
from cityos.security import outbound

MAX_ATTEMPTS = 10
LEASE = timedelta(minutes=2)  # a claimed row is not sent again by another worker for this long
TIMEOUT = 10.0  # [s] per attempt
BATCH = 100


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next attempt after ``attempts`` failures (1 min · 2^n, ≤ 6 h)."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=6))


def _claim(engine: Engine, *, now: datetime, ids: list[int] | None) -> list[sa.Row]:
    due = (
        webhooks.c.delivered_at.is_(None)
        & webhooks.c.failed_at.is_(None)
        & (webhooks.c.next_attempt_at <= now)
    )
    if ids is not None:
        due = due & webhooks.c.id.in_(ids)
    claimed = []
    with engine.connect() as connection:
        candidates = connection.execute(
            sa.select(webhooks).where(due).order_by(webhooks.c.id).limit(BATCH)
        ).all()
    for row in candidates:
        with engine.begin() as connection:
            won = connection.execute(
                sa.update(webhooks)
                .where(webhooks.c.id == row.id, webhooks.c.next_attempt_at == row.next_attempt_at)
                .where(webhooks.c.delivered_at.is_(None))
                .values(next_attempt_at=now + LEASE)
            ).rowcount
        if won == 1:
            claimed.append(row)
    return claimed


def pinned(url: str, address: outbound.IPAddress) -> tuple[str, dict[str, str], dict[str, Any]]:
    """Return ``url`` aimed at the checked ``address``, its Host header and TLS server name."""
    parts = urlsplit(url)
    host = str(parts.hostname)
    literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    original = parts.netloc.rpartition("@")[2]
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": original}, extensions


class Refused(Exception):
    """The webhook URL is not allowed (SSRF check); the row fails without retries."""


def _send(client: httpx.Client, row: sa.Row, policy: outbound.OutboundPolicy) -> str | None:
    """POST one event; return None on 2xx, else why it failed (Refused: never retry)."""
    try:
        addresses = outbound.resolve_checked(row.url, policy)
    except outbound.UnresolvedHost as error:
        return error.detail[:500]
    except outbound.UnsafeTarget as error:
        raise Refused(error.detail[:500]) from None
    url, host, extensions = pinned(row.url, addresses[0])
    try:
        response = client.post(
            url,
            content=orjson.dumps(row.payload),
            headers={"Content-Type": "application/json", "User-Agent": "CityOS-Open311", **host},
            extensions=extensions,
        )
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def deliver_due(
    engine: Engine,
    *,
    now: datetime,
    policy: outbound.OutboundPolicy,
    ids: list[int] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Send the due webhook rows (or only ``ids``) where ``policy`` allows; return how many."""
    rows = _claim(engine, now=now, ids=ids)
    if not rows:
        return 0
    delivered = 0
    with httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False) as client:
        for row in rows:
            attempts = int(row.attempts) + 1
            values: dict[str, object]
            try:
                error = _send(client, row, policy)
            except Refused as refused:
                error, attempts = f"refused: {refused}", MAX_ATTEMPTS
            if error is None:
                values = {"attempts": attempts, "delivered_at": now, "last_error": None}
                delivered += 1
            elif attempts >= MAX_ATTEMPTS:
                values = {"attempts": attempts, "failed_at": now, "last_error": error}
            else:
                values = {
                    "attempts": attempts,
                    "next_attempt_at": now + backoff(attempts),
                    "last_error": error,
                }
            with engine.begin() as connection:
                connection.execute(
                    sa.update(webhooks).where(webhooks.c.id == row.id).values(**values)
                )
    return delivered


def pending_ids(engine: Engine, *, request_id: int) -> list[int]:
    """Return the undelivered webhook rows of a complaint (to send right after a change)."""
    with engine.connect() as connection:
        return [
            int(r.id)
            for r in connection.execute(
                sa.select(webhooks.c.id).where(
                    webhooks.c.request_id == request_id, webhooks.c.delivered_at.is_(None)
                )
            )
        ]
