"""Count the instructions the temporal history adds to a batch upsert of new entities (SQLite).

``hub_cost_phases.py`` splits the store-side work of a batch upsert with the history off;
this runs the same upserts with the history on and splits the recorder's part as well, by
dumping callgrind's counts around its steps (``cityos.hub.temporal.record``): building the
change rows, the pairs, describing new entities (``hub_temporal_entities`` rows and their
INSERT), the change rows' key (``next_pk``), their JSON and their INSERT, and the cache
update after COMMIT. The store's own phases are those of ``hub_cost_phases.py``; COMMIT
grows with the history's pages. Per new entity, summed over ``--batches`` upserts of 1,000
AirQualityObserved-like entities after two uncounted ones. ``--no-history`` gives the other
side (the recorder's phases are then absent).

    .venv/bin/python benchmarks/hub_cost_history.py
    PYTHONPATH=/path/to/other/src .venv/bin/python benchmarks/hub_cost_history.py  # a baseline

Needs valgrind (with valgrind/callgrind.h) and a C compiler, as hub_cost.py does.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_cost import Marker, build_marker, dumps  # noqa: E402
from hub_cost_phases import batch_setup, counted_upserts, instrument  # noqa: E402

BATCH = 1_000
_PY = "history: recorder Python"


def wrap(owner: Any, name: str, mark: Marker, before: str, after: str) -> None:
    """Replace ``owner.name`` by a function that dumps ``before`` on entry, ``after`` on exit."""
    inner = getattr(owner, name)

    def counted(*args: Any, **kw: Any) -> Any:
        mark.dump(before)
        try:
            return inner(*args, **kw)
        finally:
            mark.dump(after)

    setattr(owner, name, counted)


def instrument_history(mark: Marker) -> None:
    """Dump the counts around the recorder's steps (module attributes it looks up by name)."""
    import cityos.hub.temporal.record as rec

    recorder = rec.TemporalRecorder
    call = recorder.__call__

    def counted_call(self: Any, tx: Any, changes: Any) -> None:
        mark.dump("transaction Python")  # tx.changes() and the store's own work before it
        call(self, tx, changes)
        mark.dump(_PY)

    write_changes = recorder.write_changes

    def counted_write_changes(self: Any, *args: Any, **kw: Any) -> None:
        mark.dump("history: change rows (change_row)")
        write_changes(self, *args, **kw)
        mark.dump(_PY)

    recorder.__call__ = counted_call  # type: ignore[method-assign]
    recorder.write_changes = counted_write_changes  # type: ignore[method-assign]
    wrap(rec, "split_wide", mark, _PY, "history: split_wide")
    wrap(recorder, "_sqlite_entities", mark, _PY, "history: _sqlite_entities Python")
    wrap(rec, "next_pk", mark, _PY, "history: next_pk")
    insert_rows = rec.insert_rows

    def counted_insert_rows(conn: Any, head: str, rows: Any, **kw: Any) -> None:
        table = head.split()[2]
        if table == "hub_temporal_changes":
            mark.dump("history: change rows' JSON (orjson.dumps)")
        else:
            mark.dump("history: _sqlite_entities Python")
        insert_rows(conn, head, rows, **kw)
        mark.dump("history: INSERT " + table)

    rec.insert_rows = counted_insert_rows  # type: ignore[assignment]
    wrap(recorder, "_remember", mark, "after COMMIT (other)", "history: _remember")


def child(folder: Path, lib: str, batches: int, history: bool) -> None:
    """Run inside valgrind: make the store, run the upserts, dump around each phase."""
    from cityos.hub.temporal.rollup import fold

    mark = Marker(Path(lib))
    store, ctx, bodies = batch_setup(folder, batches, history)
    instrument(mark)
    if history:
        instrument_history(mark)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)  # as create_app sets it
    label = ["?"]
    prefix = [""]  # "later: " while the roll-ups are folded after the requests

    def collected(phase: str, info: dict[str, int]) -> None:
        # a collection's cost is its own phase, not that of the step that triggered it
        if phase == "start":
            label[0] = f"{prefix[0]}garbage collection (generation {info['generation']})"
            mark.dump(f"{prefix[0]}(before a collection)")
        else:
            mark.dump(label[0])

    gc.callbacks.append(collected)
    # the uncounted batches' rows: folded before counting starts
    counted_upserts(mark, store, ctx, bodies, (lambda: fold(store)) if history else None)
    if history:
        # The roll-ups of these rows, as the ``temporal_rollup`` job (every 5 minutes, in a
        # worker thread) or a reader folds them later: deferred, not in the requests. The two
        # uncounted batches are folded first.
        from cityos.hub.temporal.rollup import fold_pending

        conn = store._conn()
        mark.dump("(outside the requests)")
        prefix[0] = "later: "
        conn.execute("BEGIN IMMEDIATE")
        fold_pending(conn)
        conn.execute("COMMIT")
        mark.dump("later: roll-up fold")


def top(files: dict[str, list[str]], count: int) -> None:
    """Print the ``count`` C functions with the most own instructions of each history phase."""
    for label, paths in sorted(files.items()):
        if not label.startswith("history"):
            continue
        out = subprocess.run(
            ["callgrind_annotate", "--inclusive=no", max(paths, key=os.path.getsize)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lines = [ln for ln in out.splitlines() if re.match(r"^\s*[\d,]+ ", ln)][1:]
        print(f"\n{label}: top {count} functions by own instructions (one dump)")
        print("\n".join(lines[:count]))


def main() -> None:
    """Run the counting child under callgrind and print instructions per entity by phase."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=4, help="counted upserts of 1,000")
    parser.add_argument("--no-history", dest="history", action="store_false")
    parser.add_argument(
        "--top", type=int, default=0, help="list the top C functions of each history phase"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], args.batches, args.history)
        return
    with tempfile.TemporaryDirectory(prefix="cityos-history-") as tmp:
        folder = Path(tmp)
        lib = build_marker(folder)
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
            + [f"--callgrind-out-file={folder}/cg.out", sys.executable, __file__]
            + ["--batches", str(args.batches), "--child", str(folder), str(lib)]
            + ([] if args.history else ["--no-history"]),
            check=True,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        totals: collections.Counter[str] = collections.Counter()
        files: dict[str, list[str]] = collections.defaultdict(list)
        for label, count, path in dumps(folder, "cg.out.*"):
            totals[label] += count
            files[label].append(str(path))
        if args.top:
            top(files, args.top)
    entities = args.batches * BATCH
    state = "on" if args.history else "off"
    print(f"batch upsert of new entities, history {state}; instructions per entity (callgrind)")
    later = {k: totals.pop(k) for k in list(totals) if k.startswith(("later", "(outside"))}
    fold = sum(v for k, v in later.items() if k.startswith("later"))
    for phase, count in totals.most_common():
        print(f"{phase:<44} {count / entities:10,.0f}")
    print(f"{'total (the requests)':<44} {sum(totals.values()) / entities:10,.0f}")
    if fold:
        print(f"{'later: roll-up fold of these rows (rollup.py)':<44} {fold / entities:10,.0f}")
        for phase, count in sorted(later.items()):
            if phase.startswith("later") and count:
                print(f"  {phase.removeprefix('later: '):<42} {count / entities:10,.0f}")


if __name__ == "__main__":
    main()
