"""Scenario sweeps on Dask distributed: every combination of parameter values, one run each.

``run_sweep(scenario, {"shuttles.fleet_size": [4000, 8000]})`` runs the variants on a Dask
cluster - a ``LocalCluster`` in this process by default (threads, so nothing is pickled
across processes on a small machine), or the scheduler at ``scheduler`` (``tcp://host:8786``)
whose workers have CityOS installed - and returns one row of KPIs per variant.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cityos.twin._report_targets import flatten
from cityos.twin.run import run_scenario
from cityos.twin.scenario import Scenario, ScenarioError

__all__ = ["parse_param", "run_sweep", "sweep_variants", "write_sweep"]


def parse_param(text: str) -> tuple[str, list[str]]:
    """Parse ``section.field=v1,v2,...`` into the parameter path and its values."""
    name, sep, values = text.partition("=")
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not name.strip() or not items:
        raise ScenarioError(
            f"--param {text!r} must look like section.field=v1,v2,... "
            "(e.g. shuttles.fleet_size=4000,8000)",
            f"--param {text!r}은(는) section.field=v1,v2,... 형식이어야 합니다 "
            "(예: shuttles.fleet_size=4000,8000)",
        )
    return name.strip(), items


def sweep_variants(scenario: Scenario, params: dict[str, list[Any]]) -> list[tuple[dict, Scenario]]:
    """Return (parameter values, scenario) for every combination, checked before any run."""
    names = list(params)
    out = []
    for combo in itertools.product(*(params[n] for n in names)):
        variant = scenario
        for n, v in zip(names, combo, strict=True):
            variant = variant.with_param(n, v)
        values = {n: getattr(getattr(variant, n.split(".")[0]), n.split(".")[1]) for n in names}
        out.append((values, variant))
    return out


def _kpis(scenario: Scenario) -> dict[str, Any]:
    return run_scenario(scenario).kpis


@contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=False,
            dashboard_address=":0",  # any free port: never collide with another cluster
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_sweep(
    scenario: Scenario,
    params: dict[str, list[Any]],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    on_done: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every variant on Dask and return rows of parameter values and KPIs, in order."""
    from distributed import as_completed

    variants = sweep_variants(scenario, params)
    rows: list[dict[str, Any] | None] = [None] * len(variants)
    with _client(scheduler, workers) as client:
        futures = [client.submit(_kpis, v, pure=False) for _, v in variants]
        index = {f.key: i for i, f in enumerate(futures)}
        for n, fut in enumerate(as_completed(futures), start=1):
            i = index[fut.key]
            rows[i] = {"params": variants[i][0], "kpis": fut.result()}
            if on_done is not None:
                on_done(n, len(variants))
    return [r for r in rows if r is not None]


def write_sweep(rows: list[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Write ``sweep.json`` (nested) and ``sweep.csv`` (one flat row per variant)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "sweep.json", "csv": out_dir / "sweep.csv"}
    paths["json"].write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", "utf-8")
    flat = [{**r["params"], **flatten(r["kpis"])} for r in rows]
    header = list(dict.fromkeys(k for row in flat for k in row))
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(flat)
    return paths
