"""Count the instructions the NGSI-LD hub spends per request, with callgrind.

Wall-clock figures are useless on a shared, loaded machine; instruction counts are not:
callgrind counts them deterministically whatever else runs. This script starts itself under
``valgrind --tool=callgrind`` with instrumentation off, builds the real ASGI app
(``create_app``) on a temporary SQLite file (``--backend postgresql``: a fresh PostgreSQL
database, as benchmarks/hub_bench.py makes one) with authentication on (an API key, as
benchmarks/hub_bench.py uses), live twin, seed city and jobs off, warms it up, then counts
each kind of request between callgrind client requests (a tiny C helper built with the
system compiler), so start-up and warm-up are not counted:

- ``patch``: ``PATCH /ngsi-ld/v1/entities/{id}/attrs/pm25`` (one attribute, random entity)
- ``get``: ``GET /ngsi-ld/v1/entities/{id}`` (``--concurrency N``: N at once)
- ``upsert``: ``POST /ngsi-ld/v1/entityOperations/upsert`` of 1,000 new 8-attribute entities

and the same changes done straight on SQLite (``raw_*``: sqlite3 + orjson, one JSON column),
so the hub's overhead is a ratio. Requests are ASGI calls (no HTTP parsing, no sockets).
On PostgreSQL only the hub process is counted (its store threads included, the server's
work not: benchmarks/hub_pg_trips.py has that), and there are no raw rows.

    .venv/bin/python benchmarks/hub_cost.py                  # history on
    .venv/bin/python benchmarks/hub_cost.py --no-history --top 30
    .venv/bin/python benchmarks/hub_cost.py --gc default     # CPython's GC settings
    .venv/bin/python benchmarks/hub_cost.py --backend postgresql

Needs valgrind (with its headers, valgrind/callgrind.h) and a C compiler.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ctypes
import gc
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_bench import air_quality, database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED_ENTITIES = 2_000
BATCH = 1_000
MARKER_C = r"""
#include <valgrind/callgrind.h>
void cost_start(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void cost_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
int cost_on_valgrind(void) { return RUNNING_ON_VALGRIND; }
"""


def build_marker(folder: Path) -> Path:
    """Compile the callgrind client-request helper into ``folder``; return the .so path."""
    source, lib = folder / "marker.c", folder / "marker.so"
    source.write_text(MARKER_C)
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
    return lib


class Asgi:
    """Call an ASGI app directly with one request; return the status and body."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.key = key.encode()

    async def __call__(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = [(b"host", b"127.0.0.1:8000"), (b"x-api-key", self.key)]
        if body:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # never: the client stays connected
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


def entity_path(i: int) -> str:
    """Return the URL path of the i-th benchmark entity."""
    return f"/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:bench-{i}"


Request = Callable[[], Awaitable[None]]


def patch_and_get(asgi: Asgi, rng: random.Random) -> tuple[Request, Request]:
    """Return the two measured single requests: PATCH ``pm25`` and GET, each of a random
    seeded entity, failing loudly on any other answer than 204/200."""

    async def patch() -> None:
        body = orjson.dumps({"value": rng.randint(0, 90)})
        status, out = await asgi(
            "PATCH", entity_path(rng.randrange(SEED_ENTITIES)) + "/attrs/pm25", body
        )
        if status != 204:
            raise SystemExit(f"PATCH answered {status}: {out[:300]!r}")

    async def get() -> None:
        status, out = await asgi("GET", entity_path(rng.randrange(SEED_ENTITIES)))
        if status != 200:
            raise SystemExit(f"GET answered {status}: {out[:300]!r}")

    return patch, get


def bench_app(url: str, *, history: bool) -> Any:
    """Return the real ASGI app on ``url`` as the harnesses measure it: no seed city, live
    twin or jobs, quiet logs, temporal history as asked."""
    from cityos.app import create_app
    from cityos.config import Settings

    return create_app(
        Settings(
            database_url=url,
            seed_city=False,
            twin_live="off",
            jobs="off",
            log_level="warning",
            temporal_history=history,
        )
    )


async def seed(asgi: Asgi, rng: random.Random) -> None:
    """Upsert the SEED_ENTITIES entities the PATCH and GET requests pick from."""
    for start in range(0, SEED_ENTITIES, BATCH):
        body = orjson.dumps([air_quality(start + i, rng) for i in range(BATCH)])
        status, out = await asgi("POST", "/ngsi-ld/v1/entityOperations/upsert", body)
        if status not in (201, 204):
            raise SystemExit(f"seeding answered {status}: {out[:300]!r}")


async def hub_kinds(asgi: Asgi, count: int, batches: int, mark: Any, concurrency: int = 1) -> None:
    """Run the counted hub requests, dumping callgrind's counts after each kind.

    ``concurrency``: GETs in flight at once (groups gathered on the loop), as wrk's 16
    connections keep them; on PostgreSQL more GETs than the loop reader's connections wait
    for one (or, before session 8, took a store thread: a cost one GET at a time never
    shows).
    """
    rng = random.Random(11)
    patch, get = patch_and_get(asgi, rng)

    upserts = [
        orjson.dumps([air_quality(100_000 + b * BATCH + i, rng) for i in range(BATCH)])
        for b in range(batches)
    ]

    async def upsert(body: bytes) -> None:
        status, out = await asgi("POST", "/ngsi-ld/v1/entityOperations/upsert", body)
        if status not in (201, 204):
            raise SystemExit(f"upsert answered {status}: {out[:300]!r}")

    for _ in range(20):  # warm-up (not counted: instrumentation is still off)
        await patch()
        await get()
    if concurrency > 1:  # PostgreSQL's loop reader opens its connections as GETs overlap
        for _ in range(40):
            await asyncio.gather(*(get() for _ in range(concurrency)))
        await asyncio.sleep(1)  # the last connection's open, in a store thread
    mark.start()
    for _ in range(count):
        await patch()
    mark.dump(f"patch {count}")
    if concurrency == 1:
        for _ in range(count):
            await get()
    else:
        for start in range(0, count, concurrency):
            await asyncio.gather(*(get() for _ in range(min(concurrency, count - start))))
    mark.dump(f"get {count}")
    for body in upserts:
        await upsert(body)
    mark.dump(f"upsert {batches * BATCH}")


def raw_kinds(path: Path, count: int, batches: int, mark: Any) -> None:
    """Do the same changes straight on SQLite (one JSON document column), counted."""
    rng = random.Random(11)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw (id TEXT PRIMARY KEY, type TEXT, doc TEXT)")
    seed = [air_quality(i, random.Random(i)) for i in range(SEED_ENTITIES)]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO raw VALUES (?, ?, ?)", [(e["id"], e["type"], orjson.dumps(e)) for e in seed]
    )
    conn.execute("COMMIT")
    prefix = "urn:ngsi-ld:AirQualityObserved:bench-"
    batch_rows = [
        [
            (e["id"], e["type"], orjson.dumps(e))
            for e in (air_quality(100_000 + b * BATCH + i, rng) for i in range(BATCH))
        ]
        for b in range(batches)
    ]
    mark.dump("raw setup")
    for _ in range(count):  # read, change one value, write back, in one transaction
        entity_id = prefix + str(rng.randrange(SEED_ENTITIES))
        conn.execute("BEGIN IMMEDIATE")
        doc = orjson.loads(
            conn.execute("SELECT doc FROM raw WHERE id = ?", (entity_id,)).fetchone()[0]
        )
        doc["pm25"]["value"] = rng.randint(0, 90)
        conn.execute("UPDATE raw SET doc = ? WHERE id = ?", (orjson.dumps(doc), entity_id))
        conn.execute("COMMIT")
    mark.dump(f"raw_patch {count}")
    for _ in range(count):
        entity_id = prefix + str(rng.randrange(SEED_ENTITIES))
        conn.execute("SELECT doc FROM raw WHERE id = ?", (entity_id,)).fetchone()
    mark.dump(f"raw_get {count}")
    for rows in batch_rows:
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO raw VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
    mark.dump(f"raw_upsert {batches * BATCH}")
    conn.close()


class Marker:
    """The callgrind client requests, through the compiled helper."""

    def __init__(self, lib: Path) -> None:
        self.lib = ctypes.CDLL(str(lib))
        self.lib.cost_dump.argtypes = [ctypes.c_char_p]

    def start(self) -> None:
        self.lib.cost_start()

    def dump(self, label: str) -> None:
        self.lib.cost_dump(label.encode())


def child(args: argparse.Namespace) -> None:
    """Run inside valgrind: build the app, seed it, count each kind of request."""
    mark = Marker(Path(args.marker))
    folder = Path(args.folder)
    app = bench_app(args.database_url, history=args.history)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            if args.gc == "default":  # undo create_app's tuning: CPython's own settings
                gc.unfreeze()
                gc.set_threshold(700, 10, 10)
            asgi = Asgi(app, args.key)
            await seed(asgi, random.Random(42))
            await hub_kinds(asgi, args.requests, args.batches, mark, args.concurrency)

    if args.loop == "uvloop":  # the loop uvicorn runs the hub on (``cityos up``)
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())
    if args.database_url.startswith("sqlite"):
        raw_kinds(folder / "raw.db", args.requests, args.batches, mark)


