"""Benchmark subscriptions: write cost as subscriptions grow, and notification latency.

1. **Write cost with 10 vs 10,000 subscriptions** (target: at most 2×). The same attribute
   update of one entity is written through the hub's service layer (temporal history on,
   the notification outbox on) with 0, 10 and 10,000 subscriptions in the tenant (one
   tenant per count, rounds alternating between them). In every
   case exactly one subscription matches the write (one outbox row); the others watch
   other entities of the same type, other attributes of the type, other types, or other
   attributes without a type — what a city's many subscribers look like.
2. **Notification latency at 100 subscriptions** (target: p95 ≤ 50 ms): a CityOS app (with
   its dispatcher) and a real HTTP receiver on this machine; 100 subscriptions each watch
   one entity; each write's latency is from just before the PATCH request to the
   notification's arrival at the receiver.
3. **Fan-out** (target: p95 ≤ 50 ms): one write of an entity that 100 subscriptions watch,
   all sending to the same HTTP receiver; the time from just before the PATCH request to
   the arrival of the last of its 100 notifications.

    .venv/bin/python benchmarks/subscription_bench.py                 # both backends
    .venv/bin/python benchmarks/subscription_bench.py --backend sqlite --no-record
    .venv/bin/python benchmarks/subscription_bench.py --case fanout --no-record

Results are printed and appended to ``docs/benchmarks.md`` with the date, machine and commit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from fastapi.testclient import TestClient
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from hub_bench import commit, machine  # noqa: E402

from cityos import db  # noqa: E402
from cityos.app import create_app  # noqa: E402
from cityos.config import Settings  # noqa: E402
from cityos.hub import service as hub_service  # noqa: E402
from cityos.hub._time import utc_now  # noqa: E402
from cityos.hub.context import ContextResolver  # noqa: E402
from cityos.hub.store import open_store  # noqa: E402
from cityos.hub.subscriptions import repository  # noqa: E402
from cityos.hub.subscriptions import schema as sub_schema  # noqa: E402

PG_ADMIN = os.environ.get(
    "CITYOS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TYPE = "AirQualityObserved"
ENTITIES = 1000
console = Console()


@contextmanager
def database(backend: str) -> Iterator[str]:
    """Yield the URL of a fresh database (dropped afterwards)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"cityos_subbench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, mode="test", seed_city=False, log_level="error", auth="off")


def subscription_body(i: int, endpoint: str) -> dict[str, Any]:
    """Return subscription number ``i`` of the mix (number 0 matches the measured write)."""
    note = {"endpoint": {"uri": endpoint}}
    if i == 0:
        return {
            "entities": [{"type": TYPE, "id": f"urn:ngsi-ld:{TYPE}:0"}],
            "watchedAttributes": ["pm25"],
            "notification": note,
        }
    kind = i % 4
    if kind == 0:  # another sensor of the same type
        selector = {"type": TYPE, "id": f"urn:ngsi-ld:{TYPE}:{1 + i % (ENTITIES - 1)}"}
        return {"entities": [selector], "watchedAttributes": ["pm25"], "notification": note}
    if kind == 1:  # another attribute of the type
        watched = [f"no2_{i}"]
        return {"entities": [{"type": TYPE}], "watchedAttributes": watched, "notification": note}
    if kind == 2:  # another type
        return {"entities": [{"type": f"WeatherObserved{i}"}], "notification": note}
    return {"watchedAttributes": [f"temperature_{i}"], "notification": note}  # no type


