"""Group commit: device messages written to the hub in batches, acknowledged after COMMIT.

One writer thread takes messages from a queue, up to ``ingest_batch_size`` of them or what
arrived within ``ingest_batch_wait`` of the first (a pause of ``LULL`` in arrivals ends the
batch sooner, so a lone message is not held back), decodes and checks them, and writes the
measurements of each tenant in ONE hub transaction (the temporal recorder adds their history
rows to it). Refused messages are recorded as dead letters. Only then is each message's
``on_done`` called, in arrival order: the MQTT agent sends its PUBACK there, the HTTP
endpoint answers there. A message is therefore never acknowledged before its data (or its
dead letter) is committed.

Several readings of one attribute in a batch are folded into one entity write: the latest
``observedAt`` becomes the attribute's current value, every other reading goes to
``Transaction.extra_instances`` so the temporal history keeps all of them. A reading older
than the attribute's current value only joins the history.

A database error that may pass (locked, connection lost) is retried with back-off, without
acknowledging anything; any other error while writing is isolated to the message that
caused it, which becomes a ``write_failed`` dead letter.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import sqlalchemy.exc
from sqlalchemy.engine import Engine

from cityos.hub._time import utc_now
from cityos.hub.store.base import Entity, HubStore
from cityos.hub.temporal._times import text_micros
from cityos.hub.temporal.record import Row
from cityos.ingest import deadletters, payloads
from cityos.ingest._fold import fold
from cityos.ingest.directory import DeviceDirectory, new_entity
from cityos.ingest.errors import Refused
from cityos.ingest.measurements import CompiledDevice, Reading, readings
from cityos.observability import Metrics, log

MAX_MESSAGE_BYTES = 256 * 1024
LULL = 0.002  # [s] a pause in arrivals this long ends a batch before the batch wait
# What ``on_done`` receives: the number of measurements written, why the message was refused
# (its dead letter is committed), or None when it could not be handled (nothing committed:
# an MQTT message is then not acknowledged, so the broker delivers it again).
Outcome = int | Refused | None


@dataclass(slots=True)
class Message:
    """One device message on its way to the hub."""

    transport: str  # "mqtt" or "http"
    device_id: str | None
    apikey: str | None
    payload: bytes
    received_at: int  # [µs since the epoch]
    on_done: Callable[[Outcome], None]
    fmt: payloads.Format | None = None  # None: sniffed from the payload
    topic: str | None = None
    refused: Refused | None = None  # already refused by the transport (e.g. a bad topic)


@dataclass(slots=True)
class _Accepted:
    message: Message
    device: CompiledDevice
    readings: list[Reading]
    done: bool = False
    outcome: Outcome = 0


@dataclass(slots=True)
class _Batch:
    accepted: list[_Accepted] = field(default_factory=list)
    refused: list[tuple[Message, Refused]] = field(default_factory=list)


def _transient(error: BaseException) -> bool:
    """Return True for database errors that may pass if retried (locked, disconnected)."""
    return isinstance(
        error,
        sqlite3.OperationalError | psycopg.OperationalError | sqlalchemy.exc.OperationalError,
    )


class Ingester:
    """The group-commit writer of device measurements (one thread per app)."""

    def __init__(
        self,
        *,
        store: HubStore,
        engine: Engine,
        directory: DeviceDirectory,
        metrics: Metrics,
        batch_size: int,
        batch_wait: float,
    ) -> None:
        self._store = store
        self._engine = engine
        self.directory = directory
        self._metrics = metrics
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._queue: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running = False

    @property
    def running(self) -> bool:
        """Return True while the writer accepts messages."""
        return self._running

    def start(self) -> None:
        """Start the writer thread."""
        self._running = True
        self._thread = threading.Thread(target=self._run, name="cityos-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._thread is None:
            return
        self._running = False
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def submit(self, message: Message) -> bool:
        """Queue a message; False (nothing queued) when the writer is not running."""
        if not self._running:
            return False
        self._queue.put(message)
        return True

    def _collect(self) -> tuple[list[Message], bool]:
        """Return the next batch and whether the stop marker was seen."""
        try:
            first = self._queue.get(timeout=0.5)
        except queue.Empty:
            return [], False
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self._batch_wait
        while len(batch) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                # Wait for the batch to fill only while messages keep coming: a lone HTTP
                # request is committed after a pause of LULL, not after the whole batch wait.
                remaining = min(deadline - time.monotonic(), LULL)
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _run(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._collect()
            if batch:
                try:
                    self._process(batch)
                except Exception:  # noqa: BLE001 - the agent must never die
                    log.exception("ingest_batch_failed", messages=len(batch))
                    _unhandled(batch)
        # Drain what came after the stop marker: a late HTTP caller must not hang.
        late: list[Message] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                late.append(item)
        if late:
            try:
                self._process(late)
            except Exception:  # noqa: BLE001
                log.exception("ingest_batch_failed", messages=len(late))
                _unhandled(late)

    def _check(self, messages: list[Message]) -> _Batch:
        batch = _Batch()
        for message in messages:
            try:
                if message.refused is not None:
                    raise message.refused
                if len(message.payload) > MAX_MESSAGE_BYTES:
                    raise Refused(
                        "payload_too_large",
                        f"the message has {len(message.payload)} bytes; at most "
                        f"{MAX_MESSAGE_BYTES} are accepted: split it",
                        f"메시지가 {len(message.payload)}바이트입니다. 최대 {MAX_MESSAGE_BYTES}"
                        "바이트까지 받으니 나누어 보내세요",
                    )
                device = self.directory.authenticate(
                    message.device_id or "", message.apikey or "", message.transport
                )
                groups = payloads.decode(message.payload, message.fmt)
                found = readings(device, groups, received_at=message.received_at)
                batch.accepted.append(_Accepted(message, device, found))
            except Refused as refusal:
                batch.refused.append((message, refusal))
        return batch

    def _process(self, messages: list[Message]) -> None:
        started = time.perf_counter()
        backoff = 0.05
        batch: _Batch | None = None
        recorded = False
        while True:  # what was committed is marked done, so a retry never writes it twice
            try:
                if batch is None:
                    batch = self._check(messages)
                self._write(batch)
                if not recorded:
                    self._record(batch)
                    recorded = True
                break
            except Exception as error:
                if not _transient(error):
                    raise
                log.warning("ingest_retry", error=str(error)[:200], wait=backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        outcomes: dict[int, Outcome] = {id(a.message): a.outcome for a in batch.accepted}
        outcomes.update({id(m): r for m, r in batch.refused})
        for message in messages:
            try:
                message.on_done(outcomes[id(message)])
            except Exception:  # noqa: BLE001 - one caller's callback must not stop the others
                log.exception("ingest_callback_failed")
        self._count(messages, outcomes)
        self._metrics.ingest_batch_seconds.observe(time.perf_counter() - started)
        self._metrics.ingest_batch_size.observe(len(messages))

    def _count(self, messages: list[Message], outcomes: dict[int, Outcome]) -> None:
        """Add a batch's outcomes to the metrics (one increment per label set)."""
        measurements: dict[str, int] = {}
        handled: dict[tuple[str, str], int] = {}
        reasons: dict[str, int] = {}
        for message in messages:
            outcome = outcomes[id(message)]
            if isinstance(outcome, Refused):
                reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
                key = (message.transport, "refused")
            elif outcome is not None:
                measurements[message.transport] = measurements.get(message.transport, 0) + outcome
                key = (message.transport, "accepted")
            else:
                continue
            handled[key] = handled.get(key, 0) + 1
        metrics = self._metrics
        for reason, count in reasons.items():
            metrics.ingest_dead_letters.labels(reason).inc(count)
        for (transport, kind), count in handled.items():
            metrics.ingest_messages.labels(transport, kind).inc(count)
        for transport, count in measurements.items():
            metrics.ingest_measurements.labels(transport).inc(count)

    def _write(self, batch: _Batch) -> None:
        """Write accepted messages: one transaction per tenant; isolate a failing message."""
        by_tenant: dict[str, list[_Accepted]] = {}
        for item in batch.accepted:
            if not item.done:
                by_tenant.setdefault(item.device.device.tenant, []).append(item)
        for tenant, items in by_tenant.items():
            try:
                self._write_tenant(tenant, items)
                continue
            except Exception as error:
                if _transient(error):
                    raise
            for item in items:  # find the message that broke the shared transaction
                try:
                    self._write_tenant(tenant, [item])
                except Exception as error:
                    if _transient(error):
                        raise
                    log.warning(
                        "ingest_write_failed", device=item.message.device_id, error=str(error)[:200]
                    )
                    refusal = Refused(
                        "write_failed",
                        f"the hub refused the measurements: {str(error)[:300]}",
                        f"허브가 측정값 저장을 거부했습니다: {str(error)[:300]}",
                    )
                    item.done, item.outcome = True, refusal
                    batch.refused.append((item.message, refusal))
        batch.accepted = [a for a in batch.accepted if not isinstance(a.outcome, Refused)]

    def _write_tenant(self, tenant: str, items: list[_Accepted]) -> None:
        now = utc_now()
        now_us = text_micros(now)
        latest: dict[tuple[str, str], int] = {}  # observedAt [µs] of each current value
        with self._store.transaction(tenant) as tx:
            existing = tx.get_many(list(dict.fromkeys(i.device.device.entity_id for i in items)))
            touched: dict[str, Entity] = {}
            created: set[str] = set()
            extra: list[Row] = []
            for item in items:
                eid = item.device.device.entity_id
                entity = touched.get(eid)
                if entity is None:
                    entity = existing.get(eid)
                    if entity is None:
                        entity = new_entity(item.device, now)
                        created.add(eid)
                    touched[eid] = entity
                fold(entity, item.readings, now, now_us, latest, extra)
                entity["modifiedAt"] = now
            if created:
                tx.insert([touched[e] for e in created])
            if len(created) < len(touched):
                tx.replace([e for eid, e in touched.items() if eid not in created])
            tx.extra_instances.extend(extra)
        for item in items:
            item.done, item.outcome = True, len(item.readings)

    def _record(self, batch: _Batch) -> None:
        if not batch.refused:
            return
        letters = [
            deadletters.DeadLetter(
                received_at=m.received_at,
                transport=m.transport,
                reason=r.reason,
                detail=r.detail,
                device_id=m.device_id,
                topic=m.topic,
                payload=m.payload,
            )
            for m, r in batch.refused
        ]
        with self._engine.begin() as connection:
            deadletters.record(connection, letters=letters)


def _unhandled(messages: list[Message]) -> None:
    for message in messages:
        try:
            message.on_done(None)
        except Exception:  # noqa: BLE001
            log.exception("ingest_callback_failed")
