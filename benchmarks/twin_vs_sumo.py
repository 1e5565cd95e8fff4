"""Benchmark the twin's traffic model against Eclipse SUMO's mesoscopic model, same demand.

For each population scale: build a seeded population and its trips on the built-in Sejong
city, export the network and car trips with ``cityos.twin.sumo``, run ``netconvert`` and
``sumo --mesosim`` (no rerouting: every car takes its free-flow shortest route, as in the
twin's first loading), and run ``cityos.twin.traffic.assign`` with one iteration (one
network loading on free-flow shortest routes, same departure times). Compares wall time and
mean trip travel time (SUMO: duration + departure delay, like the twin's arrival minus
requested departure) over the trips both simulated.

    .venv/bin/pip install -e '.[bench]'                 # eclipse-sumo (netconvert, sumo)
    .venv/bin/python benchmarks/twin_vs_sumo.py                  # scales 0.05 and 0.25
    .venv/bin/python benchmarks/twin_vs_sumo.py --scales 0.02 --no-record
    .venv/bin/python benchmarks/twin_vs_sumo.py --scales 0.25 --no-record --links  # per class

Targets (issue 5): the twin at least as fast as SUMO meso; mean car travel time within 15 %
of SUMO's. Results are printed as a table and appended to ``docs/benchmarks.md`` under
"Twin vs SUMO meso" with the date and machine (``uname -a``, nproc).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from rich.console import Console
from rich.table import Table

from cityos.twin.city import City, load_city
from cityos.twin.demand import CAR, build_trips, demand_skims
from cityos.twin.population import PopulationParams, build_population
from cityos.twin.sumo import sumo_files, write_sumo
from cityos.twin.traffic import TrafficParams, assign

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=150)


@dataclass
class Row:
    """One scale's measurements."""

    scale: float
    car_trips: int
    twin_s: float
    netconvert_s: float
    sumo_s: float
    twin_mean_min: float
    sumo_mean_min: float
    matched: int
    sumo_teleports: int
    twin_unfinished: int

    @property
    def speed_ratio(self) -> float:
        """SUMO (netconvert + sumo) wall time / twin wall time [-]: > 1 means the twin wins."""
        return (self.netconvert_s + self.sumo_s) / self.twin_s

    @property
    def time_diff(self) -> float:
        """Relative difference of mean travel times, twin vs SUMO [-]."""
        return self.twin_mean_min / self.sumo_mean_min - 1.0


def _tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(path).exists():
        raise SystemExit(f"{name} not found: pip install -e '.[bench]' (eclipse-sumo)")
    return path


def _tripinfo(path: Path) -> dict[int, float]:
    """Return trip index -> SUMO travel time incl. departure delay [min]."""
    out = {}
    for el in ET.parse(path).getroot().iter("tripinfo"):
        dur = float(el.get("duration", "nan")) + float(el.get("departDelay", "0"))
        out[int(el.get("id", "t-1")[1:])] = dur / 60.0
    return out


def _teleports(log: str) -> int:
    for line in log.splitlines():
        if "Teleports:" in line:
            return int(line.split("Teleports:")[1].split()[0])
    return 0


LINKS_ADD = '<additional><edgeData id="links" file="s.edges.xml" excludeEmpty="true"/></additional>'


def link_table(city: City, twin_veh_s: np.ndarray, edges: Path, tripinfo: Path) -> Table:
    """Return vehicle-hours per road class in both models and SUMO's insertion delay."""
    net = city.network
    index = {lid: k for k, lid in enumerate(net.link_id)}
    sumo_veh_s = np.zeros(len(net.link_id))
    for edge in ET.parse(edges).getroot().iter("edge"):
        k = index.get(str(edge.get("id")))
        if k is not None:  # sampledSeconds: vehicle-seconds spent on the edge
            sumo_veh_s[k] += float(edge.get("sampledSeconds", "0"))
    delay = [float(e.get("departDelay", "0")) for e in ET.parse(tripinfo).getroot()]
    t = Table(title="Vehicle-hours by road class (SUMO edgeData vs the twin's link times)")
    for col in ("road class", "links", "twin [veh-h]", "SUMO [veh-h]", "SUMO / twin"):
        t.add_column(col, justify="right")
    classes = np.array(net.road_class)
    for c in sorted(set(net.road_class)):
        m = classes == c
        a, b = twin_veh_s[m].sum() / 3600, sumo_veh_s[m].sum() / 3600
        t.add_row(c, str(int(m.sum())), f"{a:,.0f}", f"{b:,.0f}", f"{b / max(a, 1e-9):.2f}")
    t.caption = f"SUMO mean insertion delay (departDelay): {np.mean(delay) / 60:.2f} min per trip"
    return t


