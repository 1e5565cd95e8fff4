"""Live mode: the twin's simulated sensors fed into the hub through device ingestion.

``start(ingester, engine, expander, settings)`` starts one background thread that

1. provisions the buses and BRT vehicles of the timetable as ingestion devices (tenant
   ``DEFAULT_TENANT``, transport ``http``) and starts playing them at once;
2. simulates one weekday at population share ``CITYOS_TWIN_SCALE`` (default 0.05, about
   10 s of CPU; kept in ``var/twin`` for the next start), then provisions the traffic
   counters and car park sensors too;
3. plays the day back in accelerated time, ``CITYOS_TWIN_SPEED`` simulated minutes per 60
   real seconds (60: one simulated minute per second), looping days: each step the sensors'
   readings are submitted to the SAME group-commit writer as MQTT and HTTP device messages
   (payload -> device mapping -> one transaction per batch, history rows included).

Devices are re-provisioned on every start (delete + create in one transaction: new API keys,
the entities and their history stay). The simulated clock starts at the current time of day
in Seoul. At speeds above 1200 a step skips minutes (sensors report the current minute);
a step is dropped while the writer has not committed the previous one, so a slow database
never makes the queue grow. Documented in docs/twin/live.md.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.engine import Engine

from cityos.config import DEFAULT_TENANT, Settings
from cityos.hub.model import Expander
from cityos.ingest import devices as device_registry
from cityos.ingest.models import micros_now
from cityos.ingest.payloads import utc_text
from cityos.ingest.schemas import DeviceCreate
from cityos.ingest.writer import Ingester, Message, Outcome
from cityos.observability import log

if TYPE_CHECKING:  # the simulation (numpy, the city model) is imported when live mode starts
    from cityos.twin import _live_sensors as sensors
    from cityos.twin.city import City

KST = timezone(timedelta(hours=9))
CACHE_DIR = Path("var") / "twin"  # simulated days, next to the SQLite database
MIN_STEP_S = 0.05  # shortest real time between two steps [s]


def live_enabled(settings: Settings) -> bool:
    """Return True when live mode runs: CITYOS_TWIN_LIVE, or by default outside test mode."""
    if settings.twin_live is None:
        return settings.mode != "test"
    return settings.twin_live == "on"


def start_minute(text: str | None) -> int | None:
    """Return the minute of the day of an "HH:MM" setting (``twin_start``), or None."""
    if text is None:
        return None
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class TwinLive:
    """The thread that simulates the day and plays its sensors into the ingest writer."""

    def __init__(
        self,
        *,
        ingester: Ingester,
        engine: Engine,
        expander: Expander,
        speed: float,
        scale: float,
        tenant: str = DEFAULT_TENANT,
        seed: int = 42,
        cache_dir: Path | None = None,
        start_minute: int | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0 (simulated minutes per real minute)")
        self._ingester = ingester
        self._engine = engine
        self._expander = expander
        self.speed = speed
        self.scale = scale
        self.tenant = tenant
        self.seed = seed
        self.cache_dir = cache_dir
        # simulated minute of the day (KST) the play starts at; None: the current minute
        self.start_minute = start_minute
        self.state = "starting"  # starting -> simulating -> playing (or failed) -> stopped
        self.day: sensors.Day | None = None
        self.steps = 0  # steps played
        self.sent = 0  # messages submitted
        self.refused = 0  # messages the writer refused (dead letters)
        self.skipped = 0  # steps dropped because the writer had not finished the last one
        self._pending = 0  # messages submitted and not yet committed
        self._keys: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the background thread (returns at once)."""
        self._thread = threading.Thread(target=self._run, name="cityos-twin-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop playing; a running simulation is abandoned (daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.state = "stopped"

    # ---- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        from cityos.twin import _live_sensors as sensors
        from cityos.twin.city import load_city

        try:
            city = load_city()
            self._provision(sensors.devices(city, None, self.tenant))
            day_box: list[sensors.Day] = []
            sim = threading.Thread(
                target=self._simulate, args=(city, day_box), name="cityos-twin-sim", daemon=True
            )
            self.state = "simulating"
            sim.start()
            self._play(city, day_box)
        except Exception:  # noqa: BLE001 - live mode must never take the server down
            log.exception("twin_live_failed")
            self.state = "failed"

    def _simulate(self, city: City, box: list[sensors.Day]) -> None:
        from cityos.twin import _live_sensors as sensors

        try:
            day, cached = sensors.cached_day(
                city, scale=self.scale, seed=self.seed, cache_dir=self.cache_dir
            )
        except Exception:  # noqa: BLE001
            log.exception("twin_live_simulation_failed")
            return
        box.append(day)
        log.info(
            "twin_live_day_simulated",
            scale=self.scale,
            cached=cached,
            runtime_s=round(day.runtime_s, 1),
            counters=len(day.links),
            car_parks=len(day.zones),
        )

    def _play(self, city: City, box: list[sensors.Day]) -> None:
        from cityos.twin import _live_sensors as sensors

        clock = datetime.now(KST)
        start_min = self.start_minute
        if start_min is None:
            start_min = clock.hour * 60 + clock.minute
        started = time.monotonic()
        step_s = max(60.0 / self.speed, MIN_STEP_S)
        last = -1
        while not self._stop.is_set():
            if self.day is None and box:
                self._provision(sensors.devices(city, box[0], self.tenant)[len(self._keys) :])
                self.day = box[0]
                self.state = "playing"
            minute = start_min + int((time.monotonic() - started) * self.speed / 60.0)
            if minute != last:
                last = minute
                if self._pending > 0:  # the writer is behind: drop this step, not pile up
                    self.skipped += 1
                else:
                    stamp = utc_text(datetime.now(UTC))
                    self._send(sensors.readings(city, self.day, minute, stamp))
                    self.steps += 1
            self._stop.wait(step_s)

    def _provision(self, bodies: list[DeviceCreate]) -> None:
        """(Re-)provision devices in one transaction and remember their API keys."""
        directory = self._ingester.directory
        with self._engine.begin() as connection:
            for body in bodies:
                if device_registry.get_device(connection, device_id=body.device_id) is not None:
                    device_registry.delete_device(connection, device_id=body.device_id)
                _, key = device_registry.create_device(connection, body=body, ctx=self._expander)
                self._keys[body.device_id] = key
        for body in bodies:
            directory.forget(body.device_id)

    def _send(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        received = micros_now()
        for device_id, measures in batch:
            message = Message(
                transport="http",
                device_id=device_id,
                apikey=self._keys.get(device_id, ""),
                payload=orjson.dumps(measures),
                received_at=received,
                on_done=self._done,
                fmt="json",
            )
            with self._lock:
                self._pending += 1
            if self._ingester.submit(message):
                self.sent += 1
            else:
                with self._lock:
                    self._pending -= 1

    def _done(self, outcome: Outcome) -> None:
        with self._lock:
            self._pending -= 1
        if not isinstance(outcome, int) and outcome is not None:
            with self._lock:
                self.refused += 1
            if self.refused <= 5:
                log.warning("twin_live_refused", reason=outcome.reason, detail=outcome.detail)


def start(
    ingester: Ingester, engine: Engine, expander: Expander, settings: Settings
) -> TwinLive | None:
    """Start live mode when enabled (see ``live_enabled``); return the runner or None."""
    if not live_enabled(settings):
        return None
    runner = TwinLive(
        ingester=ingester,
        engine=engine,
        expander=expander,
        speed=settings.twin_speed,
        scale=settings.twin_scale,
        cache_dir=None if settings.mode == "test" else CACHE_DIR,
        start_minute=start_minute(settings.twin_start),
    )
    runner.start()
    log.info("twin_live_started", speed=settings.twin_speed, scale=settings.twin_scale)
    return runner
