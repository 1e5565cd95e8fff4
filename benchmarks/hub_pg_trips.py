"""Count the statements and round trips the NGSI-LD hub spends per request on PostgreSQL.

Wall-clock rates are noise on a shared 2-core machine; what a request asks of the database
is not. This script builds the real ASGI app (``create_app``) on a fresh PostgreSQL
database with authentication on (an API key, as benchmarks/hub_bench.py uses), seeds it,
and traces every psycopg connection the process opens (libpq's ``PQtrace``: every protocol
message, both ways). Per request it reports:

- ``stmts``: statements executed (extended-protocol Execute plus simple Query messages)
- ``trips``: round trips (a run of messages to the server followed by its answer)
- ``parses``: statements parsed and planned afresh (not a prepared statement's Bind)
- ``cpu``: CPU of this process and of the PostgreSQL backends serving its connections
  ([µs] per request, from ``time.process_time`` and /proc; load-independent within noise)
- ``wall``: elapsed time per request ([µs]; shown, but only ratios in one run mean much)

for ``PATCH /ngsi-ld/v1/entities/{id}/attrs/pm25``, ``GET`` by id and an upsert of 1,000
new 8-attribute entities, and the same changes done straight with psycopg (``raw_*``: one
jsonb document column; the read-modify-write PATCH with ``SELECT … FOR UPDATE``), so the
hub's overhead is a ratio measured in one run. Hub and raw runs alternate in rounds.

    .venv/bin/python benchmarks/hub_pg_trips.py [--requests 300] [--no-history]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_bench import air_quality, database  # noqa: E402
from hub_cost import BATCH, SEED_ENTITIES, Asgi, bench_app, patch_and_get, seed  # noqa: E402

TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")


@dataclass
class Tally:
    """What one kind of request cost, summed over its rounds."""

    count: int = 0
    stmts: int = 0
    trips: int = 0
    parses: int = 0
    client_cpu: float = 0.0  # [s]
    server_cpu: float = 0.0  # [s]
    wall: float = 0.0  # [s]
    statements: dict[str, int] = field(default_factory=dict)


def count_trace(text: str, tally: Tally, parsed: dict[str, str]) -> None:
    """Add the statements, round trips and parses of one libpq trace to ``tally``.

    ``parsed`` maps the connection's prepared statement names to their SQL (kept across
    phases: a statement prepared in one is bound by name in the next).
    """
    previous = ""
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        direction, kind = parts[0], parts[2]
        if direction == "B" and previous == "F":
            tally.trips += 1
        previous = direction
        if direction != "F":
            continue
        rest = parts[3] if len(parts) > 3 else ""
        if kind == "Query":
            tally.stmts += 1
            tally.parses += 1
            sql = rest.strip().strip('"')[:90]
            tally.statements[sql] = tally.statements.get(sql, 0) + 1
        elif kind == "Parse":
            tally.parses += 1
            name, _, sql = rest.strip().partition(" ")
            parsed[name.strip('"')] = sql.strip().rsplit('" ', 1)[0].strip('"')[:90]
        elif kind == "Bind":
            fields = rest.strip().split(" ")
            statement = fields[1].strip('"') if len(fields) > 1 else ""
            sql = parsed.get(statement, f"(prepared {statement})")
            tally.statements[sql] = tally.statements.get(sql, 0) + 1
        elif kind == "Execute":
            tally.stmts += 1


class Tracer:
    """Trace every psycopg connection this process opens, one file per connection and phase."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.conns: list[tuple[psycopg.Connection[Any], int]] = []
        self.files: list[tuple[Path, int]] = []  # (trace file, connection index)
        self.parsed: list[dict[str, str]] = []  # per connection: prepared name -> SQL
        self.handles: list[Any] = []  # libpq writes to their descriptors: keep them open
        self.phase = 0

    def install(self) -> None:
        """Wrap ``psycopg.Connection.connect`` (the pool and SQLAlchemy both call it)."""
        original = psycopg.Connection.connect.__func__  # type: ignore[attr-defined]
        self._originals = (psycopg.Connection.connect, psycopg.connect)
        tracer = self

        def connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
            conn = original(cls, *args, **kwargs)
            tracer.conns.append((conn, conn.info.backend_pid))
            tracer.parsed.append({})
            tracer._start(conn, len(tracer.conns) - 1)
            return conn

        psycopg.Connection.connect = classmethod(connect)  # type: ignore[method-assign,assignment]
        psycopg.connect = psycopg.Connection.connect  # what SQLAlchemy's dialect calls

    def uninstall(self) -> None:
        """Stop tracing new connections."""
        psycopg.Connection.connect, psycopg.connect = self._originals  # type: ignore[method-assign]

    def _start(self, conn: psycopg.Connection[Any], index: int) -> None:
        path = self.folder / f"trace-{self.phase}-{index}.txt"
        handle = path.open("w")
        self.handles.append(handle)
        self.files.append((path, index))
        conn.pgconn.trace(handle.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def server_cpu(self) -> float:
        """Return the CPU [s] the backends of every traced connection have used."""
        total = 0.0
        for _, pid in self.conns:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # a closed connection's backend is gone
                continue
            total += (int(fields[11]) + int(fields[12])) * TICK_US / 1e6
        return total

    def collect(self, tally: Tally) -> None:
        """Close the current phase: count its traces into ``tally``, trace the next phase."""
        for conn, _ in self.conns:
            if not conn.closed:
                conn.pgconn.untrace()  # flushes the trace file
        for path, index in self.files:
            count_trace(path.read_text(), tally, self.parsed[index])
            path.unlink()
        for handle in self.handles:
            handle.close()
        self.files, self.handles = [], []
        self.phase += 1
        for index, (conn, _) in enumerate(self.conns):
            if not conn.closed:
                self._start(conn, index)


@contextmanager
def measured(tracer: Tracer, tally: Tally, count: int) -> Iterator[None]:
    """Measure one round of ``count`` requests into ``tally``."""
    tracer.collect(Tally())  # drop whatever ran between rounds
    cpu, server, wall = time.process_time(), tracer.server_cpu(), time.perf_counter()
    yield
    tally.wall += time.perf_counter() - wall
    tally.client_cpu += time.process_time() - cpu
    tally.server_cpu += tracer.server_cpu() - server
    tally.count += count
    tracer.collect(tally)


def make_key(url: str) -> str:
    """Create a device key that reads and writes everything (migrates the database)."""
    cityos = Path(sys.executable).with_name("cityos")
    made = subprocess.run(
        [str(cityos), "keys", "create", "--name", "hub_trips", "--role", "device"]
        + ["--scopes", "tenants=*;types=*;actions=read,write", "--database-url", url],
        env={**os.environ, "CITYOS_SEED_CITY": "false"},
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


class Raw:
    """The same changes done straight with psycopg on one jsonb document column."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.Connection.connect(url)  # traced like the hub's
        self.conn.execute("CREATE TABLE raw (id text PRIMARY KEY, type text, doc jsonb)")
        docs = [air_quality(i, random.Random(i)) for i in range(SEED_ENTITIES)]
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO raw VALUES (%s, %s, %s)",
                [(e["id"], e["type"], orjson.dumps(e).decode()) for e in docs],
            )
        self.conn.commit()
        self.prefix = "urn:ngsi-ld:AirQualityObserved:bench-"

    def patch(self, rng: random.Random) -> None:
        """Read one entity locked, change one value, write it back, commit."""
        entity_id = self.prefix + str(rng.randrange(SEED_ENTITIES))
        with self.conn.transaction():
            row = self.conn.execute(
                "SELECT doc FROM raw WHERE id = %s FOR UPDATE", (entity_id,)
            ).fetchone()
            assert row is not None
            doc = row[0]
            doc["pm25"]["value"] = rng.randint(0, 90)
            self.conn.execute(
                "UPDATE raw SET doc = %s WHERE id = %s", (orjson.dumps(doc).decode(), entity_id)
            )

    def get(self, rng: random.Random) -> None:
        """Read one entity (autocommit-like: one statement, then commit)."""
        entity_id = self.prefix + str(rng.randrange(SEED_ENTITIES))
        self.conn.execute("SELECT doc FROM raw WHERE id = %s", (entity_id,)).fetchone()
        self.conn.commit()

    def upsert(self, rows: list[tuple[str, str, str]]) -> None:
        """Insert or replace a batch in one transaction."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO raw VALUES (%s, %s, %s) ON CONFLICT (id) DO UPDATE "
                "SET type = excluded.type, doc = excluded.doc",
                rows,
            )


async def run(args: argparse.Namespace, url: str, key: str, tracer: Tracer) -> dict[str, Tally]:
    """Seed the hub, then measure each kind of request, hub and raw alternating."""
    app = bench_app(url, history=args.history)
    tallies = {k: Tally() for k in ("patch", "raw_patch", "get", "raw_get", "upsert", "raw_upsert")}
    async with app.router.lifespan_context(app):
        asgi = Asgi(app, key)
        rng = random.Random(42)
        await seed(asgi, rng)
        raw = Raw(url)

        patch, get = patch_and_get(asgi, rng)

        for _ in range(30):  # warm-up: caches, prepared statements, partitions
            await patch()
            await get()
            raw.patch(rng)
            raw.get(rng)
        rounds = args.rounds
        per_round = max(1, args.requests // rounds)
        kinds: list[tuple[str, Callable[[], Any], bool]] = [
            ("patch", patch, True),
            ("raw_patch", lambda: raw.patch(rng), False),
            ("get", get, True),
            ("raw_get", lambda: raw.get(rng), False),
        ]
        for _ in range(rounds):
            for name, call, is_async in kinds:
                with measured(tracer, tallies[name], per_round):
                    for _ in range(per_round):
                        if is_async:
                            await call()
                        else:
                            call()
        serial = 100_000
        for _ in range(args.batches):
            entities = [air_quality(serial + i, rng) for i in range(BATCH)]
            serial += BATCH
            body = orjson.dumps(entities)
            with measured(tracer, tallies["upsert"], BATCH):
                status, out = await asgi("POST", "/ngsi-ld/v1/entityOperations/upsert", body)
            if status not in (201, 204):
                raise SystemExit(f"upsert answered {status}: {out[:300]!r}")
            rows = [(e["id"], str(e["type"]), orjson.dumps(e).decode()) for e in entities]
            for e in entities:  # the raw table gets other ids: new rows there too
                e["id"] = str(e["id"]) + "-raw"
            rows = [(str(e["id"]), t, d) for e, (_, t, d) in zip(entities, rows, strict=True)]
            with measured(tracer, tallies["raw_upsert"], BATCH):
                raw.upsert(rows)
        raw.conn.close()
    return tallies


def report(tallies: dict[str, Tally], args: argparse.Namespace) -> None:
    """Print per-request figures, hub and raw side by side, and the hub's statements."""
    history = "on" if args.history else "off"
    print(f"\nPostgreSQL, history {history}; per request (per entity for upsert)")
    head = f"{'kind':<11}{'stmts':>8}{'trips':>8}{'parses':>8}"
    print(head + f"{'client cpu µs':>15}{'server cpu µs':>15}{'wall µs':>10}")
    for kind in ("patch", "raw_patch", "get", "raw_get", "upsert", "raw_upsert"):
        t = tallies[kind]
        if not t.count:
            continue
        n = t.count
        print(
            f"{kind:<11}{t.stmts / n:8.2f}{t.trips / n:8.2f}{t.parses / n:8.2f}"
            f"{t.client_cpu / n * 1e6:15,.0f}{t.server_cpu / n * 1e6:15,.0f}"
            f"{t.wall / n * 1e6:10,.0f}"
        )
    for kind in ("patch", "get", "upsert"):
        t, raw = tallies[kind], tallies[f"raw_{kind}"]
        if t.count and raw.count and raw.wall:
            print(
                f"{kind}: hub/raw wall {t.wall / raw.wall:.2f}, "
                f"client cpu {t.client_cpu / max(raw.client_cpu, 1e-9):.2f}, "
                f"server cpu {t.server_cpu / max(raw.server_cpu, 1e-9):.2f}"
            )
    if args.statements:
        for kind in ("patch", "get", "upsert"):
            t = tallies[kind]
            print(f"\n{kind}: statements per request")
            for sql, n in sorted(t.statements.items(), key=lambda kv: -kv[1]):
                print(f"{n / t.count:8.3f}  {sql}")


def main() -> None:
    """Parse arguments, run on a fresh database, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="PATCH and GET requests")
    parser.add_argument("--rounds", type=int, default=5, help="hub/raw alternations")
    parser.add_argument("--batches", type=int, default=2, help="upserts of 1,000 new entities")
    parser.add_argument("--no-history", dest="history", action="store_false")
    parser.add_argument("--statements", action="store_true", help="list each statement")
    args = parser.parse_args()
    with database("postgresql") as url, tempfile.TemporaryDirectory(prefix="cityos-trips-") as tmp:
        key = make_key(url)
        tracer = Tracer(Path(tmp))
        tracer.install()
        try:
            tallies = asyncio.run(run(args, url, key, tracer))
        finally:
            tracer.uninstall()
    report(tallies, args)


if __name__ == "__main__":
    main()
