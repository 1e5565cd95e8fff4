"""Benchmark device ingestion end to end: MQTT (and HTTP) into the hub, temporal history on.

One CityOS server process (``cityos up``, SQLite, MQTT agent on) on a fresh database with
provisioned AirQualityObserved devices; the load comes from another process (one MQTT
publisher, QoS 1, one measurement per message: ``mqtt_publisher.c`` on libmosquitto,
compiled here, by default; ``--publisher python`` for paho-mqtt, whose ~5,500 messages/s
on 2 cores capped the measure until session 15) through a Mosquitto broker this script
starts on a free port with ``max_queued_messages 0`` (no queue limit: with Mosquitto's
default of 1,000 a burst that runs ahead of the subscriber by more than the in-flight
window plus 1,000 messages is dropped by the broker, see docs/ingest.md). A run counts
from the first publish until ``/metrics`` reports every measurement committed, so it
measures broker + agent + group commit + history. The HTTP path is measured the same way
with concurrent clients. Each figure is the median of ``--repeat`` runs; the ratio of the
writer's busy time to wall time (from ``cityos_ingest_batch_seconds``) says where the time
goes.

    .venv/bin/python benchmarks/ingest_bench.py                   # 100,000 measurements x 3
    .venv/bin/python benchmarks/ingest_bench.py --messages 20000 --no-record

Results are printed as a table and appended to ``docs/benchmarks.md`` with the date,
machine and commit.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
BROKER_CONFIG = """listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
"""
CITYOS = Path(sys.executable).parent / "cityos"
console = Console()

# The publisher: its own process, so CityOS's measured rate is not its Python's.
PUBLISHER = r"""
import sys, time
import paho.mqtt.client as mqtt
topics = sys.argv[4:]
count, per_message, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cityos-bench-pub")
client.max_inflight_messages_set(1000)
client.max_queued_messages_set(0)
client.connect("127.0.0.1", port)
client.loop_start()
started = time.perf_counter()
# MQTT packet ids are 16 bits: at most 65,535 QoS 1 messages can await their PUBACK, and
# paho refuses a publish whose id is still outstanding (rc MQTT_ERR_QUEUE_SIZE). So the
# publisher runs at most WINDOW messages ahead of the broker's acknowledgements.
WINDOW = 30_000
infos = []
for n in range(count):
    if n >= WINDOW:
        infos[n - WINDOW].wait_for_publish(120)
    body = "#".join(f"pm25|{(n + k) % 500}" for k in range(per_message))
    info = client.publish(topics[n % len(topics)], body, qos=1)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        sys.exit(f"publish {n} failed: {mqtt.error_string(info.rc)}")
    infos.append(info)
for info in infos:
    info.wait_for_publish(120)
    if not info.is_published():
        sys.exit(f"no PUBACK for message {info.mid} within 120 s")
