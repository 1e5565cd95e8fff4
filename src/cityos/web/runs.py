"""The twin's runs for the scenario page: listed, read and compared from the runs directory.

A run is a directory that ``cityos twin run SCENARIO`` wrote (``kpis.json``, ``report.html``)
directly inside ``CITYOS_TWIN_RUNS_DIR`` (default ``var/twin-runs``). Nothing outside that
directory is ever read: a run name is one path segment of letters, digits, ``.``, ``_``,
``-`` (no ``..``), and the resolved path must still lie inside the directory (a symbolic
link pointing out of it is refused), so a request cannot reach any other file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cityos.twin._kpi_labels import KPI_LABELS
from cityos.twin._report_targets import compare_rows

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SUMMARY = ("population", "trips", "private_cars", "mean_commute_time_min", "runtime_s")
REQUIRED = ("scenario", "scale", "seed")


class RunNotFound(LookupError):
    """No run of that name in the runs directory (or the name is not a run name)."""


@dataclass(frozen=True)
class Run:
    """One run directory: its name, KPIs and when it was written (UTC)."""

    name: str
    path: Path
    kpis: dict[str, Any]
    written: datetime

    def summary(self) -> dict[str, Any]:
        """Return what the list shows: name, scenario, scale, seed, time, headline KPIs."""
        out: dict[str, Any] = {
            "name": self.name,
            "scenario": self.kpis["scenario"],
            "scale": self.kpis["scale"],
            "seed": self.kpis["seed"],
            "written": self.written.isoformat().replace("+00:00", "Z"),
            "report": (self.path / "report.html").is_file(),
        }
        out["kpis"] = {k: self.kpis[k] for k in SUMMARY if k in self.kpis}
        return out


def run_dir(root: Path, name: str) -> Path:
    """Return the directory of run ``name`` inside ``root``; raise RunNotFound otherwise."""
    if not NAME.fullmatch(name) or ".." in name:
        raise RunNotFound(name)
    base = root.resolve()
    path = (base / name).resolve()
    if path.parent != base or not path.is_dir():
        raise RunNotFound(name)
    return path


def _kpis(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "kpis.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED):
        return None
    return data


def load(root: Path, name: str) -> Run:
    """Return run ``name``; RunNotFound if it is missing or has no readable kpis.json."""
    path = run_dir(root, name)
    kpis = _kpis(path)
    if kpis is None:
        raise RunNotFound(name)
    written = datetime.fromtimestamp((path / "kpis.json").stat().st_mtime, UTC)
    return Run(name, path, kpis, written)


def runs(root: Path) -> list[Run]:
    """Return every run in ``root``, newest first (directories without kpis.json are skipped)."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        try:
            found.append(load(root, child.name))
        except RunNotFound:
            continue
    return sorted(found, key=lambda run: (run.written, run.name), reverse=True)


def report_bytes(root: Path, name: str) -> bytes:
    """Return the bytes of run ``name``'s report.html; RunNotFound if it has none."""
    path = run_dir(root, name) / "report.html"
    if path.is_symlink() or not path.is_file():
        raise RunNotFound(name)
    return path.read_bytes()


def comparison(a: Run, b: Run) -> dict[str, Any]:
    """Return the KPI table of ``cityos twin compare`` (same rows) as JSON for the page."""
    rows = []
    for key, va, vb, diff, pct in compare_rows(a.kpis, b.kpis):
        label = KPI_LABELS.get(key)
        rows.append(
            {
                "kpi": key,
                "label_ko": label[0] if label else key,
                "label_en": label[1] if label else key,
                "unit": label[2] if label else "",
                "a": va,
                "b": vb,
                "change": diff,
                "change_pct": None if pct is None else 100 * pct,
            }
        )
    same = (a.kpis["scale"], a.kpis["seed"]) == (b.kpis["scale"], b.kpis["seed"])
    return {"a": a.summary(), "b": b.summary(), "same_size": same, "rows": rows}
