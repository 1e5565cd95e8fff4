"""After a complaint changes: refresh its hub copy and send its webhooks, now and by the job.

:func:`after_change` runs right after the response (a background task); whatever it could
not finish (hub down, receiver down) the ``complaints_outbox`` job (:func:`run_job`, every
30 s in ``cityos.jobs``) finishes later, because both work from the database: rows with a
stale ``hub_synced_at`` and undelivered ``complaints_webhooks`` rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool

from cityos.governance import delivery, hub_copy
from cityos.identity.dependencies import engine_for
from cityos.observability import log
from cityos.security.outbound import policy_of


def _sync(app: Any, request_ids: list[int], base_url: str) -> None:
    engine = engine_for(app)
    now = datetime.now(UTC)
    try:
        hub_copy.publish(
            engine=engine,
            store=app.state.store,
            resolver=app.state.contexts,
            settings=app.state.settings,
            request_ids=request_ids,
            base_url=base_url,
            now=now,
        )
    except Exception as exc:  # noqa: BLE001 - the job writes it again
        log.warning("complaint_hub_copy_deferred", error_type=type(exc).__name__)
    for request_id in request_ids:
        ids = delivery.pending_ids(engine, request_id=request_id)
        if ids:
            transport = getattr(app.state, "complaint_webhook_transport", None)
            policy = policy_of(app.state.settings)
            delivery.deliver_due(engine, now=now, policy=policy, ids=ids, transport=transport)


async def after_change(app: Any, request_ids: list[int], base_url: str) -> None:
    """Refresh the hub copies and send the due webhooks of these complaints (best effort)."""
    try:
        await run_in_threadpool(_sync, app, request_ids, base_url)
    except Exception as exc:  # noqa: BLE001 - the job retries; the response is already sent
        log.warning("complaint_after_change_deferred", error_type=type(exc).__name__)


def run_job(engine: Any, app_state: Any, settings: Any, now: datetime) -> int:
    """Publish stale hub copies and deliver due webhooks; return how many of both."""
    done = 0
    store = getattr(app_state, "store", None)
    contexts = getattr(app_state, "contexts", None)
    if store is not None and contexts is not None:
        stale = hub_copy.unsynced(engine)
        # Outside a request the app's own address is the best base for photo URLs.
        base = f"http://{settings.host}:{getattr(settings, 'port', 8000)}/"
        done += hub_copy.publish(
            engine=engine,
            store=store,
            resolver=contexts,
            settings=settings,
            request_ids=stale,
            base_url=base,
            now=now,
        )
    transport = getattr(app_state, "complaint_webhook_transport", None)
    done += delivery.deliver_due(engine, now=now, policy=policy_of(settings), transport=transport)
    return done
