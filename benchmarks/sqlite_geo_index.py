"""Point cells against the R*Tree: SQLite's two geo pre-filters for points, side by side.

The SQLite store indexed every geometry in an R*Tree until migration 0016; points (nearly
every sensor and vehicle) now go into a B-tree index of Z-order cells
(``cityos.hub.store._sqlite_cells``). This script times both on the same points in one run:

- **insert**: 100,000 random points in Sejong's box, in transactions of 1,000 (a batch
  upsert's geo rows) with multi-row ``INSERT … VALUES`` as the store writes them; median
  µs a point over the second half (50,000–100,000 points already stored), the cell
  computation in Python included for the cells;
- **query**: the candidates of 300 random 1 km ``near`` windows (as benchmarks/hub_bench.py
  asks), median and p95 ms, and that both give the same rows.

Each layout is a table shaped like ``hub_geo`` (entity key, attribute IRI, GeoJSON text)
with its index, in its own WAL database file. Prints a table and appends it to
``docs/benchmarks.md`` (``--no-record`` to skip).

    .venv/bin/python benchmarks/sqlite_geo_index.py
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_bench import BBOX, commit, machine  # noqa: E402

from cityos.hub._geo_distance import near_window  # noqa: E402
from cityos.hub.store._sqlite_cells import point_cell, window_ranges  # noqa: E402
from cityos.hub.store._sqlite_checkpoint import BACKSTOP_PAGES  # noqa: E402
from cityos.hub.store._sqlite_rows import insert_rows  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ATTR = "https://uri.etsi.org/ngsi-ld/location"
BATCH = 1_000
console = Console()
# as SQLiteStore._conn sets them (its checkpoints run in a thread of their own: here the
# writer's backstop checkpoints at 16,384 pages, as the store's writers do)
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA cache_size=-16384",
    f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}",
)

SCHEMA = {
    "rtree": [
        "CREATE TABLE g (pk INTEGER PRIMARY KEY, entity_pk INTEGER, attr TEXT, geojson TEXT)",
        "CREATE VIRTUAL TABLE r USING rtree(pk, min_lon, max_lon, min_lat, max_lat)",
    ],
    "cells": [
        "CREATE TABLE g (pk INTEGER PRIMARY KEY, entity_pk INTEGER, attr TEXT, geojson TEXT, "
        "cell INTEGER, lon REAL, lat REAL)",
        "CREATE INDEX g_cell ON g (cell, lon, lat, attr, entity_pk) WHERE cell IS NOT NULL",
    ],
}


def points(n: int, seed: int) -> list[tuple[float, float]]:
    """Return ``n`` random points in the benchmark's box."""
    rng = random.Random(seed)
    return [
        (BBOX[0] + rng.random() * (BBOX[2] - BBOX[0]), BBOX[1] + rng.random() * (BBOX[3] - BBOX[1]))
        for _ in range(n)
    ]


def fill(conn: sqlite3.Connection, layout: str, where: list[tuple[float, float]]) -> list[float]:
    """Insert ``where`` in transactions of BATCH; return µs a point of each transaction."""
    costs = []
    for start in range(0, len(where), BATCH):
        chunk = list(enumerate(where[start : start + BATCH], start + 1))
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        if layout == "rtree":
            rows: list[tuple[Any, ...]] = []
            boxes = []
            for pk, (lon, lat) in chunk:
                text = orjson.dumps({"type": "Point", "coordinates": [lon, lat]}).decode()
                rows.append((pk, pk, ATTR, text))
                boxes.append((pk, lon, lon, lat, lat))
            insert_rows(conn, "INSERT INTO g (pk, entity_pk, attr, geojson)", rows)
            insert_rows(conn, "INSERT INTO r (pk, min_lon, max_lon, min_lat, max_lat)", boxes)
        else:
            rows = []
            for pk, (lon, lat) in chunk:
                text = orjson.dumps({"type": "Point", "coordinates": [lon, lat]}).decode()
                rows.append((pk, pk, ATTR, text, point_cell(lon, lat), lon, lat))
            insert_rows(conn, "INSERT INTO g (pk, entity_pk, attr, geojson, cell, lon, lat)", rows)
        conn.execute("COMMIT")
        costs.append((time.perf_counter() - began) / len(chunk) * 1e6)
    return costs