def write_cost(backend: str, counts: tuple[int, ...], writes: int, rounds: int) -> dict[int, float]:
    """Return the median time [ms] of one attribute update with each number of subscriptions.

    Each count has its own tenant (the index is per tenant) holding the same entities, and
    the rounds alternate between the tenants, so load from elsewhere on the machine falls on
    every count alike.
    """
    with database(backend) as url:
        settings = settings_for(url)
        db.upgrade(settings)
        store = open_store(settings)
        ctx = ContextResolver(settings).core
        tenants = {count: f"bench-{count}" for count in counts}
        for count, tenant in tenants.items():
            for n in range(ENTITIES):
                body = {
                    "id": f"urn:ngsi-ld:{TYPE}:{n}",
                    "type": TYPE,
                    "pm25": {"type": "Property", "value": 10, "unitCode": "GQ"},
                    "no2": {"type": "Property", "value": 20},
                }
                hub_service.create_entity(store, tenant, body, ctx)
            started = time.perf_counter()
            with store.transaction(tenant) as tx:  # stored as the API stores them, in one go
                conn = repository.Db(tx.connection, tx.backend)
                for i in range(count):
                    body = sub_schema.validate(subscription_body(i, "http://127.0.0.1:9/x"), ctx)
                    repository.insert(
                        conn, tenant, body, owner=None, owner_types=None, now=utc_now()
                    )
                repository.bump_version(conn)
            console.print(
                f"{backend}: {count:,} subscriptions stored in "
                f"{time.perf_counter() - started:.1f} s"
            )
        medians: dict[int, list[float]] = {count: [] for count in counts}
        value = 0
        for _ in range(rounds):
            for count, tenant in tenants.items():
                times = []
                for _ in range(writes):
                    value += 1
                    patch = {"pm25": {"type": "Property", "value": value, "unitCode": "GQ"}}
                    t0 = time.perf_counter()
                    hub_service.update_attributes(
                        store, tenant, f"urn:ngsi-ld:{TYPE}:0", patch, ctx
                    )
                    times.append(time.perf_counter() - t0)
                medians[count].append(statistics.median(times) * 1000)
        store.close()
        store.shutdown_executor()
    return {count: statistics.median(values) for count, values in medians.items()}


RECEIVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        now = time.monotonic()
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        lines = "".join(f"{body['subscriptionId']}|{e['pm25']} {now}\n" for e in body["data"])
        sys.stdout.write(lines)
        sys.stdout.flush()

    def log_message(self, *args):
        pass

ThreadingHTTPServer.request_queue_size = 1024
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class _Receiver:
    """A real HTTP receiver in its own process (so it does not compete for the hub's GIL).

    Arrival times are ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process).
    """

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # "<subscription>|<pm25>" -> monotonic [s]
        self.by_value: dict[str, list[float]] = {}  # "<pm25>" -> arrival times [s]
        self.count = 0
        self.cond = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{port}/notify"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            key, stamp = line.rsplit(" ", 1)
            with self.cond:
                self.arrivals[key] = float(stamp)
                self.by_value.setdefault(key.rsplit("|", 1)[1], []).append(float(stamp))
                self.count += 1
                self.cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count < count and time.monotonic() < deadline:
                self.cond.wait(0.05)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(5)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency(backend: str, samples: int) -> dict[str, float]:
    """Return p50/p95 [ms] write→receiver with 100 subscriptions, each on its own entity."""
    receiver = _Receiver()
    out: dict[str, float] = {}
    with database(backend) as url, TestClient(create_app(settings_for(url))) as client:
        subs = []
        for n in range(100):
            eid = f"urn:ngsi-ld:{TYPE}:{n}"
            body = {"id": eid, "type": TYPE, "pm25": {"type": "Property", "value": -1}}
            assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
            r = client.post(
                "/ngsi-ld/v1/subscriptions",
                json={
                    "type": "Subscription",
                    "entities": [{"type": TYPE, "id": eid}],
                    "notification": {"format": "keyValues", "endpoint": {"uri": receiver.url}},
                },
            )
            assert r.status_code == 201, r.text
            subs.append(r.headers["location"].rsplit("/", 1)[1])
        lat = []
        for i in range(samples):
            n = i % 100
            t0 = time.monotonic()
            r = client.patch(
                f"/ngsi-ld/v1/entities/urn:ngsi-ld:{TYPE}:{n}/attrs",
                json={"pm25": {"type": "Property", "value": i}},
            )
            assert r.status_code == 204
            receiver.wait(i + 1)
            lat.append((receiver.arrivals[f"{subs[n]}|{i}"] - t0) * 1000)
            time.sleep(0.005)
        out["p50"] = statistics.median(lat)
        out["p95"] = percentile(lat, 95)
    receiver.close()
    return out


