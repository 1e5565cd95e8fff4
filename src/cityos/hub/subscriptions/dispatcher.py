"""Deliver the outbox: in ``seq`` order per subscription, with retries, until accepted.

One asyncio task (started in the app's lifespan) wakes when a write committed notifications
(the writer's after-commit hook) and at least every ``poll`` seconds. For each subscription
with queued rows it takes the subscription's delivery lease (so one process at a time sends
it when several share the database), then sends its rows oldest first, one at a time; a row
is deleted only once the receiver accepted it. A failure stops that subscription's queue and
retries it after an exponential back-off (``notify_retry_initial`` doubling up to
``notify_retry_max``, both settings); its later rows wait, so a receiver gets every
notification of an entity in order.
``throttling`` spaces sends; periodic subscriptions (``timeInterval``) queue the current
state of their entities every interval. All state is in the database: a restarted process
continues where the last one stopped (at-least-once: a row sent but not yet deleted when the
process died is sent again, with the same notification ``id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from cityos.config import get_settings
from cityos.hub._time import utc_now
from cityos.hub.render import render_entity
from cityos.hub.store.base import EntityQuery, HubStore
from cityos.hub.subscriptions import repository
from cityos.hub.subscriptions.index import Compiled, SubscriptionIndex
from cityos.hub.subscriptions.matcher import NotificationWriter, notification, with_linked
from cityos.hub.subscriptions.senders import (
    DEFAULT_TIMEOUT,
    DeliveryFailed,
    HttpSender,
    MqttSender,
)
from cityos.hub.typeq import TypeSelection
from cityos.observability import log
from cityos.security import outbound

T = TypeVar("T")
DEFAULT_TENANT = "urn:ngsi-ld:tenant:default"
RETRY_FIRST = 0.5  # [s] first retry of a failing endpoint (Settings.notify_retry_initial)
RETRY_MAX = 30.0  # [s] longest wait between retries (Settings.notify_retry_max)
LEASE = 15.0  # [s] a crashed process's subscriptions are taken over after this
BATCH = 200  # rows read per round trip
PERIODIC_MAX = 10_000  # entities in one periodic notification
FLUSH = 50  # delivered rows deleted per transaction (at most this many resent after a crash)
# Ids of the subscriptions CityOS makes for itself (the web map's live feed); callers may not
# take them (hub API), and their endpoints are not a caller's say-so (no SSRF check).
SERVER_OWNED = "urn:ngsi-ld:Subscription:cityos-"
STOP_WAIT = 5.0  # [s] stop() waits at most this long for each step of the shutdown
HOST_CHECK_TTL = 5.0  # [s] an endpoint host's SSRF check (DNS answer or refusal) is reused


Rows = list[tuple[int, str]]  # (seq, notification) of one subscription, oldest first
_Delivered = tuple[str, str, list[int], dict[str, Any]]  # tenant, subscription, seqs, stats


def backoff(failures: int, first: float = RETRY_FIRST, most: float = RETRY_MAX) -> float:
    """Return the wait [s] before retry number ``failures``: first, 2 × first, … at most most."""
    return float(min(most, first * 2 ** min(64, max(0, failures - 1))))


class LocalSender:
    """Delivers to a receiver in this process (an endpoint URI registered in ``local``)."""

    def __init__(self, receive: Callable[[bytes], None]) -> None:
        self.receive = receive

    async def send(self, endpoint: dict[str, Any], body: bytes, headers: dict[str, str]) -> None:
        """Hand ``body`` to the receiver; raise DeliveryFailed if it refuses it."""
        try:
            self.receive(body)
        except Exception as error:  # noqa: BLE001 - the row stays for a retry
            raise DeliveryFailed(
                f"local receiver failed: {error}", f"내부 수신자가 실패했습니다: {error}"
            ) from None


class Dispatcher:
    """Delivers queued notifications; one per process.

    ``local`` maps endpoint URIs served by this very process (the web app's live feed) to a
    receiver called on the event loop instead of an HTTP request to ourselves; another
    process holding the subscription's lease still delivers to the URI over HTTP.
    """

    def __init__(
        self,
        store: HubStore,
        index: SubscriptionIndex,
        writer: NotificationWriter,
        *,
        poll: float = 1.0,
        outbound_policy: outbound.OutboundPolicy | None = None,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.store = store
        # SSRF check before sending to a caller's endpoint (cityos.security.outbound); each
        # host's answer is kept HOST_CHECK_TTL seconds, not looked up per subscription and round
        self.outbound = outbound_policy or outbound.policy_of(get_settings())
        self.checked_hosts = outbound.CheckedHosts(HOST_CHECK_TTL)
        self.index = index
        self.writer = writer
        self.poll = poll
        self.retry_first = retry_first  # [s]
        self.retry_max = retry_max  # [s]
        self.worker = f"dispatcher-{uuid.uuid4()}"
        self.http = HttpSender(timeout)
        self.mqtt = MqttSender(timeout)
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._failures: dict[tuple[str, str], int] = {}
        self._retry_at: dict[tuple[str, str], float] = {}
        self._last_sent: dict[tuple[str, str], float] = {}
        self._next_periodic: dict[tuple[str, str], float] = {}
        self.local: dict[str, LocalSender] = {}
        self._flushes: set[asyncio.Future[None]] = set()
        # delivered rows waiting to be deleted, with the future their senders await
        self._batch: tuple[list[_Delivered], asyncio.Future[None]] | None = None
        self._writing: asyncio.Future[None] | None = None  # the batch of deletes committing
        self._again: set[tuple[str, str]] = set()  # busy when a round saw new rows of theirs
        self._stopping = False

    def wake(self) -> None:
        """Ask for a delivery round now (thread-safe; called after a COMMIT)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._event.set)

    async def start(self) -> None:
        """Start delivering in the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="cityos-notifications")

    async def stop(self) -> None:
        """Stop delivering, give up the leases and close connections.

        Every step is bounded by ``STOP_WAIT``: a server must shut down even when a send,
        a database call or a connection close does not end; what it gave up on is logged
        (an unfinished row stays in the outbox and is sent again by the next process).
        """
        self._stopping = True
        tasks = [t for t in (self._task, *self._busy.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await self._bounded("tasks", self._settle(tasks))
        self._loop = None
        await self._bounded(
            "release", self._write(DEFAULT_TENANT, lambda db: repository.release(db, self.worker))
        )
        await self._bounded("http_close", self.http.close())
        await self._bounded("mqtt_close", asyncio.to_thread(self.mqtt.close))

    async def _settle(self, cancelled: list[asyncio.Task[None]]) -> None:
        """Wait until the cancelled tasks and the deletes of delivered rows ended.

        A cancelled task that is still running after 0.1 s is cancelled again (a library
        may have swallowed the first cancellation); the deletes are left to finish.
        """
        while True:
            pending = {t for t in (*cancelled, *self._flushes) if not t.done()}
            if not pending:
                if self._batch is None:
                    return
                await asyncio.sleep(0)  # a batch of deletes starts in the next iteration
                continue
            _, late = await asyncio.wait(pending, timeout=0.1)
            for task in late & set(cancelled):
                task.cancel()

    @staticmethod
    async def _bounded(step: str, work: Any) -> None:
        """Await ``work`` for at most STOP_WAIT seconds; log (never raise) when it fails."""
        try:
            async with asyncio.timeout(STOP_WAIT):
                await work
        except TimeoutError:
            log.warning("notification_stop_gave_up", step=step, seconds=STOP_WAIT)
        except Exception:  # noqa: BLE001 - shutting down: log and go on
            log.exception("notification_stop_failed", step=step)

    async def _call(self, func: Callable[..., T], *args: Any, heavy: bool = False) -> T:
        """Run a database call: inline on embedded SQLite (a thread hop costs more than the
        call), in the store's threads otherwise or when it may scan many rows."""
        if self.store.inline_short_calls and not heavy:
            return func(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.store.executor, func, *args)

    async def _read(self, func: Callable[[repository.Db], T], *, heavy: bool = False) -> T:
        def run() -> T:
            with repository.reading(self.store) as db:
                return func(db)

        return await self._call(run, heavy=heavy)

    async def _write(self, tenant: str, func: Callable[[repository.Db], T]) -> T:
        def run() -> T:
            with self.store.transaction(tenant) as tx:
                return func(repository.Db(tx.connection, tx.backend))

        return await self._call(run)

    async def _run(self) -> None:
        # stop() also sets ``_stopping``, which ends the loop whatever became of the
        # cancellation (see the comment on the wait below).
        woken = False
        while not self._stopping:
            try:
                await self.round(refresh=not woken)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
                log.exception("notification_round_failed")
            woken = False
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
            # that arrives in the loop iteration where the event is set (CPython gh-86296),
            # and this loop then ran for ever, so the app's shutdown never returned.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._event.wait()
                woken = True
            self._event.clear()

    async def round(self, *, refresh: bool = True) -> None:
        """Start delivery of every subscription with queued rows, and due periodic ones.

        One transaction takes the leases of every subscription with queued rows that this
        process is not already sending and reads their oldest rows, so a write that fans out
        to many subscriptions costs one database round trip here, not one per subscription.
        A round woken by a local COMMIT skips the index check (the write just did it).
        """
        if refresh:
            await self._read(self.writer.refresh, heavy=True)  # may rebuild the index
        now = time.monotonic()
        for sub in self.index.periodic():
            key = (sub.tenant, sub.id)
            if sub.live(datetime.now(UTC)) and now >= self._next_periodic.get(key, 0.0):
                assert sub.periodic is not None
                self._next_periodic[key] = now + sub.periodic
                await self._queue_periodic(sub)
        busy = set(self._busy)
        skip = busy | {k for k, t in self._retry_at.items() if now < t}
        clock = time.time()

        def take(db: repository.Db) -> tuple[dict[tuple[str, str], Rows], list[tuple[str, str]]]:
            waiting = repository.pending(db)
            free = [key for key in waiting if key not in skip]
            mine = repository.claim_many(
                db, free, worker=self.worker, now=clock, until=clock + LEASE
            )
            return repository.queued_many(db, mine, BATCH), [k for k in waiting if k in busy]

        batches, seen_busy = await self._write(DEFAULT_TENANT, take)
        for key in seen_busy:
            if key in self._busy:  # still sending: it needs a round when it ends
                self._again.add(key)
            else:  # it ended while its new rows were read here: nothing else wakes a round
                self._event.set()
        for key, rows in batches.items():
            if rows and key not in self._busy and not self._stopping:
                self._busy[key] = asyncio.create_task(self._drain(key, rows))

    async def _queue_periodic(self, sub: Compiled) -> None:
        """Queue one notification with the current state of the periodic subscription."""

        def collect() -> list[dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for kind in sorted({t for s in sub.selectors for t in s.types.all_types()}):
                query = EntityQuery(types=TypeSelection((frozenset({kind}),)))
                for entity in self.store.iter_all(sub.tenant, query):
                    if sub.selects(entity):
                        found[entity["id"]] = entity
                        if len(found) >= PERIODIC_MAX:
                            break
            data: list[dict[str, Any]] = []
            for entity in found.values():
                data += with_linked(
                    sub, entity, render_entity(entity, sub.ctx, sub.opts), store=self.store
                )
            return data

        data = await self._call(collect, heavy=True)
        if not data:
            return
        body = orjson.dumps(notification(sub, data, None))

        def enqueue(db: repository.Db) -> None:
            repository.enqueue(db, [(sub.tenant, sub.id, None, body, utc_now())])

        await self._write(sub.tenant, enqueue)

    def _headers(self, sub: Compiled) -> dict[str, str]:
        accept = sub.endpoint.get("accept", "application/json")
        headers = {"Content-Type": accept}
        if accept == "application/json":
            headers["Link"] = sub.ctx.link_value()
        if sub.tenant != DEFAULT_TENANT:
            headers["NGSILD-Tenant"] = sub.tenant
        for pair in sub.endpoint.get("receiverInfo", ()):
            headers[pair["key"]] = pair["value"]
        return headers

    def _payload(self, sub: Compiled, text: str) -> bytes:
        note = orjson.loads(text)
        note["notifiedAt"] = utc_now()
        if sub.endpoint.get("accept") == "application/ld+json":
            note["@context"] = sub.ctx.body_value()
        return orjson.dumps(note)

    async def _drain(self, key: tuple[str, str], rows: Rows) -> None:
        try:
            more = await self._send_rows(*key, rows)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - retried at the next round
            log.exception("notification_delivery_crashed", subscription=key[1])
            self._retry_later(key, self.retry_first)
            more = False
        finally:
            self._busy.pop(key, None)
        # more rows: the batch was full, or a round saw rows queued while this one was sent
        # (a commit wakes a round, but that round skipped this busy subscription)
        again = key in self._again
        self._again.discard(key)
        if more and (again or len(rows) >= BATCH):
            self._event.set()

    async def _send_rows(self, tenant: str, sub_id: str, rows: Rows) -> bool:
        """Send a subscription's rows in order until one fails; True if all were accepted."""
        key = (tenant, sub_id)
        sub = self.index.get(tenant, sub_id)
        if sub is None:
            await self._read(self.writer.refresh, heavy=True)  # may rebuild the index
            sub = self.index.get(tenant, sub_id)
            if sub is None:
                return False  # deleted: its rows went with it
        headers = self._headers(sub)
        uri = sub.endpoint["uri"]
        sender: LocalSender | MqttSender | HttpSender = self.local.get(uri) or (
            self.mqtt if uri.startswith("mqtt") else self.http
        )
        refused = None if sender is self.local.get(uri) else await self._refused(sub_id, uri)
        done: list[int] = []
        stats: dict[str, Any] = {"sent": 0, "failed": 0, "ok": None, "bad": None, "error": None}
        ok = True
        try:
            for seq, text in rows:
                if sub.throttling:
                    wait = self._last_sent.get(key, 0.0) + sub.throttling - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                try:
                    if refused is not None:
                        raise refused
                    await sender.send(sub.endpoint, self._payload(sub, text), headers)
                except DeliveryFailed as error:
                    failures = self._failures.get(key, 0) + 1
                    self._failures[key] = failures
                    self._retry_later(key, backoff(failures, self.retry_first, self.retry_max))
                    if stats["sent"]:  # the earlier rows' success comes before this failure
                        stats["ok"] = utc_now()
                    stats.update(failed=1, bad=utc_now(), error=str(error)[:500])
                    log.warning("notification_failed", subscription=sub_id, error=str(error)[:200])
                    ok = False
                    break
                self._last_sent[key] = time.monotonic()
                self._failures.pop(key, None)
                self._retry_at.pop(key, None)
                done.append(seq)
                stats["sent"] += 1
                if len(done) >= FLUSH:
                    stats["ok"] = utc_now()
                    await self._flush(tenant, sub_id, done, stats)
                    done = []
                    stats = {"sent": 0, "failed": 0, "ok": None, "bad": None, "error": None}
        finally:
            if done or stats["failed"]:  # also when cancelled: these were accepted
                if stats["sent"]:
                    stats["ok"] = stats["ok"] or utc_now()
                await asyncio.shield(self._flush(tenant, sub_id, done, stats))
        return ok

    async def _refused(self, sub_id: str, uri: str) -> DeliveryFailed | None:
        """Return why ``uri`` may not be called now (its host resolved and checked), or None.

        The host's answer is at most HOST_CHECK_TTL seconds old (the form of ``uri`` is
        checked every time); a policy swapped in ``self.outbound`` is checked afresh.

        Subscriptions CityOS made for itself (the web map's feed to its own notify route)
        are not a caller's say-so and are not checked.
        """
        if sub_id.startswith(SERVER_OWNED):
            return None
        try:
            await self.checked_hosts.resolve_checked(uri, self.outbound)
        except outbound.UnsafeTarget as error:
            return DeliveryFailed(f"refused: {error.detail}", f"거부됨: {error.detail_ko}")
        return None

    def _retry_later(self, key: tuple[str, str], wait: float) -> None:
        """Hold a subscription back for ``wait`` seconds, then start a round for it."""
        self._retry_at[key] = time.monotonic() + wait
        if not self._stopping:  # a round at the due time, not at the next poll
            asyncio.get_running_loop().call_later(wait, self._event.set)

    def _flush(
        self, tenant: str, sub_id: str, seqs: list[int], stats: dict[str, Any]
    ) -> asyncio.Future[None]:
        """Delete delivered rows and add to the statistics; done once committed.

        One batch of deletes commits at a time; the subscriptions whose sends end meanwhile
        (or in the same event-loop iteration) form the next batch, so a write fanned out to
        100 subscriptions does not need 100 commits when the database is the bottleneck,
        and nothing waits when it is not (a subscription's next batch waits for its commit).
        """
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = ([], loop.create_future())
            if self._writing is None:
                loop.call_soon(self._start_flush)
        entries, done = self._batch
        entries.append((tenant, sub_id, seqs, stats))
        return done

    def _start_flush(self) -> None:
        if self._batch is None:
            return
        entries, done = self._batch
        self._batch = None

        def write(db: repository.Db) -> None:
            # Locks in the order every writer takes them: the subscriptions' rows, sorted,
            # then their outbox rows (deleting a subscription does the same; the reverse
            # order deadlocked with it on PostgreSQL).
            ordered = sorted(entries, key=lambda e: (e[0], e[1]))
            repository.record_many(db, [(t, s, stats) for t, s, _, stats in ordered])
            repository.delivered(db, [seq for _, _, seqs, _ in ordered for seq in seqs])

        async def run() -> None:
            try:
                await self._write(DEFAULT_TENANT, write)
            except BaseException as error:  # the senders see it (their rows stay queued)
                if not done.done():
                    done.set_exception(error)
                    done.exception()  # retrieved: no "never retrieved" warning if unawaited
                raise
            if not done.done():
                done.set_result(None)

        task = asyncio.ensure_future(run())
        self._writing = task
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)
        task.add_done_callback(self._flush_ended)

    def _flush_ended(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: its senders got it
        self._writing = None
        if self._batch is not None:  # entries that arrived while it committed
            self._start_flush()


async def start_notifications(
    store: HubStore,
    resolver: Any,
    *,
    outbound_policy: outbound.OutboundPolicy | None = None,
    retry_first: float = RETRY_FIRST,
    retry_max: float = RETRY_MAX,
    timeout: float = DEFAULT_TIMEOUT,
) -> Dispatcher:
    """Start this process's dispatcher; the store's writer uses the app's @context resolver.

    ``retry_first``/``retry_max`` [s]: the back-off of a failing endpoint
    (``notify_retry_initial``/``notify_retry_max``); ``timeout`` [s]: one delivery attempt
    (``notify_timeout``) unless the endpoint's own ``timeout`` says otherwise;
    ``outbound_policy``: which endpoints may be called (cityos.security.outbound).
    """
    from cityos.hub.subscriptions import add_notification_writer

    writer = add_notification_writer(store, resolver)
    writer.index.resolver = resolver  # knows the contexts stored through /jsonldContexts
    writer.index.version = -1
    dispatcher = Dispatcher(
        store,
        writer.index,
        writer,
        outbound_policy=outbound_policy,
        retry_first=retry_first,
        retry_max=retry_max,
        timeout=timeout,
    )
    writer.wake = dispatcher.wake
    await dispatcher.start()
    return dispatcher
