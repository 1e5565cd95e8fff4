"""``cityos twin``: run scenarios, compare their KPIs, sweep parameters on Dask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityos.twin._cli_network import network_app
from cityos.twin.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_reference,
    load_scenario,
)

twin_app = typer.Typer(
    help="Digital twin: scenarios, reports, sweeps, road networks (디지털 트윈).",
    no_args_is_help=True,
)
twin_app.add_typer(network_app)  # import-osm, export-sumo as `cityos twin` commands
console = Console(stderr=True)
out = Console()

ScenarioArg = Annotated[
    str, typer.Argument(help="A built-in scenario name (baseline, car-third) or a .yaml path")
]
Scale = Annotated[
    float | None,
    typer.Option(help="Residents simulated / 390,000, e.g. 0.1 for a quick run (0.01-4)"),
]
Seed = Annotated[int | None, typer.Option(help="Seed of every random draw")]
# The KPIs a sweep prints, with short bilingual headers (all KPIs go to its CSV and JSON).
SWEEP_COLUMNS = (
    ("private_cars", "자가용\ncars", "{:,.0f}"),
    ("shared_vehicles", "셔틀\nshuttles", "{:,.0f}"),
    ("mean_commute_time_min", "통근\ncommute\nmin", "{:.1f}"),
    ("mean_cost_krw_per_trip", "비용\ncost\nKRW", "{:,.0f}"),
    ("mode_share.car", "자가용\ncar %", "pct"),
    ("mode_share.shared", "셔틀\nshared %", "pct"),
    ("drt_mean_wait_min", "대기\nwait\nmin", "{:.1f}"),
    ("drt_rejection_rate", "거절\nrejected %", "pct"),
    ("co2_t", "CO2\nt", "{:,.0f}"),
)


def _print_table(table: Table) -> None:
    """Print a table; into a file or pipe wide enough that no column is cut."""
    (out if out.is_terminal else Console(file=out.file, width=200)).print(table)


def _fail(en: str, ko: str) -> typer.Exit:
    """Print a bilingual error on stderr and return the exit (status 2) to raise."""
    console.print(f"[red]오류 / error:[/red] {ko}\n  {en}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _scenario_fail(exc: ScenarioError) -> typer.Exit:
    return _fail(exc.en, exc.ko)


def _scenario(name: str, scale: float | None, seed: int | None) -> Scenario:
    try:
        s = load_scenario(name)
        if scale is not None:
            s = s.with_param("simulation.scale", scale)
        if seed is not None:
            s = s.with_param("simulation.seed", seed)
    except ScenarioError as exc:
        raise _scenario_fail(exc) from exc
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
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for kpis.json, report.html (default: a new directory "
            "SCENARIO-<UTC time> in CITYOS_TWIN_RUNS_DIR, which the scenario page lists)",
        ),
    ] = None,
    scale: Scale = None,
    seed: Seed = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="kpis.json of the reference run at the same scale and seed "
            "(else the scenario's reference is run too)"
        ),
    ] = None,
) -> None:
    """Simulate one weekday under SCENARIO; write DIR/kpis.json and DIR/report.html."""
    from cityos.twin.report import write_outputs
    from cityos.twin.run import RunResult, run_scenario

    s = _scenario(scenario, scale, seed)
    if out_dir is None:
        from datetime import UTC, datetime

        from cityos.config import get_settings

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out_dir = get_settings().twin_runs_dir / f"{s.name}-{stamp}"
    if out_dir.exists() and not out_dir.is_dir():
        raise _fail(
            f"--out {out_dir} is a file; give a directory",
            f"--out {out_dir}은(는) 파일입니다. 디렉터리를 주세요",
        )
    ref: RunResult | dict[str, Any] | None = None
    runs = [s]
    if reference is not None:
        ref = _read_kpis(reference)
        _same_run_size(ref, s, reference)
    elif s.reference:
        try:
            r = load_reference(s, scenario)
        except ScenarioError as exc:
            raise _scenario_fail(exc) from exc
        if r is not None:
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
    try:
        paths = write_outputs(results[-1], out_dir, ref)
    except OSError as exc:
        raise _fail(
            f"cannot write to {out_dir}: {exc}", f"{out_dir}에 쓸 수 없습니다: {exc}"
        ) from exc
    k = results[-1].kpis
    out.print(
        f"{s.name}: {k['population']:,} persons, {k['trips']:,} trips, "
        f"{k['private_cars']:,} private cars, mean commute {k['mean_commute_time_min']:.1f} min, "
        f"{k['runtime_s']:.1f} s"
    )
    for p in paths.values():
        out.print(f"  {p}", soft_wrap=True)


def _same_run_size(ref: dict[str, Any], s: Scenario, path: Path) -> None:
    """Refuse a reference run at another scale or seed: its counts would not compare."""
    sim = s.simulation
    if ref.get("scale") != sim.scale or ref.get("seed") != sim.seed:
        raise _fail(
            f"{path} was run at scale {ref.get('scale')}, seed {ref.get('seed')}; this run is "
            f"at scale {sim.scale:g}, seed {sim.seed}: give --scale/--seed to match",
            f"{path}은(는) 규모 {ref.get('scale')}, 시드 {ref.get('seed')}로 실행되었고 이번 "
            f"실행은 규모 {sim.scale:g}, 시드 {sim.seed}입니다. --scale/--seed를 맞추세요",
        )


def _read_kpis(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(
            f"cannot read KPIs from {path}: {exc}", f"{path}에서 KPI를 읽을 수 없습니다: {exc}"
        ) from exc
    missing = (
        [k for k in ("scenario", "scale", "seed", "private_cars") if k not in data]
        if (isinstance(data, dict))
        else ["(a JSON object)"]
    )
    if missing:
        raise _fail(
            f"{path} is not a kpis.json of `cityos twin run` (missing: {', '.join(missing)})",
            f"{path}은(는) `cityos twin run`의 kpis.json이 아닙니다 (없는 항목: "
            f"{', '.join(missing)})",
        )
    return data


@twin_app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="kpis.json of the first run (the reference)")],
    b: Annotated[Path, typer.Argument(help="kpis.json of the second run")],
) -> None:
    """Print two runs' KPIs side by side with absolute and % changes."""
    from cityos.twin._report_targets import compare_rows
    from cityos.twin.report import KPI_LABELS

    ka, kb = _read_kpis(a), _read_kpis(b)
    table = Table(title=f"{ka['scenario']} → {kb['scenario']} (KPI 비교 / compare)")
    table.add_column("KPI 지표")
    for name in (str(ka["scenario"]), str(kb["scenario"]), "Δ", "Δ %"):
        table.add_column(name, justify="right")
    for key, va, vb, diff, pct in compare_rows(ka, kb):
        label = KPI_LABELS.get(key)
        table.add_row(
            f"{key} ({label[0]})" if label else key,
            f"{va:,.4g}" if abs(va) < 10 else f"{va:,.1f}",
            f"{vb:,.4g}" if abs(vb) < 10 else f"{vb:,.1f}",
            f"{diff:+,.4g}" if abs(diff) < 10 else f"{diff:+,.1f}",
            "-" if pct is None else f"{100 * pct:+.1f} %",
        )
    _print_table(table)
    if (ka["scale"], ka["seed"]) != (kb["scale"], kb["seed"]):
        console.print(
            f"[yellow]주의 / note:[/yellow] 규모·시드가 다릅니다 / the runs differ in scale or "
            f"seed ({ka['scale']}/{ka['seed']} vs {kb['scale']}/{kb['seed']}): counts "
            "(population, cars, km, CO2) scale with the run's size",
            soft_wrap=True,
        )


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
        pairs = [parse_param(p) for p in param]
        params = dict(pairs)
        if len(params) < len(pairs):
            twice = sorted({n for n, _ in pairs if sum(m == n for m, _ in pairs) > 1})
            raise ScenarioError(
                f"--param {', '.join(twice)} is given more than once; list all values in one "
                "--param (name=v1,v2,...)",
                f"--param {', '.join(twice)}이(가) 두 번 이상 주어졌습니다. 값은 --param 하나에 "
                "모두 쓰세요 (name=v1,v2,...)",
            )
        n = len(sweep_variants(s, params))  # checks every value before any run
    except ScenarioError as exc:
        raise _scenario_fail(exc) from exc
    try:
        with _bar() as bar:
            task = bar.add_task(f"sweep {s.name} ({n} runs)", total=n)
            rows = run_sweep(
                s,
                params,
                scheduler=scheduler,
                workers=workers,
                on_done=lambda done, total: bar.update(task, completed=done),
            )
    except (OSError, TimeoutError) as exc:
        raise _fail(
            f"cannot reach the Dask scheduler {scheduler}: {exc}",
            f"Dask 스케줄러 {scheduler}에 연결할 수 없습니다: {exc}",
        ) from exc
    table = Table(title=f"sweep {s.name} (scale {s.simulation.scale:g})")
    for name in params:
        table.add_column(name.replace(".", "\n"), justify="right")
    for _, header, _ in SWEEP_COLUMNS:
        table.add_column(header, justify="right")
    for row in rows:
        flat = flatten(row["kpis"])
        table.add_row(
            *(f"{row['params'][p]:g}" for p in params),
            *(
                f"{100 * flat[key]:.1f}" if fmt == "pct" else fmt.format(flat[key])
                for key, _, fmt in SWEEP_COLUMNS
            ),
        )
    _print_table(table)
    paths = write_sweep(rows, out_dir or Path(f"sweep-{s.name}"))
    for p in paths.values():
        out.print(f"  {p}")