def run_scale(city: City, scale: float, seed: int, work: Path, links: bool = False) -> Row:
    """Run both models on the demand of one population scale (``links``: per-class table)."""
    pop = build_population(city, PopulationParams(seed=seed, scale=scale))
    skims = demand_skims(city)
    trips = build_trips(city, pop, seed=seed, skims=skims)
    write_sumo(work, sumo_files(city, trips, seed=seed, prefix="s"))

    t0 = time.perf_counter()
    result = assign(
        city, pop, trips, TrafficParams(seed=seed, iterations=1, rechoose_modes=False), skims=skims
    )
    twin_s = time.perf_counter() - t0
    loaded = (result.trips.mode == CAR) & (result.trips.origin != result.trips.destination)

    t0 = time.perf_counter()
    subprocess.run(
        [_tool("netconvert"), "-c", "s.netccfg"], cwd=work, check=True, capture_output=True
    )
    netconvert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    extra = []
    if links:  # edgeData costs SUMO time: only on request
        (work / "links.add.xml").write_text(LINKS_ADD, encoding="utf-8")
        extra = ["-a", "links.add.xml"]
    proc = subprocess.run(
        [_tool("sumo"), "-c", "s.sumocfg", "--mesosim", "--duration-log.statistics", *extra],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    sumo_s = time.perf_counter() - t0
    sumo_t = _tripinfo(work / "s.tripinfo.xml")
    if links:
        twin_veh_s = result.loading.bin_time_sum.sum(axis=0) * 60.0
        console.print(link_table(city, twin_veh_s, work / "s.edges.xml", work / "s.tripinfo.xml"))
    idx = np.flatnonzero(loaded)
    twin_t = result.travel_time_min
    both = np.array([i for i in idx.tolist() if i in sumo_t and np.isfinite(twin_t[i])])
    return Row(
        scale=scale,
        car_trips=len(idx),
        twin_s=twin_s,
        netconvert_s=netconvert_s,
        sumo_s=sumo_s,
        twin_mean_min=float(np.mean(twin_t[both])),
        sumo_mean_min=float(np.mean([sumo_t[i] for i in both.tolist()])),
        matched=len(both),
        sumo_teleports=_teleports(proc.stdout + proc.stderr),
        twin_unfinished=int(np.sum(~np.isfinite(result.loading.arrival_min))),
    )


def table(rows: list[Row]) -> Table:
    """Return the results as a rich table."""
    t = Table(title="Twin vs SUMO meso (built-in Sejong network, same car trips)")
    for col in (
        "scale",
        "car trips",
        "twin [s]",
        "netconvert + sumo [s]",
        "SUMO/twin time",
        "twin mean [min]",
        "SUMO mean [min]",
        "difference",
        "matched",
        "teleports",
    ):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            f"{r.scale:g}",
            f"{r.car_trips:,}",
            f"{r.twin_s:.2f}",
            f"{r.netconvert_s:.2f} + {r.sumo_s:.2f}",
            f"{r.speed_ratio:.2f}",
            f"{r.twin_mean_min:.1f}",
            f"{r.sumo_mean_min:.1f}",
            f"{r.time_diff:+.1%}",
            f"{r.matched:,}",
            f"{r.sumo_teleports}",
        )
    return t


def machine() -> str:
    """Return ``uname -a`` and the core count."""
    return f"`{' '.join(platform.uname())}`, nproc {os.cpu_count()}"


def markdown(rows: list[Row], seed: int) -> str:
    """Return the section appended to docs/benchmarks.md."""
    now = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M KST")
    version = subprocess.run(
        [_tool("sumo"), "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    lines = [
        "",
        f"## Twin vs SUMO meso — {now}",
        "",
        f"- machine: {machine()}",
        f"- {version}; built-in Sejong network (61 nodes, 196 links); seed {seed}",
        "- twin: `assign` with 1 iteration (free-flow shortest routes, one loading); SUMO:",
        "  `netconvert` + `sumo --mesosim`, trips routed at departure on free-flow times;",
        "  zone connectors exported with lanes for their capacity (ceil(9,999 / 1,800) = 6)",
        "- targets: twin at least as fast as SUMO meso; mean travel time within 15 %",
        "",
        "| scale | car trips | twin [s] | netconvert + sumo [s] | SUMO / twin time "
        "| twin mean [min] | SUMO mean [min] | difference | speed met | time met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.scale:g} | {r.car_trips:,} | {r.twin_s:.2f} | "
            f"{r.netconvert_s:.2f} + {r.sumo_s:.2f} | {r.speed_ratio:.2f} | "
            f"{r.twin_mean_min:.1f} | {r.sumo_mean_min:.1f} | {r.time_diff:+.1%} | "
            f"{'yes' if r.speed_ratio >= 1 else '**no**'} | "
            f"{'yes' if abs(r.time_diff) <= 0.15 else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; append it to docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.05,0.25", help="population scales, comma-separated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-record", action="store_true", help="don't write docs/benchmarks.md")
    parser.add_argument(
        "--links",
        action="store_true",
        help="also print vehicle-hours per road class in both models (slows SUMO a little)",
    )
    args = parser.parse_args(argv)
    city = load_city()
    rows = []
    for scale in (float(s) for s in args.scales.split(",")):
        with (
            tempfile.TemporaryDirectory(prefix="twin-sumo-") as tmp,
            console.status(f"scale {scale:g}: twin and SUMO meso"),
        ):
            rows.append(run_scale(city, scale, args.seed, Path(tmp), args.links))
        console.print(table(rows))
    if not args.no_record:
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as fh:
            fh.write(markdown(rows, args.seed))
        console.print("appended to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
