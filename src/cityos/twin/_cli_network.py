"""``cityos twin import-osm`` and ``cityos twin export-sumo``: road networks in and out."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cityos.twin.city import CityModelError, Network, load_city

network_app = typer.Typer(help="Road networks: import OpenStreetMap, export to SUMO.")
console = Console(stderr=True)

IMPORT_STAGES = ("read", "directions", "components", "merge", "links")
BUILTIN = "builtin"


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=console,
    )


def _parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise typer.BadParameter(
            "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat"
        ) from exc
    if len(parts) != 4:
        raise typer.BadParameter("bbox must be four numbers: min_lon,min_lat,max_lon,max_lat")
    return parts[0], parts[1], parts[2], parts[3]


def _zone_texts(source: str) -> tuple[str, str]:
    """Return (zones.csv, facilities.geojson) text of a bundle directory or the built-in one."""
    if source == BUILTIN:
        root = resources.files("cityos").joinpath("data/twin")
        return (
            root.joinpath("zones.csv").read_text(encoding="utf-8"),
            root.joinpath("facilities.geojson").read_text(encoding="utf-8"),
        )
    d = Path(source)
    zones = (d / "zones.csv").read_text(encoding="utf-8")
    fac = d / "facilities.geojson"
    return zones, fac.read_text(encoding="utf-8") if fac.is_file() else ""


def _summary(title: str, net: Network, extra: list[tuple[str, str]]) -> Table:
    from cityos.twin.osm import km_by_class

    table = Table(title=title)
    table.add_column("", style="bold")
    table.add_column("value", justify="right")
    table.add_row("nodes", f"{len(net.node_id):,}")
    table.add_row("links (directed)", f"{len(net.link_id):,}")
    for name, value in extra:
        table.add_row(name, value)
    for cls, km in km_by_class(net).items():
        n = sum(1 for c in net.road_class if c == cls)
        table.add_row(f"  {cls}", f"{km:,.2f} km · {n:,} links")
    table.add_row("total (directed)", f"{sum(km_by_class(net).values()):,.2f} km")
    return table


@network_app.command("import-osm")
def import_osm_command(
    file: Annotated[Path, typer.Argument(help="OpenStreetMap extract (.osm.pbf)")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the network to")],
    bbox: Annotated[
        str | None,
        typer.Option(help="Clip to min_lon,min_lat,max_lon,max_lat [deg]"),
    ] = None,
    zones_from: Annotated[
        str | None,
        typer.Option(
            help="Also write a whole bundle for load_city: zones (and facilities) of this "
            f"bundle directory, or '{BUILTIN}' for the shipped Sejong zones"
        ),
    ] = None,
    connectors: Annotated[int, typer.Option(help="Connectors per zone centroid")] = 2,
) -> None:
    """Import the drivable roads of an OSM extract as the twin's network (nodes, links)."""
    from cityos.twin.osm import (
        OsmImportError,
        OsmReadError,
        bundle_files,
        import_osm,
        network_only_files,
    )

    box = _parse_bbox(bbox)
    try:
        with _bar() as bar:
            task = bar.add_task(f"reading {file.name}", total=len(IMPORT_STAGES) + 1)

            def step(stage: str, _frac: float) -> None:
                bar.update(task, advance=1, description=f"{stage} done")

            imported = import_osm(file, box, step)
            if zones_from is not None:
                zones_csv, facilities = _zone_texts(zones_from)
                files = bundle_files(imported, zones_csv, facilities or None, file.name, connectors)
            else:
                files = network_only_files(imported, file.name)
            out.mkdir(parents=True, exist_ok=True)
            for name, text in sorted(files.items()):
                (out / name).write_text(text, encoding="utf-8")
            bar.update(task, advance=1, description=f"wrote {len(files)} files")
    except (OsmImportError, OsmReadError, CityModelError, OSError) as exc:
        console.print(f"[red]import failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    net = imported.network
    if zones_from is not None:
        net = load_city(out).network
    extra = [
        ("OSM way segments read", f"{imported.segments:,}"),
        ("directed segments", f"{imported.directed:,}"),
        ("in the largest strongly connected part", f"{imported.kept:,}"),
    ]
    console.print(_summary(f"OSM network → {out}", net, extra))


@network_app.command("export-sumo")
def export_sumo_command(
    out: Annotated[Path, typer.Argument(help="Directory to write the SUMO files to")],
    city: Annotated[
        Path | None,
        typer.Option(help="Twin bundle directory (default: the shipped Sejong bundle)"),
    ] = None,
    scale: Annotated[float, typer.Option(help="Share of residents to synthesise [-]")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of population, trips and departures")] = 42,
    prefix: Annotated[str, typer.Option(help="File name prefix")] = "cityos",
    demand: Annotated[bool, typer.Option(help="Also write the car trips (.rou.xml)")] = True,
) -> None:
    """Write the network (plain-XML nodes/edges) and the car trips for Eclipse SUMO."""
    from cityos.twin.demand import CAR, build_trips
    from cityos.twin.population import PopulationParams, build_population
    from cityos.twin.sumo import sumo_files, write_sumo

    try:
        params = PopulationParams(seed=seed, scale=scale)
        with _bar() as bar:
            task = bar.add_task("loading the city", total=4 if demand else 2)
            c = load_city(city)
            bar.update(task, advance=1, description="building the population")
            trips = None
            if demand:
                pop = build_population(c, params)
                bar.update(task, advance=1, description="building the trips")
                trips = build_trips(c, pop, seed=seed)
                bar.update(task, advance=1, description="writing SUMO files")
            paths = write_sumo(out, sumo_files(c, trips, seed=seed, prefix=prefix))
            bar.update(task, advance=1, description=f"wrote {len(paths)} files")
    except (CityModelError, ValueError, OSError) as exc:
        console.print(f"[red]export failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    extra = [("files", ", ".join(p.name for p in paths))]
    if trips is not None:
        cars = int(((trips.mode == CAR) & (trips.origin != trips.destination)).sum())
        extra.insert(0, ("car trips (between zones)", f"{cars:,}"))
    console.print(_summary(f"SUMO export → {out}", c.network, extra))
    console.print(
        f"next: cd {out} && netconvert -c {prefix}.netccfg"
        + (f" && sumo -c {prefix}.sumocfg" if demand else ""),
        soft_wrap=True,
    )