def candidates(conn: sqlite3.Connection, layout: str, window: tuple[float, ...]) -> list[int]:
    """Return the entity keys whose point lies in ``window`` (the store's pre-filter)."""
    min_lon, min_lat, max_lon, max_lat = window
    if layout == "rtree":
        sql = (
            "SELECT g.entity_pk FROM r JOIN g ON g.pk = r.pk WHERE r.max_lon >= ? "
            "AND r.min_lon <= ? AND r.max_lat >= ? AND r.min_lat <= ? AND g.attr = ?"
        )
        params: list[Any] = [min_lon, max_lon, min_lat, max_lat, ATTR]
    else:
        ranges = window_ranges(min_lon, min_lat, max_lon, max_lat)
        sql = (
            "SELECT g.entity_pk FROM (VALUES "
            + ", ".join(["(?, ?)"] * len(ranges))
            + ") c JOIN g ON g.cell BETWEEN c.column1 AND c.column2 "
            "WHERE g.lon BETWEEN ? AND ? AND g.lat BETWEEN ? AND ? AND g.attr = ?"
        )
        params = [b for pair in ranges for b in pair] + [min_lon, max_lon, min_lat, max_lat, ATTR]
    return sorted(pk for (pk,) in conn.execute(sql, params))


def run(n: int, queries: int) -> list[tuple[str, str, str, str]]:
    """Time both layouts on the same points and windows; return the table's rows."""
    where = points(n, 1)
    centres = points(queries, 2)
    windows = [near_window(lon, lat, 1000.0) for lon, lat in centres]
    found: dict[str, list[list[int]]] = {}
    timings: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cityos-geoindex-") as tmp:
        for layout, statements in SCHEMA.items():
            conn = sqlite3.connect(f"{tmp}/{layout}.db", isolation_level=None)
            for pragma in PRAGMAS:
                conn.execute(pragma)
            for statement in statements:
                conn.execute(statement)
            insert = statistics.median(fill(conn, layout, where)[len(where) // BATCH // 2 :])
            times = []
            found[layout] = []
            for window in windows:
                began = time.perf_counter()
                found[layout].append(candidates(conn, layout, window))
                times.append((time.perf_counter() - began) * 1e3)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            timings[layout] = (insert, statistics.median(times), p95)
            conn.close()
    # The R*Tree keeps 32-bit floats rounded outwards, so it may also return points just
    # outside the window (the store's exact test drops them); the cells' bounds are exact.
    subset = all(set(c) <= set(r) for c, r in zip(found["cells"], found["rtree"], strict=True))
    extra = sum(len(r) - len(c) for c, r in zip(found["cells"], found["rtree"], strict=True))
    mean = statistics.mean(len(f) for f in found["cells"])
    r_ins, r_med, r_p95 = timings["rtree"]
    c_ins, c_med, c_p95 = timings["cells"]
    return [
        (
            f"insert, {BATCH:,} points a transaction, 50k–100k stored",
            f"{r_ins:.1f} µs/point",
            f"{c_ins:.1f} µs/point",
            f"cells/R*Tree = {c_ins / r_ins:.2f}",
        ),
        (
            f"candidates of a 1 km near window over {n:,} points",
            f"{r_med:.2f} ms median, {r_p95:.2f} p95",
            f"{c_med:.2f} ms median, {c_p95:.2f} p95",
            f"cells/R*Tree = {c_med / r_med:.2f} (median); {mean:.0f} points a window; "
            f"cells' rows among the R*Tree's: {'yes' if subset else 'NO'}; the R*Tree's "
            f"{extra} more over all windows lie just outside (32-bit float boxes)",
        ),
    ]


def main() -> None:
    """Run, print and record the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-record", action="store_true", help="don't write docs/benchmarks.md")
    args = parser.parse_args()
    rows = run(args.points, args.queries)
    table = Table("measure", "R*Tree", "cells (B-tree)", "ratio", title="SQLite point index")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if args.no_record:
        return
    stamp = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M KST")
    lines = [
        "",
        f"## sqlite_geo_index — {stamp}",
        "",
        f"- machine: {machine()}",
        f"- commit: {commit()}",
        f"- SQLite {sqlite3.sqlite_version}; {args.points:,} random points in Sejong's box; "
        "one process, no HTTP",
        "",
        "| measure | R*Tree | cells (B-tree) | ratio |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
    ]
    with (ROOT / "docs" / "benchmarks.md").open("a") as handle:
        handle.write("\n".join(lines))
    console.print("recorded in docs/benchmarks.md")


if __name__ == "__main__":
    main()
