"""Benchmark temporal queries: hourly averages over 30 days of 1-minute data, both backends.

100 sensors × 30 days × 1 reading a minute = 4.32 million instances of ``pm25``. The last
hour (6,000 instances) goes through the API (batch upserts, recorded by the hub's history
recorder in the write's transaction) to prove the path; the rest is written straight into
the recorder's tables (COPY on PostgreSQL, executemany on SQLite) with the entity keys the
API part made: one change row per reading, as the API writes them (migration 0013), the
same instance JSON and hourly roll-ups, computed here with numpy. The
answers are checked against numpy before anything is timed. Then, over HTTP with an API key:

* the hourly average over the 30 days for one sensor and for the type (100 sensors), the
  issue's target being p95 ≤ 200 ms on PostgreSQL;
* the same for one sensor from raw instances (a window one second off the hour), to show
  what the roll-ups save; and the last 100 instances of one sensor.

    .venv/bin/python benchmarks/temporal_bench.py                  # both backends
    .venv/bin/python benchmarks/temporal_bench.py --backend sqlite --repeats 20 --no-record

Results are printed as a table and appended to ``docs/benchmarks.md`` with date and machine.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import orjson
import psycopg
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_bench import ROOT, Result, commit, console, database, machine, server, table  # noqa: E402

from cityos.hub.temporal.partitions import ensure_month_partitions  # noqa: E402
from cityos.hub.temporal.rollup import fold_pending  # noqa: E402

TENANT = "urn:ngsi-ld:tenant:default"
PM25 = "https://uri.etsi.org/ngsi-ld/default-context/pm25"
START = datetime(2026, 10, 1, tzinfo=UTC)
MINUTE = 60_000_000  # [µs]
HOUR = 60 * MINUTE


def sensor_id(i: int) -> str:
    return f"urn:ngsi-ld:AirQualityObserved:tb-{i:03d}"


def readings(sensors: int, minutes: int, seed: int = 2026) -> np.ndarray:
    """Return pm25 [µg/m³] per sensor and minute: a daily cycle plus noise, 0.1 steps."""
    rng = np.random.default_rng(seed)
    t = np.arange(minutes) / (24 * 60)
    base = rng.uniform(10, 40, size=(sensors, 1))
    cycle = 8 * np.sin(2 * np.pi * (t - 0.3))
    noise = rng.normal(0, 4, size=(sensors, minutes))
    return np.round(np.clip(base + cycle + noise, 0, None), 1)


def iso(micros: int) -> str:
    return (START + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def api_part(base: str, key: str, values: np.ndarray, first: int) -> float:
    """Write minutes ``first``… of every sensor through batch upserts; return instances/s."""
    sensors, minutes = values.shape
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=120) as client:
        for minute in range(first, minutes):
            body = [
                {
                    "id": sensor_id(s),
                    "type": "AirQualityObserved",
                    "pm25": {
                        "type": "Property",
                        "value": float(values[s, minute]),
                        "unitCode": "GQ",
                        "observedAt": iso(minute * MINUTE),
                    },
                }
                for s in range(sensors)
            ]
            r = client.post(
                "/ngsi-ld/v1/entityOperations/upsert", content=orjson.dumps(body), headers=headers
            )
            if r.status_code not in (201, 204):
                raise SystemExit(f"upsert failed: {r.status_code} {r.text[:300]}")
    return sensors * (minutes - first) / (time.perf_counter() - started)


def _change_json(value: float, minute: int, start_us: int, stamp_us: int) -> str:
    """Return a change row's ``instances``: the one pm25 instance, as the recorder keeps it."""
    ts = start_us + minute * MINUTE
    body = {
        "type": "Property",
        "value": value,
        "unitCode": "GQ",
        "observedAt": iso(minute * MINUTE),
    }
    return orjson.dumps([[PM25, "", "Property", ts, ts, stamp_us, stamp_us, value, body]]).decode()


def entity_keys(backend: str, url: str) -> dict[str, int]:
    """Return sensor id -> its key in hub_temporal_entities (made by the API part's writes)."""
    sql = "SELECT entity_id, pk FROM hub_temporal_entities WHERE tenant = %s"
    if backend == "postgresql":
        with psycopg.connect(url) as conn:
            return dict(conn.execute(sql, (TENANT,)).fetchall())  # type: ignore[arg-type]
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return dict(conn.execute(sql.replace("%s", "?"), (TENANT,)).fetchall())
    finally:
        conn.close()


