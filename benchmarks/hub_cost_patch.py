"""Count the instructions of each phase of an attribute PATCH on PostgreSQL, with callgrind.

Where ``hub_cost.py --backend postgresql`` counts whole PATCH requests, this splits them into
phases by dumping callgrind's counts where the request crosses from one part of the hub to
the next (wrapping those functions; the wrappers' own few hundred instructions land in the
phases around them): the HTTP stack, authentication and body parsing up to the store call,
the thread hop, the transaction's opening, the entity read ``FOR UPDATE`` (its round trip
and parsing), the merge, the store's ``replace``, the change listeners (history,
notifications), COMMIT's round trip (the deferred UPDATE and history go with it), the
transaction's closing, and the answer. Per PATCH, over ``--requests`` PATCHes of the real
ASGI app on a fresh PostgreSQL database (hub_cost.py's app, key, seed and requests) after
uncounted warm-up ones. Only the hub process is counted, not PostgreSQL.

    .venv/bin/python benchmarks/hub_cost_patch.py
    PYTHONPATH=/path/to/other/src .venv/bin/python benchmarks/hub_cost_patch.py   # a baseline

Needs valgrind (with valgrind/callgrind.h) and a C compiler, as hub_cost.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_bench import database  # noqa: E402
from hub_cost import (  # noqa: E402
    Asgi,
    Marker,
    bench_app,
    build_marker,
    device_key,
    patch_and_get,
    phase_totals,
    seed,
)


def instrument(mark: Marker) -> None:
    """Dump the counts at the phase boundaries of a PATCH (wrapping the hub's functions)."""
    import cityos.hub.api._http as http
    import cityos.hub.api.entities as entities
    import cityos.hub.service as service
    import cityos.hub.store.postgres as pg
    from cityos.hub.store import _pg_prepared

    patch_attribute = service.patch_attribute

    def counted_patch_attribute(*args: Any, **kwargs: Any) -> Any:
        mark.dump("thread hop (to the store thread)")
        try:
            mark.dump("dump calibration")
            return patch_attribute(*args, **kwargs)
        finally:
            mark.dump("service: after the transaction")

    service.patch_attribute = counted_patch_attribute  # type: ignore[assignment]

    blocking = http.blocking

    async def counted_blocking(func: Any, *args: Any, **kwargs: Any) -> Any:
        mark.dump("HTTP, auth, body, context (to the store call)")
        try:
            return await blocking(func, *args, **kwargs)
        finally:
            mark.dump("thread hop (back to the loop)")

    entities.blocking = counted_blocking  # type: ignore[assignment]

    transaction = pg.PostgresStore.transaction

    class Counted:
        """The store's transaction context manager, with dumps around its enter and exit."""

        def __init__(self, manager: Any) -> None:
            self.manager = manager

        def __enter__(self) -> Any:
            mark.dump("service: before the transaction")
            tx = self.manager.__enter__()
            mark.dump("transaction open (pool, BEGIN queued)")
            return tx

        def __exit__(self, *exc: Any) -> Any:
            mark.dump("service: after replace")
            try:
                return self.manager.__exit__(*exc)
            finally:
                mark.dump("transaction close (pool, after-commit)")

    def counted_transaction(self: Any, tenant: str) -> Any:
        return Counted(transaction(self, tenant))

    pg.PostgresStore.transaction = counted_transaction  # type: ignore[method-assign,assignment]

    get_many = pg._PostgresTransaction.get_many

    def counted_get_many(self: Any, ids: list[str]) -> Any:
        mark.dump("service: before the read")
        found = get_many(self, ids)
        mark.dump("entity read FOR UPDATE (round trip, parse)")
        return found

    pg._PostgresTransaction.get_many = counted_get_many  # type: ignore[method-assign]

    replace = pg._PostgresTransaction.replace

    def counted_replace(self: Any, found: list[Any], **kwargs: Any) -> Any:
        mark.dump("service: merge")
        replace(self, found, **kwargs)
        mark.dump("store replace (UPDATE queued)")

    pg._PostgresTransaction.replace = counted_replace  # type: ignore[method-assign]

    before = pg.PostgresStore._before_commit

    def counted_before(self: Any, tx: Any) -> None:
        mark.dump("transaction close (pool, after-commit)")
        before(self, tx)
        mark.dump("change listeners (history, notifications)")

    pg.PostgresStore._before_commit = counted_before  # type: ignore[method-assign]

    command = _pg_prepared.command

    def counted_command(conn: Any, sql: bytes) -> None:
        if sql != b"COMMIT":
            command(conn, sql)
            return
        mark.dump("transaction close (pool, after-commit)")
        command(conn, sql)
        mark.dump("COMMIT round trip (UPDATE, history, COMMIT)")

    pg.command = counted_command  # type: ignore[assignment]


def child(args: argparse.Namespace) -> None:
    """Run inside valgrind: build the app, seed it, count the PATCHes phase by phase."""
    mark = Marker(Path(args.marker))
    app = bench_app(args.database_url, history=args.history)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            asgi = Asgi(app, args.key)
            await seed(asgi, random.Random(42))
            patch, _ = patch_and_get(asgi, random.Random(11))
            for _ in range(20):
                await patch()
            instrument(mark)
            for _ in range(5):
                await patch()
            mark.start()
            for _ in range(args.requests):
                mark.dump("answer, HTTP stack (from the loop's resumption)")
                await patch()
            mark.dump("answer, HTTP stack (from the loop's resumption)")

    asyncio.run(run())


def main() -> None:
    """Run the counting child under callgrind; print instructions per PATCH by phase."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="counted PATCH requests")
    parser.add_argument("--no-history", dest="history", action="store_false")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--marker", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="cityos-patch-") as tmp, database("postgresql") as url:
        folder = Path(tmp)
        lib = build_marker(folder)
        env = {**os.environ, "CITYOS_SEED_CITY": "false", "PYTHONHASHSEED": "0"}
        key = device_key(url, env)
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
            + [f"--callgrind-out-file={folder}/cg.out", sys.executable, __file__, "--child"]
            + ["--marker", str(lib), "--key", key, "--database-url", url]
            + ["--requests", str(args.requests)]
            + ([] if args.history else ["--no-history"]),
            env=env,
            check=True,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        totals = phase_totals(folder)
    history = "on" if args.history else "off"
    print(f"PATCH of one attribute, PostgreSQL, history {history}; instructions per PATCH")
    for phase, count in totals.most_common():
        print(f"{phase:<52} {count / args.requests:10,.0f}")
    print(f"{'total':<52} {sum(totals.values()) / args.requests:10,.0f}")


if __name__ == "__main__":
    main()
