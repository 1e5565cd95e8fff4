"""CPU per request under load: the hub process, the PostgreSQL server and wrk, side by side.

``hub_bench.py`` reports requests per second; on a shared 2-core host that rate moves with
whatever else runs, and it cannot say *whose* CPU a request costs. This script runs the same
server (``hub_bench.server``: ``cityos up``, authentication and rate limiting on, temporal
history on), loads ``--entities`` entities (batch upserts of 1,000 new entities over 2
connections, as ``hub_bench`` does: the first row, per *entity*), then drives GET by id and
one-attribute PATCH
with wrk (16 connections, ``hub_bench``'s Lua scripts) and reads, before and after each
run, the CPU time (user + system, ``/proc/<pid>/stat``) of the hub process, of every
``postgres`` process (PostgreSQL backends, WAL writer, checkpointer) and of wrk. Per request:
CPU time / requests. "util" is CPU seconds per second (1.0 = one core busy throughout).

Compare two commits in one sitting, alternated (``PYTHONPATH=<worktree>/src``); the CPU per
request is steadier than the rate when other work shares the host, though not immune to it:
with other processes busy, a hub running many threads is given more of the CPU than one
running a single event-loop thread, so compare rates only on a quiet host.

    .venv/bin/python benchmarks/hub_load_cpu.py [--backend postgresql] [--entities 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from hub_bench import LUA_GET, LUA_PATCH, database, load, server  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
console = Console()


def cpu_seconds(pid: int | str) -> float:
    """Return the user + system CPU time of process ``pid`` [s]."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_seconds() -> float:
    """Return the CPU time of every running ``postgres`` process [s] (0 without any)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                total += cpu_seconds(pid)
        except OSError:  # ended meanwhile
            continue
    return total


def measure(base: str, script: str, seconds: int, hub_pid: int) -> dict[str, float]:
    """Run wrk with ``script`` for ``seconds``; return the rate and each side's CPU."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        hub0, pg0 = cpu_seconds(hub_pid), postgres_seconds()
        wrk = subprocess.Popen(
            ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", handle.name, base],
            stdout=subprocess.PIPE,
            text=True,
        )
        wrk_cpu = 0.0
        try:
            while wrk.poll() is None:
                wrk_cpu = max(wrk_cpu, cpu_seconds(wrk.pid))
                try:
                    wrk.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
        except OSError:
            pass
        out = wrk.communicate()[0]
        hub1, pg1 = cpu_seconds(hub_pid), postgres_seconds()
    finally:
        os.unlink(handle.name)
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"wrk printed no rate / wrk가 처리율을 출력하지 않았습니다:\n{out}")
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx answers: the run is invalid / 2xx가 아닌 응답:\n{out}")
    rate = float(found.group(1))
    done = rate * seconds
    return {
        "rate": rate,
        "hub": (hub1 - hub0) / done * 1e6,
        "pg": (pg1 - pg0) / done * 1e6,
        "wrk": wrk_cpu / done * 1e6,
        "hub util": (hub1 - hub0) / seconds,
        "pg util": (pg1 - pg0) / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per test")
    parser.add_argument("--rounds", type=int, default=1, help="GET and PATCH runs each")
    args = parser.parse_args()
    table = Table(title=f"CPU per request under wrk, {args.backend}, {args.entities:,} entities")
    for column in ("request", "rate /s", "hub µs", "server µs", "wrk µs", "hub util", "pg util"):
        table.add_column(column, justify="left" if column == "request" else "right")
    with database(args.backend) as url, server(url) as (base, proc, key):
        hub0, pg0, began = cpu_seconds(proc.pid), postgres_seconds(), time.perf_counter()
        rate, _ = load(base, key, args.entities, random.Random(3), connections=2)
        wall = time.perf_counter() - began
        hub, pg = cpu_seconds(proc.pid) - hub0, postgres_seconds() - pg0
        table.add_row(
            "batch upsert (per entity)",
            f"{rate:,.0f}",
            f"{hub / args.entities * 1e6:.1f}",
            f"{pg / args.entities * 1e6:.1f}" if args.backend == "postgresql" else "—",
            "—",
            f"{hub / wall:.2f}",
            f"{pg / wall:.2f}" if args.backend == "postgresql" else "—",
        )
        for _ in range(args.rounds):
            for name, lua in (("GET by id", LUA_GET), ("PATCH one attribute", LUA_PATCH)):
                script = lua.format(n=args.entities - 1, key=key)
                got = measure(base, script, args.seconds, proc.pid)
                table.add_row(
                    name,
                    f"{got['rate']:,.0f}",
                    f"{got['hub']:.0f}",
                    f"{got['pg']:.0f}" if args.backend == "postgresql" else "—",
                    f"{got['wrk']:.0f}",
                    f"{got['hub util']:.2f}",
                    f"{got['pg util']:.2f}" if args.backend == "postgresql" else "—",
                )
    console.print(table)


if __name__ == "__main__":
    main()
