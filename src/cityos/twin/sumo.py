"""Export the twin's road network and car demand to Eclipse SUMO plain XML.

Files (``PREFIX`` defaults to ``cityos``), as SUMO's netconvert and sumo read them
(https://sumo.dlr.de/docs/Networks/PlainXML.html, .../Definition_of_Vehicles...):

- ``PREFIX.nod.xml``: nodes in UTM metres (zone of the network's centre, WGS84) shifted by a
  net offset, with a ``<location>`` element so SUMO maps them back to lon/lat;
- ``PREFIX.edg.xml``: one edge per directed link, ``numLanes``, ``speed`` [m/s], the link's
  ``length`` [m] (the twin's, which may exceed the drawn shape) and its ``shape``;
- ``PREFIX.con.xml``: removes every connection from a link into a zone centroid to a link out
  of it, so that, as in the twin, centroids start and end trips but carry no traffic;
- ``PREFIX.rou.xml``: a passenger ``vType`` and one ``<trip>`` per car trip sorted by
  departure, from the centroid connector the trip leaves by to the one it arrives by
  (those of its free-flow shortest route in the twin);
- ``PREFIX.netccfg`` / ``PREFIX.sumocfg``: configurations, so ``netconvert -c
  PREFIX.netccfg`` builds ``PREFIX.net.xml`` and ``sumo -c PREFIX.sumocfg`` runs it.

Departure times are the twin's departure minute plus a uniform share of that minute drawn
from ``numpy.random.default_rng(seed)`` over all trips, which is how
``cityos.twin.traffic.assign`` spreads departures with ``TrafficParams(seed=seed)``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer

from cityos.twin._traffic_routes import RouteBook, road_graph, route_choices
from cityos.twin.city import City, Network
from cityos.twin.demand import CAR, Trips

__all__ = [
    "SUMO_LANE_VEH_H",
    "SumoTrips",
    "car_trips",
    "connections_xml",
    "edges_xml",
    "nodes_xml",
    "routes_xml",
    "sumo_files",
    "sumo_lanes",
    "utm_proj",
    "write_sumo",
]

KMH_MS = 1 / 3.6  # [m/s per km/h]
# Capacity of one SUMO lane [veh/h]: the saturation flow of SUMO's default car following
# (tau = 1 s, 7.5 m per car in a jam) at urban speeds, ~1,800-2,000 veh/h/lane; the
# Highway Capacity Manual's base saturation flow is 1,900 pc/h/ln (HCM 6th ed., ch. 19).
SUMO_LANE_VEH_H = 1800.0
PRIORITY = {  # SUMO edge priority by road class: higher wins at unsignalised junctions
    "motorway": 13,
    "trunk": 12,
    "national_road": 11,
    "brt_ring": 11,
    "primary": 11,
    "secondary": 10,
    "urban_arterial": 10,
    "rural_road": 9,
    "tertiary": 9,
    "local_street": 7,
    "unclassified": 7,
    "residential": 6,
    "living_street": 5,
    "connector": 1,
}


def utm_proj(lon: float, lat: float) -> str:
    """Return the PROJ string of the WGS84 UTM zone holding (lon, lat)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    south = " +south" if lat < 0 else ""
    return f"+proj=utm +zone={zone}{south} +ellps=WGS84 +datum=WGS84 +units=m +no_defs"


@dataclass(frozen=True)
class _Frame:
    """Projected coordinates of the network: node x/y and link shapes [m], net offset."""

    proj: str
    node_xy: NDArray[np.float64]
    shapes: tuple[NDArray[np.float64], ...]
    offset: tuple[float, float]
    conv: tuple[float, float, float, float]
    orig: tuple[float, float, float, float]


def _frame(net: Network) -> _Frame:
    lon0 = float((net.node_lon.min() + net.node_lon.max()) / 2)
    lat0 = float((net.node_lat.min() + net.node_lat.max()) / 2)
    proj = utm_proj(lon0, lat0)
    tr = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
    x, y = tr.transform(net.node_lon, net.node_lat)
    x0, y0 = float(np.min(x)), float(np.min(y))
    node_xy = np.column_stack([np.asarray(x) - x0, np.asarray(y) - y0])
    shapes = []
    for g in net.geometry:
        gx, gy = tr.transform(g[:, 0], g[:, 1])
        shapes.append(np.column_stack([np.asarray(gx) - x0, np.asarray(gy) - y0]))
    return _Frame(
        proj=proj,
        node_xy=node_xy,
        shapes=tuple(shapes),
        offset=(-x0, -y0),
        conv=(0.0, 0.0, float(node_xy[:, 0].max()), float(node_xy[:, 1].max())),
        orig=(
            float(net.node_lon.min()),
            float(net.node_lat.min()),
            float(net.node_lon.max()),
            float(net.node_lat.max()),
        ),
    )


