"""The issue's key test: ``kill -9`` CityOS mid-stream of QoS 1 measurements, then restart.

Every measurement the broker accepted reaches the temporal store (``hub_temporal_changes``): those
CityOS committed before the kill, those in flight at the kill (not acknowledged, so the
broker delivers them again), and those published while it was down (kept in its persistent
session). Runs ``cityos up`` as a subprocess on a temporary database, on both backends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cityos import db
from cityos.config import Settings
from cityos.hub.context import ContextResolver
from cityos.ingest import devices
from cityos.ingest.schemas import DeviceCreate
from tests.ingest.conftest import PM25, end_session, publisher, require_broker

# A stream of about RATE measurements/s; CityOS is killed once KILL_AFTER are committed,
# the stream goes on for STREAM_AFTER_KILL seconds and DURING_OUTAGE more follow while it
# is down. Mosquitto keeps at most max_queued_messages (1,000 by default, in-flight ones
# included once the client is gone) for a disconnected client: the test stays under that
# (docs/ingest.md tells how to raise it in production).
RATE = 1000
KILL_AFTER = 1500
STREAM_AFTER_KILL = 0.3  # [s]
DURING_OUTAGE = 200
CITYOS = Path(sys.executable).parent / "cityos"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CityOS:
    """``cityos up`` in a subprocess, started and killed at will."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        self.workdir, self.env, self.port = workdir, env, port
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with (self.workdir / f"cityos-{self.starts}.log").open("wb") as log:
            self.process = subprocess.Popen(
                [str(CITYOS), "up", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/metrics", timeout=2
                ) as r:
                    if b"cityos_ingest_mqtt_connected 1.0" in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"cityos up did not connect to MQTT in time:\n{self.log()}")

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.workdir.glob("cityos-*.log"))
        )


@pytest.fixture
def cityos(database_url: str, tmp_path: Path) -> Iterator[tuple[CityOS, Settings, str]]:
    """Yield a CityOS subprocess with MQTT on, its settings and a provisioned device's topic."""
    require_broker()
    if not CITYOS.exists():
        pytest.fail(f"{CITYOS} is missing: install CityOS (scripts/setup.sh test)")
    settings = Settings(database_url=database_url, mode="test")
    db.upgrade(settings)
    engine = db.make_engine(settings)
    device_id = f"kill9-{uuid.uuid4().hex[:6]}"
    try:
        with engine.begin() as connection:
            _, apikey = devices.create_device(
                connection,
                body=DeviceCreate.model_validate(
                    {
                        "device_id": device_id,
                        "entity_type": "AirQualityObserved",
                        "attributes": {"pm25": {"name": "pm25", "unitCode": "GQ"}},
                    }
                ),
                ctx=ContextResolver(settings, allow_network=False).core,
            )
    finally:
        engine.dispose()
    client_id = f"cityos-kill9-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITYOS_")},
        "CITYOS_DATABASE_URL": database_url,
        "CITYOS_MQTT_URL": "mqtt://127.0.0.1:1883",
        "CITYOS_MQTT_CLIENT_ID": client_id,
        "CITYOS_MODE": "test",
        "CITYOS_SEED_CITY": "false",
        "CITYOS_LOG_LEVEL": "warning",
    }
    process = CityOS(tmp_path, env, _free_port())
    try:
        yield process, settings, f"cityos/{apikey}/{device_id}/attrs"
    finally:
        process.stop()
        end_session(client_id)


def _stored(settings: Settings, entity_id: str) -> list[int]:
    """Return the pm25 values in the temporal store, one per history row."""
    engine = db.make_engine(settings)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT t.num FROM hub_temporal_instances t JOIN hub_temporal_entities s "
                    "ON t.entity = s.pk WHERE s.entity_id = :e AND t.attr = :a"
                ),
                {"e": entity_id, "a": PM25},
            )
            return [int(r[0]) for r in rows]
    finally:
        engine.dispose()


def test_kill9_mid_stream_loses_no_measurement(cityos: tuple[CityOS, Settings, str]) -> None:
    process, settings, topic = cityos
    entity_id = f"urn:ngsi-ld:AirQualityObserved:{topic.split('/')[2]}"
    process.start()
    pub = publisher()
    accepted: list[int] = []  # measurements the broker acknowledged: none may be lost
    stop = threading.Event()

    def publish(first: int, count: int | None = None) -> None:
        n = first
        while (count is None and not stop.is_set()) or (count is not None and n < first + count):
            infos = [
                pub.publish(topic, f"2026-11-25T03:00:00Z|pm25|{n + i}", qos=1) for i in range(10)
            ]
            for i, info in enumerate(infos):
                info.wait_for_publish(30)
                assert info.is_published()
                accepted.append(n + i)
            n += 10
            time.sleep(10 / RATE)

    stream = threading.Thread(target=publish, args=(0,))
    stream.start()
    try:
        deadline = time.monotonic() + 60
        while len(_stored(settings, entity_id)) < KILL_AFTER:
            assert time.monotonic() < deadline, process.log()
            time.sleep(0.02)
        process.kill9()  # mid-stream: the publisher does not notice and goes on
        committed_at_kill = set(_stored(settings, entity_id))
        time.sleep(STREAM_AFTER_KILL)
        stop.set()
        stream.join(30)
        assert not stream.is_alive()
        publish(accepted[-1] + 1, DURING_OUTAGE)  # CityOS is down
        time.sleep(0.5)
        assert set(_stored(settings, entity_id)) == committed_at_kill
    finally:
        stop.set()
        pub.disconnect()
        pub.loop_stop()
    expected = set(accepted)
    assert len(expected) - len(committed_at_kill) > DURING_OUTAGE  # some were in flight
    process.start()
    deadline = time.monotonic() + 90
    while set(_stored(settings, entity_id)) != expected:
        assert time.monotonic() < deadline, (
            f"missing {len(expected - set(_stored(settings, entity_id)))} of {len(expected)} "
            f"measurements ({len(committed_at_kill)} were committed at the kill)\n" + process.log()
        )
        time.sleep(0.2)
    rows = _stored(settings, entity_id)
    # At-least-once: a message committed but not yet acknowledged at the kill comes again,
    # at most one batch of them.
    assert len(rows) - len(expected) <= 2 * settings.ingest_batch_size
