"""Count the instructions of each phase of a batch upsert of new entities, with callgrind.

Where ``hub_cost.py`` counts whole requests, this splits the store-side work of one batch
upsert (SQLite, no HTTP) into phases by dumping callgrind's counts around them: JSON
parsing, expanding and checking the entities (``batch._prepare``), the transaction's
Python, the existence look-up (``get_many``), each table's multi-row INSERT
(``insert_rows``: the entity rows, type rows, geometry rows and the R*Tree), the change
listeners, COMMIT, and freeing the request's objects. With ``--history`` (the temporal
history on, as ``cityos up`` runs) the listener is split too: building the change rows
(``change_row``/``spliced_row`` and their JSON), the history writer's Python, its key
look-ups (``_sqlite_entities``) and its INSERTs ("HIST …"). Per new entity, summed over
``--batches`` upserts of 1,000 AirQualityObserved-like entities after two uncounted ones.

    .venv/bin/python benchmarks/hub_cost_phases.py [--history]
    PYTHONPATH=/path/to/other/src .venv/bin/python benchmarks/hub_cost_phases.py   # a baseline

Needs valgrind (with valgrind/callgrind.h) and a C compiler, as hub_cost.py does.
"""

from __future__ import annotations

import argparse
import gc
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_bench import air_quality  # noqa: E402
from hub_cost import Marker, build_marker, phase_totals  # noqa: E402

BATCH = 1_000


def between(mark: Marker, fn: Any, before: str, after: str | Any | None) -> Any:
    """Wrap ``fn``: dump the counts as ``before`` when it is called and, when it returns, as
    ``after`` (a label, a function of the call's arguments giving one, or None: no dump)."""

    def counted(*args: Any, **kw: Any) -> Any:
        mark.dump(before)
        result = fn(*args, **kw)
        if after is not None:
            mark.dump(after if isinstance(after, str) else after(*args))
        return result

    return counted


def _insert_label(prefix: str) -> Any:
    """The label of an ``insert_rows(conn, head, rows)`` call: ``prefix`` and its table."""
    return lambda conn, head, rows: prefix + head.split()[2]


def instrument(mark: Marker) -> None:
    """Dump the counts around the SQLite store's phases (wrapping its functions)."""
    import cityos.hub.store.sqlite as sq

    py = "transaction Python"
    sq.insert_rows = between(mark, sq.insert_rows, py, _insert_label("INSERT "))
    tx, store = sq._SQLiteTransaction, sq.SQLiteStore
    tx.get_many = between(mark, tx.get_many, py, "get_many")  # type: ignore[method-assign]
    store._before_commit = between(  # type: ignore[method-assign]
        mark, store._before_commit, py, "change listeners"
    )
    store._after_commit = staticmethod(  # type: ignore[method-assign]
        between(mark, store._after_commit, "COMMIT", None)
    )


def batch_setup(folder: Path, batches: int, history: bool) -> tuple[Any, Any, list[bytes]]:
    """Return a migrated SQLite store in ``folder``, the core context, and the request bodies
    of ``batches`` + 2 upserts of 1,000 new entities (the first two are not counted)."""
    from cityos.config import Settings
    from cityos.hub.context import ContextResolver
    from cityos.hub.store import open_store

    url = f"sqlite:///{folder}/hub.db"
    cityos = Path(sys.executable).with_name("cityos")
    subprocess.run([str(cityos), "db", "upgrade", "--database-url", url], check=True)
    settings = Settings(
        database_url=url, seed_city=False, twin_live="off", jobs="off", temporal_history=history
    )
    store = open_store(settings)
    ctx = ContextResolver(settings).resolve(None)
    rng = random.Random(1)
    bodies = [
        orjson.dumps([air_quality(100_000 + b * BATCH + i, rng) for i in range(BATCH)])
        for b in range(batches + 2)
    ]
    return store, ctx, bodies


