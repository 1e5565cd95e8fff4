"""``cityos twin``: run scenarios, compare their KPIs, sweep parameters on Dask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityos.twin.scenario import Scenario, ScenarioError, builtin_scenarios, load_scenario

twin_app = typer.Typer(
    help="Digital twin scenarios, reports and sweeps (디지털 트윈 시나리오).",
    no_args_is_help=True,
)
console = Console(stderr=True)
out = Console()

ScenarioArg = Annotated[
    str, typer.Argument(help="A built-in scenario name (baseline, car-third) or a .yaml path")
]
Scale = Annotated[
    float | None, typer.Option(help="Share of the residents to simulate, e.g. 0.1 (0.01-1)")
]
Seed = Annotated[int | None, typer.Option(help="Seed of every random draw")]
# The KPIs a sweep prints (all of them go to its CSV and JSON).
SWEEP_COLUMNS = (
    "private_cars",
    "shared_vehicles",
    "mean_commute_time_min",
    "mean_cost_krw_per_trip",
    "mode_share.car",
    "drt_mean_wait_min",
    "drt_rejection_rate",
    "co2_t",
)


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[red]시나리오 오류 / scenario error:[/red] {exc}")
    return typer.Exit(2)


def _scenario(name: str, scale: float | None, seed: int | None) -> Scenario:
    try:
        s = load_scenario(name)
        if scale is not None:
            s = s.with_param("simulation.scale", scale)
        if seed is not None:
            s = s.with_param("simulation.seed", seed)
    except ScenarioError as exc:
        raise _fail(exc) from exc
    return s


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    )


@twin_app.command("list")
def list_scenarios() -> None:
    """List the built-in scenarios."""
    for name in builtin_scenarios():
        s = load_scenario(name)
        out.print(f"{name:12s} {s.title_ko} / {s.title_en}")


@twin_app.command()
def run(
    scenario: ScenarioArg,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for kpis.json, report.html")],
    scale: Scale = None,
    seed: Seed = None,
    reference: Annotated[
        Path | None,
        typer.Option(help="kpis.json of the reference run (else it runs at the same scale)"),
    ] = None,
) -> None:
    """Simulate one weekday under SCENARIO; write DIR/kpis.json and DIR/report.html."""
    from cityos.twin.report import write_outputs
    from cityos.twin.run import RunResult, run_scenario

    s = _scenario(scenario, scale, seed)
    ref: RunResult | dict[str, Any] | None = None
    if reference is not None:
        ref = json.loads(reference.read_text(encoding="utf-8"))
    runs = [s]
    if ref is None and s.reference:
        r = _scenario(s.reference, s.simulation.scale, s.simulation.seed)
        runs.insert(0, r)
    results = []
    with _bar() as bar:
        task = bar.add_task(s.name, total=float(len(runs)))
        for i, sc in enumerate(runs):

            def tick(stage: str, share: float, i: int = i, name: str = sc.name) -> None:
                bar.update(task, completed=i + share, description=f"{name}: {stage}")

            results.append(run_scenario(sc, progress=tick))
        bar.update(task, description="report", completed=float(len(runs)))
    if len(results) == 2:
        ref = results[0]
    paths = write_outputs(results[-1], out_dir, ref)
    k = results[-1].kpis
    out.print(
        f"{s.name}: {k['population']:,} persons, {k['trips']:,} trips, "
        f"{k['private_cars']:,} private cars, mean commute {k['mean_commute_time_min']:.1f} min, "
        f"{k['runtime_s']:.1f} s"
    )
    for p in paths.values():
        out.print(f"  {p}")


def _read_kpis(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(ValueError(f"cannot read KPIs from {path}: {exc}")) from exc
    if not isinstance(data, dict):
        raise _fail(ValueError(f"{path} does not hold a KPI object"))
    return data


@twin_app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="kpis.json of the first run (the reference)")],
    b: Annotated[Path, typer.Argument(help="kpis.json of the second run")],
) -> None:
    """Print two runs' KPIs side by side with absolute and % changes."""
    from cityos.twin._report_targets import compare_rows

    ka, kb = _read_kpis(a), _read_kpis(b)
    table = Table(title=f"{ka.get('scenario', a)} → {kb.get('scenario', b)} (KPI 비교 / compare)")
    table.add_column("KPI 지표")
    for name in (str(ka.get("scenario", "A")), str(kb.get("scenario", "B")), "Δ", "Δ %"):
        table.add_column(name, justify="right")
    for key, va, vb, diff, pct in compare_rows(ka, kb):
        table.add_row(
            key,
            f"{va:,.4g}" if abs(va) < 10 else f"{va:,.1f}",
            f"{vb:,.4g}" if abs(vb) < 10 else f"{vb:,.1f}",
            f"{diff:+,.4g}" if abs(diff) < 10 else f"{diff:+,.1f}",
            "-" if pct is None else f"{100 * pct:+.1f} %",
        )
    out.print(table)


@twin_app.command()
def sweep(
    scenario: ScenarioArg,
    param: Annotated[
        list[str],
        typer.Option(help="section.field=v1,v2,... (repeat for a grid), e.g. shuttles.fleet_size"),
    ],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Directory for sweep.csv and sweep.json")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address; default: a LocalCluster")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="LocalCluster workers (threads)")] = 1,
    scale: Scale = None,
    seed: Seed = None,
) -> None:
    """Run SCENARIO once per combination of --param values on Dask and tabulate the KPIs."""
    from cityos.twin._report_targets import flatten
    from cityos.twin.sweep import parse_param, run_sweep, sweep_variants, write_sweep

    s = _scenario(scenario, scale, seed)
    try:
        params = dict(parse_param(p) for p in param)
        n = len(sweep_variants(s, params))  # checks every value before any run
    except ScenarioError as exc:
        raise _fail(exc) from exc
    with _bar() as bar:
        task = bar.add_task(f"sweep {s.name} ({n} runs)", total=n)
        rows = run_sweep(
            s,
            params,
            scheduler=scheduler,
            workers=workers,
            on_done=lambda done, total: bar.update(task, completed=done),
        )
    table = Table(title=f"sweep {s.name} (scale {s.simulation.scale:g})")
    for name in params:
        table.add_column(name, justify="right")
    for col in SWEEP_COLUMNS:
        table.add_column(col, justify="right")
    for row in rows:
        flat = flatten(row["kpis"])
        table.add_row(
            *(f"{row['params'][p]:g}" for p in params),
            *(f"{flat[c]:,.3g}" if abs(flat[c]) < 10 else f"{flat[c]:,.0f}" for c in SWEEP_COLUMNS),
        )
    out.print(table)
    paths = write_sweep(rows, out_dir or Path(f"sweep-{s.name}"))
    for p in paths.values():
        out.print(f"  {p}")