def bulk_part(backend: str, url: str, values: np.ndarray, last: int) -> float:
    """Write minutes 0…last-1 of every sensor into the history tables; return rows/s."""
    keys = entity_keys(backend, url)
    sensors = values.shape[0]
    hours = last // 60
    start_us = int(START.timestamp()) * 1_000_000
    stamp_us = int(datetime.now(UTC).timestamp()) * 1_000_000
    started = time.perf_counter()
    with Progress(console=console) as bar:
        task = bar.add_task(f"bulk load ({backend})", total=sensors)
        if backend == "postgresql":
            with psycopg.connect(url) as conn:
                months = {(m.year, m.month) for m in (START, START + timedelta(minutes=last))}
                ensure_month_partitions(conn, months)
                for s in range(sensors):
                    key = keys[sensor_id(s)]
                    buffer = io.StringIO()
                    for minute in range(last):
                        ts = start_us + minute * MINUTE
                        value = float(values[s, minute])
                        doc = _change_json(value, minute, start_us, stamp_us).replace("\\", "\\\\")
                        buffer.write(f"{key}\t{ts}\t{ts}\t{doc}\n")
                    with (
                        conn.cursor() as cur,
                        cur.copy(
                            "COPY hub_temporal_changes (entity, ts_lo, ts_hi, instances) FROM STDIN"
                        ) as copy,
                    ):
                        copy.write(buffer.getvalue())
                    _rollups(conn, key, start_us, values[s, :last].reshape(hours, 60))
                    conn.commit()
                    bar.advance(task)
                # autovacuum analyses freshly loaded tables within minutes; do it now
                conn.execute("ANALYZE")
                conn.commit()
        else:
            conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("BEGIN IMMEDIATE")  # what the API part wrote reaches the roll-ups
            fold_pending(conn)
            conn.execute("COMMIT")
            for s in range(sensors):
                key = keys[sensor_id(s)]
                rows = (
                    (
                        key,
                        start_us + minute * MINUTE,
                        start_us + minute * MINUTE,
                        _change_json(float(values[s, minute]), minute, start_us, stamp_us).encode(),
                    )
                    for minute in range(last)
                )
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT INTO hub_temporal_changes (entity, ts_lo, ts_hi, instances) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                _rollups(conn, key, start_us, values[s, :last].reshape(hours, 60))
                conn.execute("COMMIT")
                bar.advance(task)
            # the roll-ups of these rows were written above: move the fold mark past them
            conn.execute(
                "UPDATE hub_temporal_rollup SET rolled_pk = "
                "(SELECT max(pk) FROM hub_temporal_changes)"
            )
            conn.execute("ANALYZE")
            conn.close()
    return sensors * last / (time.perf_counter() - started)


def _sums(row: np.ndarray) -> tuple[float, float, float, float]:
    return float(row.sum()), float((row * row).sum()), float(row.min()), float(row.max())


def _rollups(conn: Any, key: int, start_us: int, block: np.ndarray) -> None:
    """Write the hourly roll-ups of one sensor's readings (one row of ``block`` per hour)."""
    sql = (
        "INSERT INTO hub_temporal_hourly (entity, attr, dataset_id, hour, n, total, total_sq, "
        "lo, hi) VALUES (%s, %s, '', %s, %s, %s, %s, %s, %s)"
    )
    rows = [(key, PM25, start_us + h * HOUR, 60, *_sums(block[h])) for h in range(block.shape[0])]
    if isinstance(conn, sqlite3.Connection):
        conn.executemany(sql.replace("%s", "?"), rows)
    else:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)