print(f"{started!r} {time.perf_counter()!r}")
client.disconnect()
client.loop_stop()
"""


PUBLISHER_C = Path(__file__).with_name("mqtt_publisher.c")


def build_publisher(workdir: Path) -> list[str]:
    """Compile ``mqtt_publisher.c`` (libmosquitto) into ``workdir``; return its command."""
    binary = workdir / "mqtt_publisher"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not Path("/usr/include/mosquitto.h").exists():
        raise SystemExit(
            "--publisher c needs a C compiler and libmosquitto's header: "
            "apt-get install gcc libmosquitto-dev (or run with --publisher python)"
        )
    built = subprocess.run(
        [cc, "-O2", "-o", str(binary), str(PUBLISHER_C), "-lmosquitto", "-lpthread"],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise SystemExit(f"could not build {PUBLISHER_C.name}:\n{built.stderr[-2000:]}")
    return [str(binary)]


@dataclass
class Result:
    """One measured figure, its target and how it compares."""

    name: str
    value: float
    unit: str
    target: str
    ok: bool | None
    note: str = ""


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provision(database_url: str, devices_count: int, transport: str) -> list[tuple[str, str]]:
    """Provision devices directly in the database; return (device id, key) pairs."""
    from cityos import db
    from cityos.config import Settings
    from cityos.hub.context import ContextResolver
    from cityos.ingest import devices
    from cityos.ingest.schemas import DeviceCreate

    settings = Settings(database_url=database_url)
    db.upgrade(settings)
    engine = db.make_engine(settings)
    ctx = ContextResolver(settings, allow_network=False).core
    made = []
    try:
        with engine.begin() as connection:
            for n in range(devices_count):
                body = DeviceCreate.model_validate(
                    {
                        "device_id": f"{transport}-{n:04d}",
                        "entity_type": "AirQualityObserved",
                        "attributes": {
                            "pm25": {"name": "pm25", "unitCode": "GQ"},
                            "t": {"name": "temperature", "unitCode": "CEL"},
                        },
                        "static_attributes": {
                            "location": {
                                "type": "Point",
                                "coordinates": [127.2 + n * 1e-4, 36.5 + n * 1e-4],
                            }
                        },
                        "transport": transport,
                    }
                )
                device, key = devices.create_device(connection, body=body, ctx=ctx)
                made.append((device.device_id, key))
    finally:
        engine.dispose()
    return made


def metric(base: str, name: str) -> float:
    """Return the sum of a Prometheus metric's samples from /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


