"""How the twin's one-day run grows with population: 25 %, 50 %, 100 %, 200 % of Sejong.

Each scale runs the whole ``baseline`` scenario (population, demand, traffic with MSA,
shuttles, parking, emissions: ``cityos.twin.run.run_scenario``) in a fresh Python process,
so the peak resident memory (``ru_maxrss``) is that run's own. Wall time is the scenario's
``runtime_s`` (the city model is loaded before the clock starts, as ``cityos twin run`` does)
and the process's wall time including imports.

    .venv/bin/python benchmarks/twin_scale.py                       # 0.25, 0.5, 1, 2
    .venv/bin/python benchmarks/twin_scale.py --scales 0.1 --no-record

Target (issue 5): one day of full Sejong (about 390,000 residents, over 900,000 trips) in
at most 120 s wall and 4 GB memory on the 2-core machine. The table is printed and appended
to ``docs/benchmarks.md`` under "Twin scale" with the date, machine and the load average
(the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=150)
TARGET_S, TARGET_GB = 120.0, 4.0


@dataclass
class Row:
    """One scale's measurements."""

    scale: float
    population: int
    trips: int
    car_trips_share: float
    runtime_s: float
    process_s: float
    peak_gb: float
    cpu_s: float
    load_before: float


def child(scale: float, scenario: str) -> None:
    """Run one scenario at ``scale`` in this process and print its measurements as JSON."""
    from cityos.twin.city import load_city
    from cityos.twin.run import run_scenario
    from cityos.twin.scenario import load_scenario

    city = load_city()
    s = load_scenario(scenario).with_param("simulation.scale", scale)
    k = run_scenario(s, city=city).kpis
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss  # Linux: KiB
    out = {
        "population": k["population"],
        "trips": k["trips"],
        "car": k["mode_share"]["car"],
        "runtime_s": k["runtime_s"],
        "peak_gb": peak_kb / 1024**2,
        "cpu_s": usage.ru_utime + usage.ru_stime,  # whole process, imports included
    }
    print(json.dumps(out))


def run_scale(scale: float, scenario: str) -> Row:
    """Run one scale in a fresh interpreter; return its row."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(scale), "--scenario", scenario],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return Row(
        scale,
        data["population"],
        data["trips"],
        data["car"],
        data["runtime_s"],
        wall,
        data["peak_gb"],
        data["cpu_s"],
        load,
    )


def table(rows: list[Row]) -> Table:
    """Return the rows as a console table."""
    t = Table(title="twin: one simulated day by population")
    for col in (
        "scale",
        "residents",
        "trips",
        "run (s)",
        "process (s)",
        "peak RSS (GB)",
        "CPU (s)",
        "s per 100k trips",
        "load avg",
    ):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            f"{r.scale:g}",
            f"{r.population:,}",
            f"{r.trips:,}",
            f"{r.runtime_s:.1f}",
            f"{r.process_s:.1f}",
            f"{r.peak_gb:.2f}",
            f"{r.cpu_s:.1f}",
            f"{100_000 * r.runtime_s / max(r.trips, 1):.1f}",
            f"{r.load_before:.1f}",
        )
    return t


def markdown(rows: list[Row], scenario: str) -> str:
    """Return the section appended to docs/benchmarks.md."""
    now = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M KST")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = [
        "",
        f"## Twin scale — {now}",
        "",
        f"- machine: `{' '.join(platform.uname())}`, nproc {os.cpu_count()}; commit {commit}",
        f"- scenario `{scenario}` (MSA iterations, shuttles, parking, emissions as in its file);",
        "  each scale in a fresh process; run = `runtime_s` of the scenario, process = wall",
        "  time of the whole process (imports, city model); peak RSS = `ru_maxrss`; CPU =",
        "  user + system time of the process (what wall time would be on an idle core)",
        "- load avg = 1-minute load average just before the run: the machine is shared with",
        "  other sessions, so times above a load of 2 are inflated",
        f"- target: full Sejong (scale 1) ≤ {TARGET_S:.0f} s and ≤ {TARGET_GB:.0f} GB",
        "",
        "| scale | residents | trips | run [s] | process [s] | peak RSS [GB] | CPU [s] "
        "| s per 100k trips | load avg | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        met = ""
        if r.scale == 1.0:
            wall = "met" if r.process_s <= TARGET_S else "**not met**"
            cpu = "met" if r.cpu_s <= TARGET_S else "**not met**"
            mem = "met" if r.peak_gb <= TARGET_GB else "**not met**"
            met = f"wall {wall}, CPU {cpu}, memory {mem}"
        lines.append(
            f"| {r.scale:g} | {r.population:,} | {r.trips:,} | {r.runtime_s:.1f} | "
            f"{r.process_s:.1f} | {r.peak_gb:.2f} | {r.cpu_s:.1f} | "
            f"{100_000 * r.runtime_s / max(r.trips, 1):.1f} | {r.load_before:.1f} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; append it to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scales", default="0.25,0.5,1,2", help="population scales")
    parser.add_argument("--scenario", default="baseline", help="scenario name or file")
    parser.add_argument("--no-record", action="store_true", help="don't write docs/benchmarks.md")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, args.scenario)
        return 0
    rows = []
    for scale in (float(s) for s in args.scales.split(",")):
        with console.status(f"scale {scale:g}"):
            rows.append(run_scale(scale, args.scenario))
        console.print(table(rows))
    if not args.no_record:
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as fh:
            fh.write(markdown(rows, args.scenario))
        console.print("appended to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