def _params(*, shift_s: int = 0) -> dict[str, str]:
    begin = START + timedelta(seconds=shift_s)
    return {
        "attrs": "pm25",
        "options": "aggregatedValues",
        "aggrMethods": "avg",
        "aggrPeriodDuration": "PT1H",
        "timerel": "between",
        "timeAt": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endTimeAt": (begin + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def count_rows(backend: str, url: str) -> int:
    """Return how many raw instances the history table holds."""
    if backend == "postgresql":
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM hub_temporal_instances").fetchone()
            return int(row[0]) if row else 0
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return int(conn.execute("SELECT count(*) FROM hub_temporal_instances").fetchone()[0])
    finally:
        conn.close()


def check_answers(base: str, key: str, values: np.ndarray) -> None:
    """Compare the hub's hourly averages with numpy's before timing anything."""
    sensors, minutes = values.shape
    want = values.reshape(sensors, minutes // 60, 60).mean(axis=2)
    with httpx.Client(base_url=base, timeout=300, headers={"X-API-Key": key}) as client:
        r = client.get(
            "/ngsi-ld/v1/temporal/entities",
            params={"type": "AirQualityObserved", "limit": str(sensors), **_params()},
        )
        if r.status_code != 200:
            raise SystemExit(f"type query failed: {r.status_code} {r.text[:300]}")
        got = {e["id"]: [p[0] for p in e["pm25"]["avg"]] for e in r.json()}
        if len(got) != sensors:
            raise SystemExit(f"type query answered {len(got)} sensors, not {sensors}")
        for s in range(sensors):
            if not np.allclose(got[sensor_id(s)], want[s], rtol=1e-9, atol=1e-9):
                raise SystemExit(f"hourly averages of {sensor_id(s)} differ from numpy")
        probe = min(7, sensors - 1)
        raw = client.get(
            f"/ngsi-ld/v1/temporal/entities/{sensor_id(probe)}", params=_params(shift_s=1)
        )
        shifted = [p[0] for p in raw.json()["pm25"]["avg"]]
        flat = values[probe]
        expect = [flat[1 + 60 * h : 1 + 60 * (h + 1)].mean() for h in range(minutes // 60)]
        if not np.allclose(shifted, expect, rtol=1e-9):
            raise SystemExit("raw-path hourly averages differ from numpy")


def latencies(base: str, key: str, url: str, params: dict[str, str], repeats: int) -> list[float]:
    """Time ``repeats`` GETs [ms] after one warm-up request."""
    out = []
    with httpx.Client(base_url=base, timeout=300, headers={"X-API-Key": key}) as client:
        for i in range(repeats + 1):
            started = time.perf_counter()
            r = client.get(url, params=params)
            took = (time.perf_counter() - started) * 1000
            if r.status_code != 200:
                raise SystemExit(f"query failed: {r.status_code} {r.text[:300]}")
            if i:
                out.append(took)
    return out


def p95(samples: list[float]) -> float:
    return float(np.percentile(samples, 95))


def bench_backend(backend: str, sensors: int, days: int, repeats: int) -> list[Result]:
    """Load the history on one backend and time the queries."""
    minutes = days * 24 * 60
    values = readings(sensors, minutes)
    results: list[Result] = []
    with database(backend) as url, server(url) as (base, _proc, key):
        api_rate = api_part(base, key, values, minutes - 60)
        load_rate = bulk_part(backend, url, values, minutes - 60)
        check_answers(base, key, values)
        total = count_rows(backend, url)
        if total != sensors * minutes:
            raise SystemExit(f"the history holds {total} instances, not {sensors * minutes}")
        results.append(
            Result(
                "instances loaded",
                total,
                "",
                "—",
                None,
                f"bulk {load_rate:,.0f} rows/s; the last hour through the API "
                f"(batch upserts) {api_rate:,.0f} instances/s; answers checked against numpy",
            )
        )
        one = latencies(
            base,
            key,
            f"/ngsi-ld/v1/temporal/entities/{sensor_id(min(3, sensors - 1))}",
            _params(),
            repeats,
        )
        kind = latencies(
            base,
            key,
            "/ngsi-ld/v1/temporal/entities",
            {"type": "AirQualityObserved", "limit": str(sensors), **_params()},
            repeats,
        )
        raw = latencies(
            base,
            key,
            f"/ngsi-ld/v1/temporal/entities/{sensor_id(min(3, sensors - 1))}",
            _params(shift_s=1),
            max(5, repeats // 5),
        )
        last = latencies(
            base,
            key,
            f"/ngsi-ld/v1/temporal/entities/{sensor_id(min(3, sensors - 1))}",
            {"attrs": "pm25", "lastN": "100"},
            repeats,
        )
        target = "≤ 200 (PostgreSQL)" if backend == "postgresql" else "recorded"
        for name, samples, aim in (
            ("hourly avg, 30 days, one sensor (roll-ups)", one, target),
            (f"hourly avg, 30 days, type = {sensors} sensors (roll-ups)", kind, target),
            ("hourly avg, 30 days, one sensor (raw, window 1 s off the hour)", raw, "—"),
            ("last 100 instances of one sensor", last, "—"),
        ):
            ok = p95(samples) <= 200 if aim.startswith("≤") else None
            results.append(
                Result(
                    name,
                    p95(samples),
                    "ms p95",
                    aim,
                    ok,
                    f"median {statistics.median(samples):.1f} ms, {len(samples)} requests",
                )
            )
    return results


def markdown(runs: dict[str, list[Result]], sensors: int, days: int) -> str:
    """Return the Markdown section recording this run."""
    now = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        f"## temporal_bench — {now}",
        "",
        f"- machine: {machine()}",
        f"- commit: {commit()}",
        f"- {sensors} sensors × {days} days × 1 reading/min of pm25 "
        f"({sensors * days * 1440:,} instances); one server process; client on the same machine",
        "",
    ]
    for backend, results in runs.items():
        lines += [
            f"### {backend}",
            "",
            "| measure | result | target | met | notes |",
            "|---|---|---|---|---|",
        ]
        for r in results:
            met = "—" if r.ok is None else ("yes" if r.ok else "**no**")
            lines.append(f"| {r.name} | {r.value:,.1f} {r.unit} | {r.target} | {met} | {r.note} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, run the benchmark, print and record the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--no-record", action="store_true", help="don't write docs/benchmarks.md")
    args = parser.parse_args()
    if not 1 <= args.days <= 30:
        raise SystemExit("--days must be 1-30 (the history starts on 1 October 2026)")
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    runs = {}
    for backend in backends:
        console.rule(f"{backend}: {args.sensors} sensors × {args.days} days")
        runs[backend] = bench_backend(backend, args.sensors, args.days, args.repeats)
        console.print(table(backend, runs[backend]))
    if not args.no_record:
        path = ROOT / "docs" / "benchmarks.md"
        with path.open("a") as handle:
            handle.write(markdown(runs, args.sensors, args.days))
        console.print(f"recorded in {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