@contextmanager
def broker(workdir: Path) -> Iterator[int]:
    """Run a Mosquitto broker without a queue limit on a free port; yield the port."""
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(BROKER_CONFIG.format(port=port))
    process = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("mosquitto did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def server(database_url: str, workdir: Path, mqtt_port: int) -> Iterator[str]:
    """Run ``cityos up`` with the MQTT agent on; yield its base URL."""
    port = free_port()
    client_id = f"cityos-bench-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITYOS_")},
        "CITYOS_DATABASE_URL": database_url,
        "CITYOS_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "CITYOS_MQTT_CLIENT_ID": client_id,
        "CITYOS_SEED_CITY": "false",
        "CITYOS_LOG_LEVEL": "warning",
        "CITYOS_MODE": "test",
        "CITYOS_TWIN_LIVE": "off",
    }
    with (workdir / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [str(CITYOS), "up", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if metric(base, "cityos_ingest_mqtt_connected") == 1:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit((workdir / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def wait_committed(base: str, transport: str, target: float, timeout: float = 600) -> float:
    """Wait until /metrics counts ``target`` committed measurements; return the time then."""
    name = f'cityos_ingest_measurements_total{{transport="{transport}"}}'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(f"{base}/metrics", timeout=10).text
        line = next((x for x in text.splitlines() if x.startswith(name)), None)
        if line is not None and float(line.rsplit(" ", 1)[1]) >= target:
            return time.perf_counter()
        time.sleep(0.02)
    raise SystemExit(f"only part of the {target:,.0f} {transport} measurements arrived in time")


def mqtt_run(
    base: str,
    port: int,
    devices: list[tuple[str, str]],
    messages: int,
    per_message: int,
    publisher: list[str],
) -> tuple[float, float, float]:
    """Publish ``messages`` with ``publisher`` (a command taking COUNT PER_MESSAGE PORT
    TOPIC…) and return (measurements/s end to end, publisher msg/s, busy share)."""
    topics = [f"cityos/{key}/{device}/attrs" for device, key in devices]
    before = metric(base, 'cityos_ingest_measurements_total{transport="mqtt"}')
    busy_before = metric(base, "cityos_ingest_batch_seconds_sum")
    done = subprocess.run(
        [*publisher, str(messages), str(per_message), str(port), *topics],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the MQTT publisher failed ({done.returncode}): {done.stderr[-2000:]}")
    started, published = (float(x) for x in done.stdout.split())
    finished = wait_committed(base, "mqtt", before + messages * per_message)
    busy = metric(base, "cityos_ingest_batch_seconds_sum") - busy_before
    wall = finished - started
    return messages * per_message / wall, messages / (published - started), busy / wall


def http_run(
    base: str, devices: list[tuple[str, str]], requests: int, per_request: int, clients: int
) -> float:
    """Send ``requests`` UltraLight bodies from ``clients`` threads; return measurements/s."""
    body = "#".join(f"pm25|{k % 500}" for k in range(per_request)).encode()

    def work(share: range) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for n in share:
                device, key = devices[n % len(devices)]
                r = client.post(
                    "/ingest/v1/measurements",
                    params={"k": key, "i": device},
                    content=body,
                    headers={"Content-Type": "text/plain"},
                )
                r.raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, [range(i, requests, clients) for i in range(clients)]))
    return requests * per_request / (time.perf_counter() - started)


def writer_alone(database_url: str, devices: list[tuple[str, str]], messages: int) -> float:
    """Return messages/s of the group-commit writer fed in-process (no broker, no HTTP).

    The same checks, hub transaction and history as in the server: the ceiling the MQTT
    path would reach if receiving and acknowledging cost nothing.
    """
    from cityos import db
    from cityos.config import Settings
    from cityos.hub.context import ContextResolver
    from cityos.hub.store import open_store
    from cityos.ingest.directory import DeviceDirectory
    from cityos.ingest.models import micros_now
    from cityos.ingest.writer import Ingester, Message
    from cityos.observability import Metrics

    settings = Settings(database_url=database_url, mode="test")
    store = open_store(settings)
    engine = db.make_engine(settings)
    ingester = Ingester(
        store=store,
        engine=engine,
        directory=DeviceDirectory(engine, ContextResolver(settings, allow_network=False)),
        metrics=Metrics(),
        batch_size=settings.ingest_batch_size,
        batch_wait=settings.ingest_batch_wait,
    )
    done: list[object] = []
    batch = settings.ingest_batch_size
    try:
        started = time.perf_counter()
        for first in range(0, messages, batch):
            chunk = [
                Message(
                    "mqtt",
                    devices[n % len(devices)][0],
                    devices[n % len(devices)][1],
                    f"pm25|{n % 500}".encode(),
                    micros_now(),
                    done.append,
                )
                for n in range(first, min(first + batch, messages))
            ]
            ingester._process(chunk)  # noqa: SLF001 - the writer's batch step, timed alone
        elapsed = time.perf_counter() - started
    finally:
        store.close()
        engine.dispose()
    assert all(outcome == 1 for outcome in done), "the writer refused a benchmark message"
    return messages / elapsed


def machine() -> str:
    """Describe this machine: CPU model, cores, memory, OS, Python."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = match.group(1).strip() if match else cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; 1-min load average "
        f"{load:.1f} when recorded"
    )


def commit() -> str:
    """Return the checked-out commit (with + if the tree is dirty)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + ("+" if dirty else "")
    except OSError:
        return "unknown"


def bench(
    messages: int, devices_count: int, repeat: int, http_requests: int, publisher_kind: str
) -> list[Result]:
    """Run every measurement on a fresh SQLite database and return the results."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cityos-ingest-bench-") as tmp:
        workdir = Path(tmp)
        publisher = (
            build_publisher(workdir) if publisher_kind == "c" else [sys.executable, "-c", PUBLISHER]
        )
        url = f"sqlite:///{workdir / 'cityos.db'}"
        mqtt_devices = provision(url, devices_count, "mqtt")
        http_devices = provision(url, devices_count, "http")
        with broker(workdir) as port, server(url, workdir, port) as base:
            mqtt_run(base, port, mqtt_devices, min(messages, 5000), 1, publisher)  # warm-up
            runs = [
                mqtt_run(base, port, mqtt_devices, messages, 1, publisher) for _ in range(repeat)
            ]
            rates = [r[0] for r in runs]
            rate = statistics.median(rates)
            results.append(
                Result(
                    f"MQTT QoS 1, 1 measurement/message, {devices_count} devices",
                    rate,
                    "measurements/s",
                    "≥ 10,000",
                    rate >= 10_000,
                    f"median of {repeat} × {messages:,} "
                    f"(runs {', '.join(f'{r:,.0f}' for r in rates)}); "
                    f"{publisher_kind} publisher {statistics.median(r[1] for r in runs):,.0f} "
                    "msg/s until its last PUBACK; writer "
                    f"busy {statistics.median(r[2] for r in runs):.0%} of the wall time",
                )
            )
            runs = [
                mqtt_run(base, port, mqtt_devices, messages // 4, 4, publisher)
                for _ in range(repeat)
            ]
            rate = statistics.median(r[0] for r in runs)
            results.append(
                Result(
                    "MQTT QoS 1, 4 readings/message (UltraLight pm25#pm25#…)",
                    rate,
                    "measurements/s",
                    "—",
                    None,
                    f"median of {repeat} × {messages // 4:,} messages",
                )
            )
            for per_request, clients in ((1, 16), (50, 8)):
                rates = [
                    http_run(
                        base,
                        http_devices,
                        http_requests if per_request == 1 else http_requests // 5,
                        per_request,
                        clients,
                    )
                    for _ in range(repeat)
                ]
                rate = statistics.median(rates)
                results.append(
                    Result(
                        f"HTTP POST /ingest/v1/measurements, {per_request} measurement(s)/request, "
                        f"{clients} clients",
                        rate,
                        "measurements/s",
                        "—",
                        None,
                        f"median of {repeat}; each answered after COMMIT",
                    )
                )
        rates = [writer_alone(url, mqtt_devices, messages) for _ in range(repeat)]
        rate = statistics.median(rates)
        results.insert(
            1,
            Result(
                "group-commit writer alone, in-process (same checks, hub write, history)",
                rate,
                "messages/s",
                "—",
                None,
                f"median of {repeat} × {messages:,}; MQTT end to end reached "
                f"{results[0].value / rate:.0%} of it",
            ),
        )
    return results


def table(results: list[Result]) -> Table:
    """Return a rich table of the results."""
    out = Table(title="CityOS device ingestion — SQLite")
    for column in ("measure", "result", "target", "met", "notes"):
        out.add_column(column)
    for r in results:
        met = "—" if r.ok is None else ("yes" if r.ok else "NO")
        out.add_row(r.name, f"{r.value:,.0f} {r.unit}", r.target, met, r.note)
    return out


def markdown(results: list[Result], messages: int) -> str:
    """Return the Markdown section recording this run."""
    now = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"## ingest_bench — {now}",
        "",
        f"- machine: {machine()}",
        f"- commit: {commit()}",
        "- SQLite, temporal history on; one `cityos up` process (MQTT agent + group commit, "
        "default batch 2,000 / 20 ms); its own Mosquitto (no queue limit); publisher in "
        "another process; all on the same machine",
        "",
        "| measure | result | target | met | notes |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        met = "—" if r.ok is None else ("yes" if r.ok else "**no**")
        lines.append(f"| {r.name} | {r.value:,.0f} {r.unit} | {r.target} | {met} | {r.note} |")
    return "\n".join(lines) + "\n\n"


def main() -> None:
    """Parse arguments, run the benchmark, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--http-requests", type=int, default=5000)
    parser.add_argument(
        "--publisher",
        choices=("c", "python"),
        default="c",
        help="the MQTT load generator: mqtt_publisher.c on libmosquitto (default; needs "
        "libmosquitto-dev), or paho-mqtt in Python (peaks at ~5,500 msg/s on 2 cores)",
    )
    parser.add_argument("--no-record", action="store_true", help="don't write docs/benchmarks.md")
    args = parser.parse_args()
    if shutil.which("mosquitto") is None:
        raise SystemExit("mosquitto is needed: run scripts/services.sh (apt-get install mosquitto)")
    results = bench(args.messages, args.devices, args.repeat, args.http_requests, args.publisher)
    console.print(table(results))
    if not args.no_record:
        path = ROOT / "docs" / "benchmarks.md"
        with path.open("a") as handle:
            handle.write(markdown(results, args.messages))
        console.print(f"recorded in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
