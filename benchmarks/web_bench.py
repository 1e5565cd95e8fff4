"""Measure the web dashboard in Debian's Chromium: first meaningful paint and 1,000 moving markers.

Run: ``.venv/bin/python benchmarks/web_bench.py`` (needs ``/usr/bin/chromium``). It serves
CityOS (SQLite, the built-in Sejong city, authentication off on loopback) with a real uvicorn
on a free port, adds ``--vehicles`` Vehicle entities, then:

- opens the dashboard ``--runs`` times, each in a fresh browser context (cold cache), and
  reads the Performance API: first contentful paint, and ``cityos:map-drawn``, the mark the
  page sets in the frame after every layer (districts, roads, BRT ring, landmarks, vehicles)
  is drawn: the first *meaningful* paint (target ≤ 1.5 s);
- moves every vehicle marker once a second for ``--seconds`` seconds through the same code
  path a live update takes (``CityMap.upsertEntity``, 800 ms eased animation) and records the
  interval of every animation frame (smooth: median ≤ 20 ms, p95 ≤ 50 ms).

Prints a table and appends it to ``docs/benchmarks.md`` with the date, machine and commit.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn

from cityos.app import create_app
from cityos.config import Settings

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TRANSPORT = "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld"
LINK = f'<{TRANSPORT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'

MOVE_JS = """async ([seconds]) => {
  const map = window.cityos.map;
  const features = map.features('buses');
  const frames = [];
  let last = performance.now();
  let running = true;
  const tick = (now) => {
    frames.push(now - last);
    last = now;
    if (running) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  for (let s = 0; s < seconds; s++) {
    const t0 = performance.now();
    for (const f of features) {
      const [lon, lat] = f.geometry.coordinates;
      const moved = {id: f.id, type: 'Feature', properties: {},
        geometry: {type: 'Point', coordinates: [lon + 0.002 * Math.cos(s + lat * 1e3),
                                                lat + 0.002 * Math.sin(s + lon * 1e3)]}};
      f.geometry = moved.geometry;
      map.upsertEntity('buses', moved);
    }
    frames.push(-(performance.now() - t0));  // negative: time to dispatch one round of updates
    await new Promise((r) => setTimeout(r, 1000));
  }
  running = false;
  return frames;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(settings: Settings) -> tuple[uvicorn.Server, str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def add_vehicles(url: str, count: int) -> None:
    """Upsert ``count`` buses spread over Sejong's new town (WGS84)."""
    entities = []
    for i in range(count):
        angle, radius = i * 2.399963, 0.05 * math.sqrt((i + 0.5) / count)
        point = [127.27 + radius * math.cos(angle), 36.50 + radius * math.sin(angle)]
        entities.append(
            {
                "id": f"urn:ngsi-ld:Vehicle:bench-{i:04d}",
                "type": "Vehicle",
                "vehicleType": {"type": "Property", "value": "bus"},
                "location": {
                    "type": "GeoProperty",
                    "value": {"type": "Point", "coordinates": point},
                },
            }
        )
    with httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, count, 500):
            r = client.post(
                "/ngsi-ld/v1/entityOperations/upsert",
                json=entities[start : start + 500],
                headers={"Link": LINK},
            )
            r.raise_for_status()


def measure(url: str, runs: int, seconds: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    paints: list[float] = []
    drawn: list[float] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto(url + "/")
            page.wait_for_function("() => performance.getEntriesByName('cityos:map-drawn').length")
            fcp, mark = page.evaluate(
                """() => [performance.getEntriesByName('first-contentful-paint')[0].startTime,
                          performance.getEntriesByName('cityos:map-drawn')[0].startTime]"""
            )
            paints.append(fcp)
            drawn.append(mark)
            markers = page.evaluate("() => window.cityos.map.features('buses').length")
            context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url + "/")
        page.wait_for_function("() => performance.getEntriesByName('cityos:map-drawn').length")
        samples = page.evaluate(MOVE_JS, [seconds])
        context.close()
        browser.close()
    frames = sorted(s for s in samples[1:] if s >= 0)
    dispatch = [-s for s in samples if s < 0]
    return {
        "fcp": statistics.median(paints),
        "drawn": statistics.median(drawn),
        "drawn_max": max(drawn),
        "markers": markers,
        "frame_median": statistics.median(frames),
        "frame_p95": frames[int(0.95 * (len(frames) - 1))],
        "long_frames": sum(1 for f in frames if f > 50),
        "frames": len(frames),
        "dispatch": statistics.median(dispatch),
    }


def machine() -> str:
    cpu = "unknown CPU"
    info = Path("/proc/cpuinfo")
    if info.exists():
        match = re.search(r"model name\s*:\s*(.+)", info.read_text())
        cpu = match.group(1).strip() if match else cpu
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, {chromium.strip()}; "
        f"load average {load} at the end of the run"
    )


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def markdown(r: dict[str, Any], args: argparse.Namespace) -> str:
    now = datetime.now(ZoneInfo("Asia/Seoul")).strftime("%Y-%m-%d %H:%M KST")
    ok = lambda met: "yes" if met else "**no**"  # noqa: E731
    smooth = r["frame_median"] <= 20 and r["frame_p95"] <= 50
    rows = [
        (
            "first contentful paint (median)",
            f"{r['fcp']:.0f} ms",
            "—",
            "—",
            f"{args.runs} cold loads",
        ),
        (
            "first meaningful paint: map drawn (median)",
            f"{r['drawn']:.0f} ms",
            "≤ 1,500 ms",
            ok(r["drawn"] <= 1500),
            f"worst {r['drawn_max']:.0f} ms; every layer incl. {r['markers']:,} vehicles",
        ),
        (
            f"{r['markers']:,} markers moving, frame interval",
            f"median {r['frame_median']:.1f} ms, p95 {r['frame_p95']:.1f} ms",
            "median ≤ 20, p95 ≤ 50",
            ok(smooth),
            f"{r['frames']} frames over {args.seconds} s, {r['long_frames']} over 50 ms; "
            f"one round of {r['markers']:,} updates dispatched in {r['dispatch']:.1f} ms",
        ),
    ]
    lines = [
        f"\n## web_bench — {now}\n",
        f"- machine: {machine()}",
        f"- commit: {commit()}",
        "- dashboard on localhost (uvicorn, SQLite, built-in Sejong city), headless Chromium "
        "without GPU (`--disable-gpu`), 1280×800\n",
        "| measure | result | target | met | notes |",
        "|---|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--no-record", action="store_true", help="don't write docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/bench.db",
            mode="test",
            seed_city=True,
            auth="off",
            log_level="warning",
        )
        server, url = serve(settings)
        try:
            add_vehicles(url, args.vehicles)
            result = measure(url, args.runs, args.seconds)
        finally:
            server.should_exit = True
    text = markdown(result, args)
    print(text)
    if not args.no_record:
        with (ROOT / "docs" / "benchmarks.md").open("a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
