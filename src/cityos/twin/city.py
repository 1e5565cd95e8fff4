"""The twin's city model: zones, road network, transit and facilities as checked arrays.

``load_city()`` reads the bundle in ``cityos/data/twin`` (built by
``scripts/build_twin_bundle.py``). Every table is a frozen dataclass of numpy arrays, one per
field, that checks its shapes and ranges on construction (PyVRP style).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cityos.twin.sources import LAND_USE_CLASSES

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class CityModelError(ValueError):
    """The city model is inconsistent (a bad bundle or bad constructor arguments)."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise CityModelError(msg)


def _index(ids: tuple[str, ...], what: str) -> dict[str, int]:
    index = {k: i for i, k in enumerate(ids)}
    _check(len(index) == len(ids), f"duplicate {what} ids")
    return index


@dataclass(frozen=True)
class Zones:
    """The 24 eup/myeon/dong with residents, households, jobs, school places, land use."""

    code: tuple[str, ...]
    name_ko: tuple[str, ...]
    name_en: tuple[str, ...]
    zone_type: tuple[str, ...]
    lon: FloatArray  # centroid [deg]
    lat: FloatArray  # centroid [deg]
    area_km2: FloatArray  # [km^2]
    population: IntArray  # residents [persons]
    households: IntArray  # [households]
    cars: IntArray  # household cars [vehicles]
    jobs: IntArray  # workplaces [jobs]
    school_places: IntArray  # K-12 places [pupils]
    university_places: IntArray  # [students]
    land_use_km2: FloatArray  # (zones, len(LAND_USE_CLASSES)) [km^2]
    origin: dict[str, tuple[str, ...]]  # column -> published/derived/synthetic per zone
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.code)
        for name in (
            "name_ko",
            "name_en",
            "zone_type",
            "lon",
            "lat",
            "area_km2",
            "population",
            "households",
            "cars",
            "jobs",
            "school_places",
            "university_places",
        ):
            _check(len(getattr(self, name)) == n, f"zones.{name} has the wrong length")
        _check(self.land_use_km2.shape == (n, len(LAND_USE_CLASSES)), "zones.land_use_km2 shape")
        _check(bool(np.all(self.area_km2 > 0)), "zone areas must be positive")
        _check(bool(np.all(self.population > 0)), "zone populations must be positive")
        _check(
            bool(np.all((self.households > 0) & (self.households <= self.population))),
            "households must be in 1..population",
        )
        for name in ("cars", "jobs", "school_places", "university_places"):
            _check(bool(np.all(getattr(self, name) >= 0)), f"zones.{name} must be >= 0")
        _check(bool(np.all(self.land_use_km2 >= 0)), "land use must be >= 0")
        _check(
            bool(np.all(self.land_use_km2.sum(axis=1) <= self.area_km2 * 1.001)),
            "land use exceeds zone area",
        )
        object.__setattr__(self, "index", _index(self.code, "zone"))

    def __len__(self) -> int:
        return len(self.code)


@dataclass(frozen=True)
class Network:
    """Directed road network: node and link fields as arrays, with id -> index maps."""

    node_id: tuple[str, ...]
    node_kind: tuple[str, ...]
    node_name_ko: tuple[str, ...]
    node_name_en: tuple[str, ...]
    node_lon: FloatArray  # [deg]
    node_lat: FloatArray  # [deg]
    node_zone: tuple[str, ...]
    link_id: tuple[str, ...]
    link_from: IntArray  # node index
    link_to: IntArray  # node index
    road_class: tuple[str, ...]
    lanes: IntArray  # general lanes per direction
    brt_lanes: IntArray  # bus-only lanes per direction
    capacity_veh_h: FloatArray  # [veh/h]
    free_flow_kmh: FloatArray  # [km/h]
    length_m: FloatArray  # [m]
    geometry: tuple[FloatArray, ...]  # (points, 2) lon/lat per link [deg]
    node_index: dict[str, int] = field(init=False)
    link_index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        n, m = len(self.node_id), len(self.link_id)
        for name in (
            "node_kind",
            "node_name_ko",
            "node_name_en",
            "node_lon",
            "node_lat",
            "node_zone",
        ):
            _check(len(getattr(self, name)) == n, f"network.{name} has the wrong length")
        for name in (
            "link_from",
            "link_to",
            "road_class",
            "lanes",
            "brt_lanes",
            "capacity_veh_h",
            "free_flow_kmh",
            "length_m",
            "geometry",
        ):
            _check(len(getattr(self, name)) == m, f"network.{name} has the wrong length")
        for arr in (self.link_from, self.link_to):
            _check(bool(np.all((arr >= 0) & (arr < n))), "link end outside the node table")
        _check(bool(np.all(self.link_from != self.link_to)), "self-loop link")
        _check(bool(np.all(self.lanes >= 1)), "every link needs at least one lane")
        _check(bool(np.all(self.brt_lanes >= 0)), "brt_lanes must be >= 0")
        _check(bool(np.all(self.capacity_veh_h > 0)), "capacity must be positive [veh/h]")
        _check(
            bool(np.all((self.free_flow_kmh > 0) & (self.free_flow_kmh <= 130))),
            "free-flow speed must be in (0, 130] km/h",
        )
        _check(bool(np.all(self.length_m > 0)), "link length must be positive [m]")
        object.__setattr__(self, "node_index", _index(self.node_id, "node"))
        object.__setattr__(self, "link_index", _index(self.link_id, "link"))

    @property
    def free_flow_time_min(self) -> FloatArray:
        """Return each link's free-flow travel time [min]."""
        return self.length_m / 1000.0 / self.free_flow_kmh * 60.0