def dumps(folder: Path, pattern: str = "cg.out*") -> list[tuple[str, int, Path]]:
    """Return (label, instructions, dump file) of every client-request dump in ``folder``."""
    found = []
    for path in sorted(folder.glob(pattern)):
        text = path.read_text(errors="replace")
        label = re.search(r"^desc: Trigger: Client Request: (.+)$", text, re.M)
        total = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
        if label and total:
            found.append((label.group(1).strip(), int(total.group(1)), path))
    return found


def phase_totals(folder: Path) -> collections.Counter[str]:
    """Return the instructions summed per label over the phase dumps (``cg.out.N``)."""
    totals: collections.Counter[str] = collections.Counter()
    for label, count, _ in dumps(folder, "cg.out.*"):
        totals[label] += count
    return totals


def read_dumps(folder: Path) -> dict[str, tuple[int, Path]]:
    """Return label -> (instructions, dump file) of every client-request dump."""
    return {label: (count, path) for label, count, path in dumps(folder)}


def device_key(url: str, env: dict[str, str]) -> str:
    """Return a new device API key (read and write everywhere) made by ``cityos keys``."""
    cityos = Path(sys.executable).with_name("cityos")
    made = subprocess.run(
        [str(cityos), "keys", "create", "--name", "hub_cost", "--role", "device"]
        + ["--scopes", "tenants=*;types=*;actions=read,write", "--database-url", url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def parent(args: argparse.Namespace) -> None:
    """Make the database and key, run the counting child under callgrind, print per request."""
    with (
        tempfile.TemporaryDirectory(prefix="cityos-cost-") as tmp,
        database(args.backend) as url,
    ):
        folder = Path(tmp)
        lib = build_marker(folder)
        env = {**os.environ, "CITYOS_SEED_CITY": "false", "PYTHONHASHSEED": "0"}
        key = device_key(url, env)
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={folder}/cg.out",
            sys.executable,
            __file__,
            "--child",
            "--folder",
            str(folder),
            "--marker",
            str(lib),
            "--key",
            key,
            "--database-url",
            url,
            "--requests",
            str(args.requests),
            "--batches",
            str(args.batches),
            "--gc",
            args.gc,
            "--concurrency",
            str(args.concurrency),
            "--loop",
            args.loop,
        ] + ([] if args.history else ["--no-history"])
        subprocess.run(command, env=env, check=True, stderr=subprocess.DEVNULL)
        dumps = read_dumps(folder)
        print_table(dumps, args)
        if args.top:
            for kind in ("patch", "get", "upsert"):
                label = next((k for k in dumps if k.split()[0] == kind), None)
                if label is None:
                    continue
                out = subprocess.run(
                    ["callgrind_annotate", "--inclusive=no", str(dumps[label][1])],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                lines = [ln for ln in out.splitlines() if re.match(r"^\s*[\d,]+ \(", ln)]
                print(f"\n{label}: top {args.top} functions by own (exclusive) instructions")
                print("\n".join(lines[: args.top]))


def print_table(dumps: dict[str, tuple[int, Path]], args: argparse.Namespace) -> None:
    """Print instructions per request (per entity for upserts), hub and raw."""
    per: dict[str, float] = {}
    for label, (total, _) in dumps.items():
        kind, _, n = label.partition(" ")
        if n.isdigit() and int(n):  # --batches 0: no upserts
            per[kind] = total / int(n)
    history = "on" if args.history else "off"
    print(
        f"\n{args.backend}, history {history}, gc {args.gc}, loop {args.loop}, "
        f"GET concurrency {args.concurrency}; instructions (callgrind Ir)"
    )
    print(f"{'kind':<8} {'hub':>14} {'raw SQLite':>14} {'hub/raw':>8}  unit")
    for kind, unit in (("patch", "per request"), ("get", "per request"), ("upsert", "per entity")):
        if kind in per:
            raw = per.get(f"raw_{kind}")
            ratio = f"{per[kind] / raw:8.1f}" if raw else "       —"
            raw_text = f"{raw:14,.0f}" if raw else f"{'—':>14}"
            print(f"{kind:<8} {per[kind]:14,.0f} {raw_text} {ratio}  {unit}")


def main() -> None:
    """Parse arguments; run as the parent (default) or as the counted child."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="PATCH and GET requests")
    parser.add_argument("--batches", type=int, default=2, help="upserts of 1,000 new entities")
    parser.add_argument("--no-history", dest="history", action="store_false")
    parser.add_argument("--gc", choices=("tuned", "default"), default="tuned")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="GET requests in flight at once (default 1)"
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop of the counted app (uvloop: as uvicorn serves it)",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--top", type=int, default=0, help="list the top C functions per kind (self cost)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--marker", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