def counted_upserts(
    mark: Any,
    store: Any,
    ctx: Any,
    bodies: list[bytes],
    before_counting: Any = None,
    *,
    lane: bool = False,
) -> None:
    """Run the batch upserts of ``bodies`` as a request does, counting from the third one
    (``before_counting`` runs just before it) and dumping the counts after each phase;
    ``lane``: through the object-free lane (``run_batch_lane``), as HTTP requests of new
    entities in application/json take it."""
    from types import SimpleNamespace

    from cityos.hub import batch
    from cityos.hub._time import utc_now
    from cityos.hub.batch import BatchResult, _prepare, _run_tx

    if lane:
        native = batch._LANE
        assert native is not None, "the lane's extension is not built"
        batch._LANE = SimpleNamespace(  # type: ignore[assignment]
            entity_rows=between(mark, native.entity_rows, "lane: before", "lane: bytes to rows (C)")
        )
        store.prepare_lane = between(mark, store.prepare_lane, "lane: before", "lane: prepare_lane")
    for n, raw in enumerate(bodies):
        if n == 2:
            if before_counting is not None:
                before_counting()
            mark.start()
        if lane:
            assert batch.run_batch_lane(store, "t", "upsert", raw, ctx) is not None
            mark.dump("transaction Python")
            mark.dump("freeing the request's objects")
            continue
        body = orjson.loads(raw)
        now = utc_now()
        result = BatchResult()
        mark.dump("JSON parsing")
        items = _prepare(body, "upsert", ctx, now, result)
        mark.dump("expand and check (_prepare)")
        _run_tx(store, "t", items, "upsert", ctx, now, True, False, result, None)
        mark.dump("transaction Python")
        del body, items, result
        mark.dump("freeing the request's objects")


def instrument_history(mark: Marker) -> None:
    """Dump the counts around the history writer's phases (wrapping its functions)."""
    import cityos.hub.temporal.record as rec

    py = "history Python"
    rec.insert_rows = between(mark, rec.insert_rows, py, _insert_label("HIST "))
    recorder = rec.TemporalRecorder
    recorder._sqlite_entities = between(  # type: ignore[method-assign]
        mark, recorder._sqlite_entities, py, "history key look-ups"
    )
    recorder.write_changes = between(  # type: ignore[method-assign]
        mark, recorder.write_changes, "history change rows", py
    )


def child(folder: Path, lib: str, batches: int, history: bool, lane: bool) -> None:
    """Run inside valgrind: make the store, run the upserts, dump around each phase."""
    mark = Marker(Path(lib))
    store, ctx, bodies = batch_setup(folder, batches, history=history)
    instrument(mark)
    if history:
        instrument_history(mark)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)  # as create_app sets it
    counted_upserts(mark, store, ctx, bodies, lane=lane)


def main() -> None:
    """Run the counting child under callgrind and print instructions per entity by phase."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4, help="counted upserts of 1,000")
    parser.add_argument("--history", action="store_true", help="temporal history on")
    parser.add_argument(
        "--lane", action="store_true", help="through the object-free lane (run_batch_lane)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.batches, args.history, args.lane)
        return
    with tempfile.TemporaryDirectory(prefix="cityos-phases-") as tmp:
        folder = Path(tmp)
        lib = build_marker(folder)
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
            + [f"--callgrind-out-file={folder}/cg.out", sys.executable, __file__]
            + ["--batches", str(args.batches), "--child", str(folder), str(lib)]
            + (["--history"] if args.history else [])
            + (["--lane"] if args.lane else []),
            check=True,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        totals = phase_totals(folder)
    entities = args.batches * BATCH
    history = "history on" if args.history else "history off"
    path = ", object-free lane" if args.lane else ""
    print(f"batch upsert of new entities, {history}{path}; instructions per entity (callgrind)")
    for phase, count in totals.most_common():
        print(f"{phase:<32} {count / entities:10,.0f}")
    print(f"{'total':<32} {sum(totals.values()) / entities:10,.0f}")


if __name__ == "__main__":
    main()