@dataclass(frozen=True)
class TransitLine:
    """One BRT or bus line: its node path, which nodes are stops, and its service."""

    line_id: str
    direction: int  # 0 as drawn, 1 reversed
    name_ko: str
    name_en: str
    mode: str
    nodes: IntArray  # node indices along the path
    is_stop: NDArray[np.bool_]
    headway_peak_min: float  # [min]
    headway_offpeak_min: float  # [min]
    speed_kmh: float  # commercial speed [km/h]
    origin: str

    def __post_init__(self) -> None:
        _check(self.mode in ("brt", "bus"), f"{self.line_id}: mode must be brt or bus")
        _check(len(self.nodes) >= 2 and len(self.nodes) == len(self.is_stop), "line path")
        _check(int(self.is_stop.sum()) >= 2, f"{self.line_id}: a line needs two stops")
        _check(self.headway_peak_min > 0 and self.headway_offpeak_min > 0, "headway > 0 min")
        _check(0 < self.speed_kmh <= 100, f"{self.line_id}: speed must be in (0, 100] km/h")


@dataclass(frozen=True)
class Facilities:
    """Points of service: hospitals, fire stations, schools, parks, shops, culture, parking."""

    facility_id: tuple[str, ...]
    kind: tuple[str, ...]
    name_ko: tuple[str, ...]
    name_en: tuple[str, ...]
    zone: tuple[str, ...]
    lon: FloatArray  # [deg]
    lat: FloatArray  # [deg]
    capacity: IntArray  # places, spaces or beds; 0 when not applicable
    origin: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.facility_id)
        for name in ("kind", "name_ko", "name_en", "zone", "lon", "lat", "capacity", "origin"):
            _check(len(getattr(self, name)) == n, f"facilities.{name} has the wrong length")
        _check(bool(np.all(self.capacity >= 0)), "facility capacity must be >= 0")
        _index(self.facility_id, "facility")


@dataclass(frozen=True)
class City:
    """The whole city model the twin runs on."""

    zones: Zones
    network: Network
    transit: tuple[TransitLine, ...]
    facilities: Facilities
    version: str

    def __post_init__(self) -> None:
        for code in self.zones.code:
            _check(f"Z{code}" in self.network.node_index, f"zone {code} has no centroid node")

    @property
    def zone_nodes(self) -> IntArray:
        """Return the centroid node index of every zone, in zone order."""
        return np.array([self.network.node_index[f"Z{c}"] for c in self.zones.code])


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _read(root: Any, name: str) -> str:
    return str(root.joinpath(name).read_text(encoding="utf-8"))


def _zones(rows: list[dict[str, str]]) -> Zones:
    def ints(k: str) -> IntArray:
        return np.array([int(r[k]) for r in rows], dtype=np.int64)

    def floats(k: str) -> FloatArray:
        return np.array([float(r[k]) for r in rows], dtype=np.float64)

    cols = ("population", "households", "cars", "jobs", "school_places", "university_places")
    return Zones(
        code=tuple(r["code"] for r in rows),
        name_ko=tuple(r["name_ko"] for r in rows),
        name_en=tuple(r["name_en"] for r in rows),
        zone_type=tuple(r["zone_type"] for r in rows),
        lon=floats("lon"),
        lat=floats("lat"),
        area_km2=floats("area_km2"),
        population=ints("population"),
        households=ints("households"),
        cars=ints("cars"),
        jobs=ints("jobs"),
        school_places=ints("school_places"),
        university_places=ints("university_places"),
        land_use_km2=np.column_stack([floats(f"{c}_km2") for c in LAND_USE_CLASSES]),
        origin={c: tuple(r[f"{c}_origin"] for r in rows) for c in (*cols, "land_use")},
    )