def _xml(root: ET.Element) -> str:
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _f(x: float, nd: int = 2) -> str:
    return f"{x:.{nd}f}"


def _location(frame: _Frame) -> ET.Element:
    return ET.Element(
        "location",
        netOffset=f"{_f(frame.offset[0])},{_f(frame.offset[1])}",
        convBoundary=",".join(_f(v) for v in frame.conv),
        origBoundary=",".join(_f(v, 6) for v in frame.orig),
        projParameter=frame.proj,
    )


def nodes_xml(net: Network) -> str:
    """Return the plain-XML node file of ``net`` (UTM metres with a ``<location>``)."""
    frame = _frame(net)
    root = ET.Element("nodes", version="1.20")
    root.append(_location(frame))
    for i, nid in enumerate(net.node_id):
        ET.SubElement(
            root,
            "node",
            id=nid,
            x=_f(frame.node_xy[i, 0]),
            y=_f(frame.node_xy[i, 1]),
            type="priority",
        )
    return _xml(root)


def sumo_lanes(net: Network) -> NDArray[np.int64]:
    """Return the lanes to export per link: the twin's, or enough for its capacity.

    SUMO derives an edge's capacity from its lanes (about ``SUMO_LANE_VEH_H`` each), not from
    a capacity attribute. Where the twin's capacity needs more lanes than it draws - the zone
    connectors, 1 lane at 9,999 veh/h, which stand for all of a zone's access streets - the
    edge gets ceil(capacity / SUMO_LANE_VEH_H) lanes, so both models give it the same capacity.
    """
    need = np.ceil(net.capacity_veh_h / SUMO_LANE_VEH_H).astype(np.int64)
    return np.maximum(net.lanes.astype(np.int64), need)


def edges_xml(net: Network) -> str:
    """Return the plain-XML edge file of ``net``: lanes, speed [m/s], length [m], shape."""
    frame = _frame(net)
    lanes = sumo_lanes(net)
    root = ET.Element("edges", version="1.20")
    for k, lid in enumerate(net.link_id):
        shape = " ".join(f"{_f(x)},{_f(y)}" for x, y in frame.shapes[k])
        ET.SubElement(
            root,
            "edge",
            id=lid,
            attrib={"from": net.node_id[int(net.link_from[k])]},
            to=net.node_id[int(net.link_to[k])],
            numLanes=str(int(lanes[k])),
            speed=_f(float(net.free_flow_kmh[k]) * KMH_MS, 3),
            length=_f(float(net.length_m[k])),
            priority=str(PRIORITY.get(net.road_class[k], 7)),
            type=net.road_class[k],
            shape=shape,
        )
    return _xml(root)


def connections_xml(net: Network) -> str:
    """Return a connection file that forbids driving through zone centroids."""
    root = ET.Element("connections", version="1.20")
    centroids = [i for i, k in enumerate(net.node_kind) if k == "centroid"]
    for c in centroids:
        ins = np.flatnonzero(net.link_to == c)
        outs = np.flatnonzero(net.link_from == c)
        for i in ins.tolist():
            for o in outs.tolist():
                ET.SubElement(
                    root,
                    "delete",
                    attrib={"from": net.link_id[i]},
                    to=net.link_id[o],
                )
    return _xml(root)


@dataclass(frozen=True)
class SumoTrips:
    """Car trips as SUMO reads them, sorted by departure."""

    trip: NDArray[np.int64]  # index into the twin's trips table (the SUMO id is "t<trip>")
    depart_s: NDArray[np.float64]  # [s from midnight]
    from_edge: tuple[str, ...]
    to_edge: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.trip)


