"""Webhook delivery of complaint events: an outbox, retried until the receiver says 2xx.

Each event of a complaint that registered a ``webhook_url`` is a row of
``complaints_webhooks``, written in the event's own transaction, so no step is lost even if
the process dies right after. :func:`deliver_due` sends what is due: right after the change
(the API schedules it) and on every run of the ``complaints_outbox`` job (``cityos.jobs``).
A sender *claims* a row by moving ``next_attempt_at`` past a lease, so two workers never
send one event at once. A failure is retried with exponential back-off (1 min, 2, 4 … capped
at 6 h); after :data:`MAX_ATTEMPTS` the row is marked failed and kept for the operator.
Delivery is at-least-once: receivers de-duplicate by ``event_id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cityos.governance.models import webhooks

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


def _send(client: httpx.Client, row: sa.Row) -> str | None:
    """POST one event; return None on 2xx, else why it failed."""
    try:
        response = client.post(
            row.url,
            content=orjson.dumps(row.payload),
            headers={"Content-Type": "application/json", "User-Agent": "CityOS-Open311"},
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
    ids: list[int] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Send the due webhook rows (or only ``ids``); return how many were delivered."""
    rows = _claim(engine, now=now, ids=ids)
    if not rows:
        return 0
    delivered = 0
    with httpx.Client(timeout=TIMEOUT, transport=transport, follow_redirects=False) as client:
        for row in rows:
            error = _send(client, row)
            attempts = int(row.attempts) + 1
            values: dict[str, object]
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