def _network(node_rows: list[dict[str, str]], links_doc: dict[str, Any]) -> Network:
    ids = tuple(r["id"] for r in node_rows)
    index = {k: i for i, k in enumerate(ids)}
    props = [f["properties"] for f in links_doc["features"]]
    return Network(
        node_id=ids,
        node_kind=tuple(r["kind"] for r in node_rows),
        node_name_ko=tuple(r["name_ko"] for r in node_rows),
        node_name_en=tuple(r["name_en"] for r in node_rows),
        node_lon=np.array([float(r["lon"]) for r in node_rows]),
        node_lat=np.array([float(r["lat"]) for r in node_rows]),
        node_zone=tuple(r["zone"] for r in node_rows),
        link_id=tuple(p["id"] for p in props),
        link_from=np.array([index[p["from"]] for p in props], dtype=np.int64),
        link_to=np.array([index[p["to"]] for p in props], dtype=np.int64),
        road_class=tuple(p["road_class"] for p in props),
        lanes=np.array([p["lanes"] for p in props], dtype=np.int64),
        brt_lanes=np.array([p["brt_lanes"] for p in props], dtype=np.int64),
        capacity_veh_h=np.array([p["capacity_veh_h"] for p in props], dtype=np.float64),
        free_flow_kmh=np.array([p["free_flow_kmh"] for p in props], dtype=np.float64),
        length_m=np.array([p["length_m"] for p in props], dtype=np.float64),
        geometry=tuple(
            np.array(f["geometry"]["coordinates"], dtype=np.float64) for f in links_doc["features"]
        ),
    )


def _transit(lines: list[dict[str, str]], routes: list[dict[str, str]], net: Network) -> tuple:
    out = []
    for ln in lines:
        for direction in sorted(
            {int(r["direction"]) for r in routes if r["line_id"] == ln["line_id"]}
        ):
            out.append(_line(ln, direction, routes, net))
    return tuple(out)


def _line(
    ln: dict[str, str], direction: int, routes: list[dict[str, str]], net: Network
) -> TransitLine:
    path = sorted(
        (int(r["seq"]), r)
        for r in routes
        if r["line_id"] == ln["line_id"] and int(r["direction"]) == direction
    )
    return TransitLine(
        line_id=ln["line_id"],
        direction=direction,
        name_ko=ln["name_ko"],
        name_en=ln["name_en"],
        mode=ln["mode"],
        nodes=np.array([net.node_index[r["node_id"]] for _, r in path], dtype=np.int64),
        is_stop=np.array([r["is_stop"] == "1" for _, r in path]),
        headway_peak_min=float(ln["headway_peak_min"]),
        headway_offpeak_min=float(ln["headway_offpeak_min"]),
        speed_kmh=float(ln["speed_kmh"]),
        origin=ln["origin"],
    )


def _facilities(doc: dict[str, Any]) -> Facilities:
    feats = doc["features"]
    p = [f["properties"] for f in feats]
    return Facilities(
        facility_id=tuple(x["id"] for x in p),
        kind=tuple(x["kind"] for x in p),
        name_ko=tuple(x["name_ko"] for x in p),
        name_en=tuple(x["name_en"] for x in p),
        zone=tuple(x["zone"] for x in p),
        lon=np.array([f["geometry"]["coordinates"][0] for f in feats], dtype=np.float64),
        lat=np.array([f["geometry"]["coordinates"][1] for f in feats], dtype=np.float64),
        capacity=np.array([x["capacity"] for x in p], dtype=np.int64),
        origin=tuple(x["origin"] for x in p),
    )


def load_city(path: Path | None = None) -> City:
    """Load the city model from the shipped bundle, or from the bundle directory ``path``."""
    root: Any = path if path is not None else resources.files("cityos").joinpath("data/twin")
    manifest = json.loads(_read(root, "manifest.json"))
    net = _network(_rows(_read(root, "nodes.csv")), json.loads(_read(root, "links.geojson")))
    return City(
        zones=_zones(_rows(_read(root, "zones.csv"))),
        network=net,
        transit=_transit(
            _rows(_read(root, "transit_lines.csv")), _rows(_read(root, "transit_routes.csv")), net
        ),
        facilities=_facilities(json.loads(_read(root, "facilities.geojson"))),
        version=str(manifest["bundle_version"]),
    )