def car_trips(city: City, trips: Trips, seed: int = 42, bin_min: float = 15.0) -> SumoTrips:
    """Return the car trips between distinct zones with departures and connector edges.

    Each trip leaves by the first and arrives by the last link of its free-flow shortest
    route in the twin; the departure is its minute plus the share ``assign`` draws.
    """
    spread = np.random.default_rng(seed).random(trips.n)  # as traffic.assign draws it
    depart_min = trips.departure_min.astype(np.float64) + spread
    car = np.flatnonzero((trips.mode == CAR) & (trips.origin != trips.destination))
    graph = road_graph(city)
    n_z = len(city.zones)
    need = np.zeros((1, n_z, n_z), dtype=bool)
    need[0, trips.origin[car], trips.destination[car]] = True
    book = RouteBook()
    free = city.network.free_flow_time_min[None, :]
    rid, _ = route_choices(graph, free, need, book)
    first = np.array([p[0] for p in book.paths], dtype=np.int64)
    last = np.array([p[-1] for p in book.paths], dtype=np.int64)
    r = rid[0, trips.origin[car], trips.destination[car]]
    order = np.argsort(depart_min[car], kind="stable")
    car, r = car[order], r[order]
    ids = city.network.link_id
    return SumoTrips(
        trip=car.astype(np.int64),
        depart_s=np.round(depart_min[car] * 60.0, 2),
        from_edge=tuple(ids[int(k)] for k in first[r]),
        to_edge=tuple(ids[int(k)] for k in last[r]),
    )


def routes_xml(trips: SumoTrips) -> str:
    """Return the route file: one passenger vType and the trips sorted by departure."""
    root = ET.Element("routes")
    # SUMO's passenger defaults (5 m + 2.5 m gap: 7.5 m a car in a jam, the twin takes 7 m).
    ET.SubElement(root, "vType", id="car", vClass="passenger")
    for i in range(len(trips)):
        ET.SubElement(
            root,
            "trip",
            id=f"t{int(trips.trip[i])}",
            type="car",
            depart=_f(float(trips.depart_s[i])),
            attrib={"from": trips.from_edge[i]},
            to=trips.to_edge[i],
            departLane="best",
            departSpeed="max",
        )
    return _xml(root)


def _netccfg(prefix: str) -> str:
    root = ET.Element("configuration")
    inp = ET.SubElement(root, "input")
    ET.SubElement(inp, "node-files", value=f"{prefix}.nod.xml")
    ET.SubElement(inp, "edge-files", value=f"{prefix}.edg.xml")
    ET.SubElement(inp, "connection-files", value=f"{prefix}.con.xml")
    out = ET.SubElement(root, "output")
    ET.SubElement(out, "output-file", value=f"{prefix}.net.xml")
    proc = ET.SubElement(root, "processing")
    # Keep the twin's nodes and lengths: no joining, no geometry changes.
    ET.SubElement(proc, "geometry.remove", value="false")
    ET.SubElement(proc, "junctions.join", value="false")
    ET.SubElement(root, "report").append(ET.Element("no-warnings", value="true"))
    return _xml(root)


def _sumocfg(prefix: str) -> str:
    root = ET.Element("configuration")
    inp = ET.SubElement(root, "input")
    ET.SubElement(inp, "net-file", value=f"{prefix}.net.xml")
    ET.SubElement(inp, "route-files", value=f"{prefix}.rou.xml")
    ET.SubElement(root, "output").append(
        ET.Element("tripinfo-output", value=f"{prefix}.tripinfo.xml")
    )
    ET.SubElement(root, "mesoscopic").append(ET.Element("mesosim", value="true"))
    ET.SubElement(root, "report").append(ET.Element("no-step-log", value="true"))
    return _xml(root)


def sumo_files(
    city: City, trips: Trips | None = None, seed: int = 42, prefix: str = "cityos"
) -> dict[str, str]:
    """Return the SUMO scenario files (name -> text) of ``city`` and its car ``trips``."""
    net = city.network
    files = {
        f"{prefix}.nod.xml": nodes_xml(net),
        f"{prefix}.edg.xml": edges_xml(net),
        f"{prefix}.con.xml": connections_xml(net),
        f"{prefix}.netccfg": _netccfg(prefix),
    }
    if trips is not None:
        files[f"{prefix}.rou.xml"] = routes_xml(car_trips(city, trips, seed))
        files[f"{prefix}.sumocfg"] = _sumocfg(prefix)
    return files


def write_sumo(out: Path, files: dict[str, str]) -> list[Path]:
    """Write ``files`` into the directory ``out`` (created if needed); return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in sorted(files.items()):
        p = out / name
        p.write_text(text, encoding="utf-8")
        paths.append(p)
    return paths
