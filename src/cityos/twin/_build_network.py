"""Build the twin's road network, transit routes and zone connectors from ``plan``."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from cityos.twin._geo import geodesic_m, line_length_m, rc
from cityos.twin.plan import (
    JUNCTIONS,
    LINES,
    RING_LENGTH_M,
    RING_STATIONS,
    ROAD_CLASSES,
    ROADS,
)

CONNECTORS_PER_ZONE = 2


@dataclass(frozen=True)
class Node:
    """A network node as written to ``nodes.csv``."""

    node_id: str
    kind: str  # ring_station, junction, external, centroid
    name_ko: str
    name_en: str
    lon: float
    lat: float
    zone: str  # containing zone code, "" outside Sejong


def ring_points(target_m: float = RING_LENGTH_M) -> tuple[list[tuple[float, float]], float]:
    """Return the drawn ring stations (lon, lat) and the circuity that makes it ``target_m``."""
    pts = [(rc(lon), rc(lat)) for *_, lat, lon in RING_STATIONS]
    return pts, target_m / line_length_m([*pts, pts[0]])


def _zone_of(lon: float, lat: float, zones: dict[str, BaseGeometry]) -> str:
    p = Point(lon, lat)
    hits = sorted(code for code, geom in zones.items() if geom.covers(p))
    return hits[0] if hits else ""


def build_nodes(
    zones: dict[str, BaseGeometry], centroids: dict[str, tuple[float, float]], names: dict
) -> tuple[list[Node], float]:
    """Return all nodes (ring, junctions, zone centroids) and the ring circuity."""
    ring, k = ring_points()
    nodes: list[Node] = []
    for (sid, ko, en, _, _), (lon, lat) in zip(RING_STATIONS, ring, strict=True):
        nodes.append(Node(sid, "ring_station", ko, en, lon, lat, _zone_of(lon, lat, zones)))
    for jid, ko, en, lat, lon, kind in JUNCTIONS:
        zone = "" if kind == "external" else _zone_of(lon, lat, zones)
        nodes.append(Node(jid, kind, ko, en, rc(lon), rc(lat), zone))
    for code, (lon, lat) in sorted(centroids.items()):
        ko, en = names[code]
        nodes.append(Node(f"Z{code}", "centroid", f"{ko} 중심", f"{en} centroid", lon, lat, code))
    return nodes, k


def _link(a: Node, b: Node, road_class: str, ko: str, en: str, circuity: float) -> dict[str, Any]:
    rcls = ROAD_CLASSES[road_class]
    coords = [(a.lon, a.lat), (b.lon, b.lat)]
    return {
        "id": "",
        "from": a.node_id,
        "to": b.node_id,
        "road_class": road_class,
        "lanes": rcls.lanes,
        "brt_lanes": rcls.brt_lanes,
        "capacity_veh_h": rcls.lanes * rcls.capacity_per_lane,
        "free_flow_kmh": rcls.free_flow_kmh,
        "length_m": round(line_length_m(coords) * circuity, 1),
        "name_ko": ko,
        "name_en": en,
        "coords": coords,
    }


def build_links(nodes: list[Node], ring_circuity: float) -> list[dict[str, Any]]:
    """Return directed links (both directions of every road, ring and zone connector)."""
    by_id = {n.node_id: n for n in nodes}
    pairs: list[tuple[str, str, str, str, str]] = []
    ring_ids = [s[0] for s in RING_STATIONS]
    for a, b in zip(ring_ids, [*ring_ids[1:], ring_ids[0]], strict=True):
        pairs.append(
            (a, b, "brt_ring", "한누리대로 (BRT 내부순환)", "Hannuri-daero (BRT inner ring)")
        )
    pairs.extend(ROADS)
    road_nodes = [n for n in nodes if n.kind in ("ring_station", "junction")]
    for c in (n for n in nodes if n.kind == "centroid"):
        near = sorted(road_nodes, key=lambda n: (geodesic_m(c.lon, c.lat, n.lon, n.lat), n.node_id))
        for n in near[:CONNECTORS_PER_ZONE]:
            pairs.append(
                (c.node_id, n.node_id, "connector", f"{c.name_ko} 연결", f"{c.name_en} link")
            )
    links: list[dict[str, Any]] = []
    for a_id, b_id, cls, ko, en in pairs:
        na, nb = by_id[a_id], by_id[b_id]
        k = ring_circuity if cls == "brt_ring" else ROAD_CLASSES[cls].circuity
        for u, v in ((na, nb), (nb, na)):
            links.append(_link(u, v, cls, ko, en, k))
    links.sort(key=lambda x: (x["from"], x["to"]))
    for i, link in enumerate(links, start=1):
        link["id"] = f"L{i:04d}"
    return links


def _dijkstra_path(links: list[dict[str, Any]], src: str, dst: str) -> list[str]:
    adj: dict[str, list[tuple[float, str]]] = {}
    for link in links:
        if link["road_class"] != "connector":
            adj.setdefault(link["from"], []).append((link["length_m"], link["to"]))
    dist = {src: 0.0}
    prev: dict[str, str] = {}
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == dst:
            break
        if d > dist.get(u, float("inf")):
            continue
        for w, v in sorted(adj.get(u, [])):
            if d + w < dist.get(v, float("inf")):
                dist[v], prev[v] = d + w, u
                heapq.heappush(heap, (d + w, v))
    if dst not in dist:
        raise ValueError(f"no road from {src} to {dst}")
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return path[::-1]


def build_routes(links: list[dict[str, Any]]) -> list[tuple[str, int, int, str, int]]:
    """Return (line_id, direction, seq, node_id, is_stop) rows: each line's path and stops."""
    rows: list[tuple[str, int, int, str, int]] = []
    for line in LINES:
        path: list[str] = [line.waypoints[0]]
        stops = {0}
        for a, b in zip(line.waypoints[:-1], line.waypoints[1:], strict=True):
            path.extend(_dijkstra_path(links, a, b)[1:])
            stops.add(len(path) - 1)
        flags = [int(i in stops) for i in range(len(path))]
        rows.extend(
            (line.line_id, 0, i, nid, f)
            for i, (nid, f) in enumerate(zip(path, flags, strict=False))
        )
        if line.both_ways:
            back = list(zip(path[::-1], flags[::-1], strict=True))
            rows.extend((line.line_id, 1, i, nid, f) for i, (nid, f) in enumerate(back))
    return rows