def fanout(backend: str, writes: int, subscriptions: int = 100) -> dict[str, float]:
    """Return p50/p95 [ms] from a write to the last of its ``subscriptions`` notifications.

    Also ``fan_cpu``: the CPU time [ms] of this process (the app: API, writer, dispatcher)
    per write and its notifications — on a shared machine a steadier figure than the wall
    time. The receiver runs in its own process and is not counted.

    Every subscription watches the same entity and sends to the same receiver (one origin),
    so each write queues ``subscriptions`` outbox rows in its transaction and the dispatcher
    sends them as ``subscriptions`` HTTP requests.
    """
    receiver = _Receiver()
    eid = f"urn:ngsi-ld:{TYPE}:0"
    with database(backend) as url, TestClient(create_app(settings_for(url))) as client:
        body = {"id": eid, "type": TYPE, "pm25": {"type": "Property", "value": -1}}
        assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
        for _ in range(subscriptions):
            r = client.post(
                "/ngsi-ld/v1/subscriptions",
                json={
                    "type": "Subscription",
                    "entities": [{"type": TYPE, "id": eid}],
                    "notification": {"format": "keyValues", "endpoint": {"uri": receiver.url}},
                },
            )
            assert r.status_code == 201, r.text
        fan = []
        cpu = 0.0
        for value in range(-writes // 5, writes):  # the first fifth warms up, not counted
            if value == 0:
                cpu = time.process_time()
            before = receiver.count
            t0 = time.monotonic()
            r = client.patch(
                f"/ngsi-ld/v1/entities/{eid}/attrs",
                json={"pm25": {"type": "Property", "value": value}},
            )
            assert r.status_code == 204, r.text
            receiver.wait(before + subscriptions)
            arrived = receiver.by_value.get(str(value), [])
            assert len(arrived) == subscriptions, f"{len(arrived)} of {subscriptions} arrived"
            if value >= 0:
                fan.append((max(arrived) - t0) * 1000)
        cpu = (time.process_time() - cpu) / writes * 1000
    receiver.close()
    return {"fan_p50": statistics.median(fan), "fan_p95": percentile(fan, 95), "fan_cpu": cpu}


def main() -> None:
    """Run the chosen cases on the chosen backends, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--case", choices=("write", "latency", "fanout", "all"), default="all", help="what to run"
    )
    parser.add_argument("--writes", type=int, default=400, help="writes per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=500, help="latency samples")
    parser.add_argument("--fanout-writes", type=int, default=50, help="fan-out samples")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    rows = []
    for backend in backends:
        if args.case in ("write", "all"):
            cost = write_cost(backend, (0, 10, 10_000), args.writes, args.rounds)
            ratio = cost[10_000] / cost[10]
            rows += [
                (backend, "write, 0 subscriptions", f"{cost[0]:.3f} ms", "—", "—"),
                (backend, "write, 10 subscriptions", f"{cost[10]:.3f} ms", "—", "—"),
                (backend, "write, 10,000 subscriptions", f"{cost[10_000]:.3f} ms", "—", "—"),
                (
                    backend,
                    "write cost 10,000 / 10 subscriptions",
                    f"{ratio:.2f}×",
                    "≤ 2×",
                    "yes" if ratio <= 2 else "**no**",
                ),
            ]
        if args.case in ("latency", "all"):
            lat = latency(backend, args.samples)
            rows.append(
                (
                    backend,
                    "latency write→receiver, 100 subscriptions",
                    f"p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms",
                    "p95 ≤ 50 ms",
                    "yes" if lat["p95"] <= 50 else "**no**",
                )
            )
        if args.case in ("fanout", "all"):
            fan = fanout(backend, args.fanout_writes)
            rows.append(
                (
                    backend,
                    "one write fanned out to 100 subscriptions (last arrival)",
                    f"p50 {fan['fan_p50']:.1f} ms, p95 {fan['fan_p95']:.1f} ms "
                    f"(CPU {fan['fan_cpu']:.1f} ms per write)",
                    "p95 ≤ 50 ms",
                    "yes" if fan["fan_p95"] <= 50 else "**no**",
                )
            )
    out = Table(title="CityOS subscriptions")
    for column in ("backend", "measure", "result", "target", "met"):
        out.add_column(column)
    for row in rows:
        out.add_row(*row)
    console.print(out)
    if args.no_record:
        return
    now = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"## subscription_bench — {now}",
        "",
        f"- machine: {machine()}",
        f"- commit: {commit()}",
        f"- write cost: median of {args.rounds} round medians of {args.writes} one-attribute "
        f"updates through the service layer (temporal history on), {ENTITIES:,} entities; "
        "exactly one subscription matches each write",
        f"- latency: {args.samples} PATCH requests through the app (TestClient, one process) "
        "to a local HTTP receiver, one at a time",
        f"- fan-out: {args.fanout_writes} PATCH requests of one entity watched by 100 "
        "subscriptions (after 1/5 as many unmeasured), one at a time, each until the last of "
        "its 100 notifications arrived",
        "",
        "| backend | measure | result | target | met |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
    ]
    with (ROOT / "docs" / "benchmarks.md").open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    console.print("recorded in docs/benchmarks.md")


if __name__ == "__main__":
    main()
