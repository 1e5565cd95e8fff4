"""Import a road network from an OpenStreetMap extract (``.osm.pbf``) into the twin.

Three layers, as elsewhere in the twin:

- functions: ``parse_maxspeed``, ``parse_lanes``, ``travel_directions`` read OSM tags;
  ``build_network`` turns drivable way segments into a checked ``Network`` (two links for a
  two-way road, the largest strongly connected component, pass-through nodes merged);
  ``attach_zones`` adds zone centroids with connectors;
- files: ``network_files`` / ``bundle_files`` write the bundle's own ``nodes.csv`` and
  ``links.geojson`` (and, with zones, a whole bundle ``load_city`` reads);
- the orchestrator ``import_osm(path)`` reads the file with pyrosm and does all of it.

Lanes, capacity and free-flow speed follow the OSM tags where they are set
(``lanes``, ``lanes:forward``/``lanes:backward``, ``maxspeed``, ``oneway``,
``junction=roundabout``) and otherwise the per-class defaults of ``HIGHWAY_DEFAULTS``,
which are MATSim's OSM network reader defaults (``OsmNetworkReader``, matsim-libs; capacities
per lane in the range of the Highway Capacity Manual, HCM 2016, ch. 12 and 18).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pyproj import Geod

from cityos.twin._geo import csv_text, json_text, rc
from cityos.twin._osm_graph import largest_strong_component, merge_chains
from cityos.twin._osm_read import OsmReadError, OsmSegments, read_segments
from cityos.twin.city import CityModelError, Network, Zones, _network, _rows, _zones
from cityos.twin.plan import ROAD_CLASSES

__all__ = [
    "HIGHWAY_DEFAULTS",
    "HighwayDefaults",
    "OsmNetwork",
    "OsmImportError",
    "OsmReadError",
    "attach_zones",
    "build_network",
    "bundle_files",
    "import_osm",
    "km_by_class",
    "network_files",
    "network_only_files",
    "parse_lanes",
    "parse_maxspeed",
    "read_network",
    "travel_directions",
]

GEOD = Geod(ellps="WGS84")
OSM_NETWORK_VERSION = "osm-1"
MPH_KMH = 1.609344  # [km/h per mph]
MIN_SPEED_KMH, MAX_SPEED_KMH = 5.0, 130.0  # the Network's range, (0, 130] [km/h]
MAX_CONNECTOR_M = 5_000.0  # a zone centroid farther than this from every road is an error [m]
Progress = Callable[[str, float], None]  # (stage, fraction done in [0, 1])


class OsmImportError(ValueError):
    """The OSM import cannot build a usable network."""


@dataclass(frozen=True)
class HighwayDefaults:
    """Per-direction defaults of an OSM ``highway`` class, used where a tag is missing."""

    lanes: int  # lanes per direction
    speed_kmh: float  # free-flow speed [km/h]
    capacity_per_lane: float  # [veh/h/lane]
    oneway: bool = False  # implied ``oneway=yes`` (OSM wiki: motorway, motorway_link)
    source: str = "MATSim"

    def __post_init__(self) -> None:
        if not 1 <= self.lanes <= 8:
            raise ValueError("default lanes must be in 1..8")
        if not MIN_SPEED_KMH <= self.speed_kmh <= MAX_SPEED_KMH:
            raise ValueError("default speed must be in [5, 130] km/h")
        if not 100 <= self.capacity_per_lane <= 2_400:
            raise ValueError("capacity per lane must be in [100, 2400] veh/h")


# MATSim OsmNetworkReader defaults (lanes per direction, free speed, capacity per lane);
# "assumed" rows have no MATSim default and copy the class they branch from.
HIGHWAY_DEFAULTS: dict[str, HighwayDefaults] = {
    "motorway": HighwayDefaults(2, 120.0, 2_000, oneway=True),
    "motorway_link": HighwayDefaults(1, 80.0, 1_500, oneway=True),
    "trunk": HighwayDefaults(1, 80.0, 2_000),
    "trunk_link": HighwayDefaults(1, 50.0, 1_500),
    "primary": HighwayDefaults(1, 80.0, 1_500),
    "primary_link": HighwayDefaults(1, 60.0, 1_500),
    "secondary": HighwayDefaults(1, 60.0, 1_000),
    "secondary_link": HighwayDefaults(1, 60.0, 1_000, source="assumed (= secondary)"),
    "tertiary": HighwayDefaults(1, 45.0, 600),
    "tertiary_link": HighwayDefaults(1, 45.0, 600, source="assumed (= tertiary)"),
    "minor": HighwayDefaults(1, 45.0, 600),
    "unclassified": HighwayDefaults(1, 45.0, 600),
    "road": HighwayDefaults(1, 45.0, 600, source="assumed (= unclassified)"),
    "residential": HighwayDefaults(1, 30.0, 600),
    "living_street": HighwayDefaults(1, 15.0, 300),
    "service": HighwayDefaults(1, 15.0, 300, source="assumed (= living_street)"),
}
FALLBACK_CLASS = "unclassified"  # defaults for a highway value the table does not know

# maxspeed zone values (``FI:urban``, ``KR:rural``, …): the common national defaults [km/h].
ZONE_SPEEDS_KMH = {"urban": 50.0, "rural": 80.0, "motorway": 120.0, "living_street": 20.0}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")


def parse_maxspeed(text: str) -> float | None:
    """Return the speed limit of an OSM ``maxspeed`` value [km/h], or None if unknown.

    Numbers are km/h unless followed by ``mph``; a list (``50;30``) takes its first value;
    zone values (``FI:urban``) use ``ZONE_SPEEDS_KMH``; ``walk`` is 7 km/h; ``none`` and
    anything else are unknown (the class default applies).
    """
    first = text.split(";")[0].strip().lower()
    if not first:
        return None
    m = _NUMBER.match(first)
    if m:
        value = float(m.group(1)) * (MPH_KMH if m.group(2) == "mph" else 1.0)
        return value if value > 0 else None
    if first == "walk":
        return 7.0
    zone = first.split(":", 1)[-1]
    return ZONE_SPEEDS_KMH.get(zone)


def parse_lanes(text: str) -> int | None:
    """Return the lane count of an OSM ``lanes`` value, or None if absent or unreadable."""
    first = text.split(";")[0].strip()
    try:
        n = round(float(first))
    except ValueError:
        return None
    return n if n >= 1 else None


def travel_directions(oneway: str, highway: str, junction: str = "") -> tuple[bool, bool]:
    """Return whether a way is driven (as drawn, against the drawing direction)."""
    tag = oneway.strip().lower()
    if tag in ("-1", "reverse"):
        return False, True
    if tag in ("yes", "true", "1"):
        return True, False
    if tag in ("no", "false", "0", "alternating", "reversible"):
        return True, True
    implied = HIGHWAY_DEFAULTS.get(highway, HIGHWAY_DEFAULTS[FALLBACK_CLASS]).oneway
    if implied or junction.strip().lower() in ("roundabout", "circular"):
        return True, False
    return True, True


@dataclass(frozen=True)
class _Directed:
    """Directed segments before merging (node indices into the segment node table)."""

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    seg: NDArray[np.int64]  # source segment
    lanes: NDArray[np.int64]
    speed_kmh: NDArray[np.float64]
    highway: tuple[str, ...]


def _directed(seg: OsmSegments, node_of: dict[int, int]) -> _Directed:
    """Expand segments into one directed segment per travelled direction, with attributes."""
    a: list[int] = []
    b: list[int] = []
    src: list[int] = []
    lanes: list[int] = []
    speed: list[float] = []
    hw: list[str] = []
    for i in range(len(seg)):
        u, v = node_of.get(int(seg.u[i])), node_of.get(int(seg.v[i]))
        if u is None or v is None or u == v:
            continue
        cls = seg.highway[i] if seg.highway[i] in HIGHWAY_DEFAULTS else FALLBACK_CLASS
        d = HIGHWAY_DEFAULTS[cls]
        fwd, back = travel_directions(seg.oneway[i], seg.highway[i], seg.junction[i])
        total = parse_lanes(seg.lanes[i])
        kmh = parse_maxspeed(seg.maxspeed[i]) or d.speed_kmh
        kmh = min(max(kmh, MIN_SPEED_KMH), MAX_SPEED_KMH)
        for go, tail, head, tag in (
            (fwd, u, v, seg.lanes_forward[i]),
            (back, v, u, seg.lanes_backward[i]),
        ):
            if not go:
                continue
            n = parse_lanes(tag)
            if n is None and total is not None:
                # OSM ``lanes`` counts both directions of a two-way road (MATSim halves it).
                n = total if not (fwd and back) else max(1, total // 2)
            a.append(tail)
            b.append(head)
            src.append(i)
            lanes.append(n or d.lanes)
            speed.append(kmh)
            hw.append(cls)
    return _Directed(
        a=np.array(a, dtype=np.int64),
        b=np.array(b, dtype=np.int64),
        seg=np.array(src, dtype=np.int64),
        lanes=np.array(lanes, dtype=np.int64),
        speed_kmh=np.array(speed, dtype=np.float64),
        highway=tuple(hw),
    )


@dataclass(frozen=True)
class OsmNetwork:
    """An imported network and, per link id, the OSM tags kept for it (name, way id)."""

    network: Network
    link_tags: dict[str, dict[str, str | int]]
    segments: int  # drivable OSM way segments read
    directed: int  # directed segments (two per two-way segment)
    kept: int  # directed segments in the largest strongly connected component


def build_network(seg: OsmSegments, progress: Progress | None = None) -> OsmNetwork:
    """Return the drivable network of ``seg``: two-way roads as two links, strongly connected."""
    say = progress or (lambda stage, frac: None)
    node_of = {int(n): i for i, n in enumerate(seg.node_id.tolist())}
    d = _directed(seg, node_of)
    say("directions", 1.0)
    n_nodes = len(seg.node_id)
    keep = largest_strong_component(d.a, d.b, n_nodes)
    if not keep.any():
        raise OsmImportError("no strongly connected road network in the extract")
    idx = np.flatnonzero(keep)
    a, b, lanes, kmh = d.a[idx], d.b[idx], d.lanes[idx], d.speed_kmh[idx]
    hw = [d.highway[i] for i in idx.tolist()]
    say("components", 1.0)
    attrs = list(zip(hw, lanes.tolist(), kmh.tolist(), strict=True))
    codes = {t: k for k, t in enumerate(sorted(set(attrs)))}
    key = np.array([codes[t] for t in attrs], dtype=np.int64)
    chains = merge_chains(a, b, key, n_nodes)
    say("merge", 1.0)
    lon, lat = seg.node_lon, seg.node_lat
    seg_m = np.asarray(GEOD.inv(lon[a], lat[a], lon[b], lat[b])[2], dtype=np.float64)
    rows = []
    for k in range(len(chains.length)):
        s = chains.segments(k)
        path = [int(a[s[0]]), *(int(x) for x in b[s])]
        i0 = int(s[0])
        rows.append((int(seg.node_id[path[0]]), int(seg.node_id[path[-1]]), path, i0, s))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    used = sorted({p for r in rows for p in (r[2][0], r[2][-1])})
    node_ids = tuple(f"N{int(seg.node_id[p])}" for p in used)
    pos = {p: i for i, p in enumerate(used)}
    cap = np.array([HIGHWAY_DEFAULTS[h].capacity_per_lane for h in hw]) * lanes
    source_seg = d.seg[idx]
    net = Network(
        node_id=node_ids,
        node_kind=("junction",) * len(used),
        node_name_ko=("",) * len(used),
        node_name_en=("",) * len(used),
        node_lon=np.array([rc(float(lon[p])) for p in used]),
        node_lat=np.array([rc(float(lat[p])) for p in used]),
        node_zone=("",) * len(used),
        link_id=tuple(f"L{k:06d}" for k in range(1, len(rows) + 1)),
        link_from=np.array([pos[r[2][0]] for r in rows], dtype=np.int64),
        link_to=np.array([pos[r[2][-1]] for r in rows], dtype=np.int64),
        road_class=tuple(hw[r[3]] for r in rows),
        lanes=np.array([lanes[r[3]] for r in rows], dtype=np.int64),
        brt_lanes=np.zeros(len(rows), dtype=np.int64),
        capacity_veh_h=np.array([float(cap[r[3]]) for r in rows]),
        free_flow_kmh=np.array([float(kmh[r[3]]) for r in rows]),
        length_m=np.array([max(round(float(seg_m[r[4]].sum()), 1), 0.1) for r in rows]),
        geometry=tuple(
            np.array([[rc(float(lon[p])), rc(float(lat[p]))] for p in r[2]]) for r in rows
        ),
    )
    tags: dict[str, dict[str, str | int]] = {}
    for k, r in enumerate(rows, start=1):
        i = int(source_seg[r[3]])
        tags[f"L{k:06d}"] = {
            "name_ko": seg.name[i],
            "name_en": seg.name[i],
            "osm_way": int(seg.way_id[i]),
        }
    say("links", 1.0)
    return OsmNetwork(
        network=net, link_tags=tags, segments=len(seg), directed=len(d.a), kept=len(idx)
    )


def _nearest_nodes(net: Network, lon: float, lat: float, k: int) -> list[int]:
    """Return the ``k`` road nodes nearest to (lon, lat), nearest first."""
    road = np.array([kind != "centroid" for kind in net.node_kind])
    cand = np.flatnonzero(road)
    dist = np.asarray(
        GEOD.inv(
            np.full(len(cand), lon), np.full(len(cand), lat), net.node_lon[cand], net.node_lat[cand]
        )[2]
    )
    order = np.lexsort((cand, dist))[:k]
    if not len(order) or dist[order[0]] > MAX_CONNECTOR_M:
        raise OsmImportError(
            f"no road within {MAX_CONNECTOR_M / 1000:g} km of the zone centroid at "
            f"({lon:.5f}, {lat:.5f}): do the zones belong to this extract?"
        )
    return [int(cand[i]) for i in order]


def attach_zones(net: Network, zones: Zones, connectors: int = 2) -> Network:
    """Return ``net`` with a centroid node per zone linked both ways to its nearest roads.

    Connectors take the bundle's ``connector`` class (1 lane, 9,999 veh/h, 24 km/h) and a
    length of the straight line times its circuity (1.3), as in the drawn Sejong network.
    """
    if connectors < 1:
        raise ValueError("connectors must be >= 1")
    cls = ROAD_CLASSES["connector"]
    node_ids = list(net.node_id)
    new_links: list[tuple[int, int, float, NDArray[np.float64]]] = []
    for z in range(len(zones)):
        c = len(node_ids)
        node_ids.append(f"Z{zones.code[z]}")
        zl, zt = float(zones.lon[z]), float(zones.lat[z])
        for n in _nearest_nodes(net, zl, zt, connectors):
            nl, nt = float(net.node_lon[n]), float(net.node_lat[n])
            m = max(round(float(GEOD.inv(zl, zt, nl, nt)[2]) * cls.circuity, 1), 1.0)
            new_links.append((c, n, m, np.array([[zl, zt], [nl, nt]])))
            new_links.append((n, c, m, np.array([[nl, nt], [zl, zt]])))
    n_new = len(new_links)
    first = len(net.link_id) + 1
    return Network(
        node_id=tuple(node_ids),
        node_kind=(*net.node_kind, *("centroid",) * len(zones)),
        node_name_ko=(*net.node_name_ko, *(f"{x} 중심" for x in zones.name_ko)),
        node_name_en=(*net.node_name_en, *(f"{x} centroid" for x in zones.name_en)),
        node_lon=np.concatenate([net.node_lon, zones.lon]),
        node_lat=np.concatenate([net.node_lat, zones.lat]),
        node_zone=(*net.node_zone, *zones.code),
        link_id=(*net.link_id, *(f"C{k:06d}" for k in range(first, first + n_new))),
        link_from=np.concatenate([net.link_from, [x[0] for x in new_links]]).astype(np.int64),
        link_to=np.concatenate([net.link_to, [x[1] for x in new_links]]).astype(np.int64),
        road_class=(*net.road_class, *("connector",) * n_new),
        lanes=np.concatenate([net.lanes, np.full(n_new, cls.lanes)]).astype(np.int64),
        brt_lanes=np.concatenate([net.brt_lanes, np.zeros(n_new)]).astype(np.int64),
        capacity_veh_h=np.concatenate(
            [net.capacity_veh_h, np.full(n_new, float(cls.lanes * cls.capacity_per_lane))]
        ),
        free_flow_kmh=np.concatenate([net.free_flow_kmh, np.full(n_new, cls.free_flow_kmh)]),
        length_m=np.concatenate([net.length_m, [x[2] for x in new_links]]),
        geometry=(*net.geometry, *(x[3] for x in new_links)),
    )


def network_files(
    net: Network, link_tags: dict[str, dict[str, str | int]] | None = None
) -> dict[str, str]:
    """Return ``nodes.csv`` and ``links.geojson`` of ``net`` in the bundle's format.

    ``link_tags`` adds properties per link id (the OSM name and way id of imported links).
    """
    link_tags = link_tags or {}
    nodes = csv_text(
        ["id", "kind", "name_ko", "name_en", "lon", "lat", "zone"],
        (
            [i, k, ko, en, float(x), float(y), z]
            for i, k, ko, en, x, y, z in zip(
                net.node_id,
                net.node_kind,
                net.node_name_ko,
                net.node_name_en,
                net.node_lon,
                net.node_lat,
                net.node_zone,
                strict=True,
            )
        ),
    )
    features = []
    for k, lid in enumerate(net.link_id):
        connector = net.road_class[k] == "connector"
        props: dict[str, str | int | float] = {
            "id": lid,
            "from": net.node_id[int(net.link_from[k])],
            "to": net.node_id[int(net.link_to[k])],
            "road_class": net.road_class[k],
            "lanes": int(net.lanes[k]),
            "brt_lanes": int(net.brt_lanes[k]),
            "capacity_veh_h": float(net.capacity_veh_h[k]),
            "free_flow_kmh": float(net.free_flow_kmh[k]),
            "length_m": float(net.length_m[k]),
            "name_ko": "",
            "name_en": "",
            "origin": "synthetic" if connector else "osm",
        }
        props.update(link_tags.get(lid, {}))
        coords = [[float(x), float(y)] for x, y in net.geometry[k]]
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "LineString", "coordinates": coords},
            }
        )
    return {
        "nodes.csv": nodes,
        "links.geojson": json_text({"type": "FeatureCollection", "features": features}),
    }


def km_by_class(net: Network) -> dict[str, float]:
    """Return the directed link length per road class [km]."""
    out: Counter[str] = Counter()
    for cls, m in zip(net.road_class, net.length_m.tolist(), strict=True):
        out[cls] += m / 1000.0
    return dict(sorted(out.items()))


def bundle_files(
    imported: OsmNetwork,
    zones_csv: str,
    facilities_geojson: str | None = None,
    source: str = "",
    connectors: int = 2,
) -> dict[str, str]:
    """Return a whole twin bundle (for ``load_city``) of the zones in ``zones_csv`` on ``net``.

    The zones are connected to the imported roads; the drawn transit lines do not fit an
    imported network, so the transit tables are empty (transit skims become walk times).
    """
    zones = _zones(_rows(zones_csv))
    full = attach_zones(imported.network, zones, connectors)
    files = network_files(full, imported.link_tags)
    files["zones.csv"] = zones_csv
    files["facilities.geojson"] = facilities_geojson or json_text(
        {"type": "FeatureCollection", "features": []}
    )
    files["transit_lines.csv"] = csv_text(
        [
            "line_id",
            "name_ko",
            "name_en",
            "mode",
            "headway_peak_min",
            "headway_offpeak_min",
            "speed_kmh",
            "origin",
            "note",
        ],
        [],
    )
    files["transit_routes.csv"] = csv_text(
        ["line_id", "direction", "seq", "node_id", "is_stop"], []
    )
    files["manifest.json"] = _manifest(full, source, sorted([*files, "manifest.json"]))
    return files


def _manifest(net: Network, source: str, files: Sequence[str]) -> str:
    doc = {
        "bundle_version": OSM_NETWORK_VERSION,
        "source": source,
        "licence": "OpenStreetMap data (c) OpenStreetMap contributors, ODbL 1.0",
        "nodes": len(net.node_id),
        "links": len(net.link_id),
        "km_by_class": {k: round(v, 3) for k, v in km_by_class(net).items()},
        "files": list(files),
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def network_only_files(imported: OsmNetwork, source: str = "") -> dict[str, str]:
    """Return ``nodes.csv``, ``links.geojson`` and a ``manifest.json`` of an import."""
    files = network_files(imported.network, imported.link_tags)
    files["manifest.json"] = _manifest(imported.network, source, sorted([*files, "manifest.json"]))
    return files


def read_network(path: Path) -> Network:
    """Read ``nodes.csv`` and ``links.geojson`` of a bundle or an imported network."""
    nodes = (Path(path) / "nodes.csv").read_text(encoding="utf-8")
    links = (Path(path) / "links.geojson").read_text(encoding="utf-8")
    try:
        return _network(_rows(nodes), json.loads(links))
    except (KeyError, CityModelError) as exc:
        raise OsmImportError(f"{path}: not a twin network ({exc})") from exc


def import_osm(
    path: Path,
    bbox: tuple[float, float, float, float] | None = None,
    progress: Progress | None = None,
) -> OsmNetwork:
    """Read ``path`` (``.osm.pbf``) and return its drivable, strongly connected network."""
    if bbox is not None and not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
        raise OsmImportError("bbox must be min_lon,min_lat,max_lon,max_lat with min < max")
    seg = read_segments(path, bbox)
    if progress is not None:
        progress("read", 1.0)
    return build_network(seg, progress)
