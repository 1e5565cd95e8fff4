"""Zone-to-zone travel-time skims by car, transit, bike and walk (shortest paths).

Car times are free-flow. Transit times are generalised door-to-door times of a
frequency-based network: walk access/egress and transfers on the road network, an expected
wait of half the headway at each boarding (the random-arrival result for regular headways,
e.g. Ortuzar & Willumsen, *Modelling Transport*, 4th ed., 2011, ch. 10), and in-vehicle time
at the line's commercial speed. Zone centroids only start or end paths, never pass them on.
Intrazonal times are half the time to the nearest other zone (a common convention).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from cityos.twin.city import City

Mode = Literal["car", "transit", "bike", "walk"]
MODES: tuple[Mode, ...] = ("car", "transit", "bike", "walk")
WALK_KMH = 4.5  # walking speed [km/h] (synthetic; typical adult pace)
BIKE_KMH = 15.0  # cycling speed [km/h] (synthetic; typical urban cycling)
ACCESS_CAP_MIN = 10.0  # longest walk over a centroid connector [min] (synthetic)
ALIGHT_MIN = 1e-6  # stands for a zero-cost edge (csgraph drops explicit zeros)


def _min_graph(
    rows: NDArray[np.int64], cols: NDArray[np.int64], w: NDArray[np.float64], n: int
) -> csr_matrix:
    """Return a sparse graph keeping the smallest weight of parallel edges."""
    order = np.lexsort((w, cols, rows))
    rows, cols, w = rows[order], cols[order], w[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return csr_matrix((w[first], (rows[first], cols[first])), shape=(n, n))


def _road_edges(
    city: City, minutes: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], int]:
    """Return road edges with links into centroids redirected to per-zone sink nodes."""
    net = city.network
    n = len(net.node_id)
    zone_nodes = city.zone_nodes
    sink = np.full(n, -1, dtype=np.int64)
    sink[zone_nodes] = n + np.arange(len(zone_nodes))
    to = np.where(sink[net.link_to] >= 0, sink[net.link_to], net.link_to)
    return net.link_from.copy(), to, minutes, n + len(zone_nodes)


def _od(
    city: City,
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    w: NDArray[np.float64],
    n_total: int,
) -> NDArray[np.float64]:
    graph = _min_graph(rows, cols, w, n_total)
    n_nodes, n_zones = len(city.network.node_id), len(city.zone_nodes)
    dist = dijkstra(graph, directed=True, indices=city.zone_nodes)
    return np.asarray(dist[:, n_nodes : n_nodes + n_zones], dtype=np.float64)


def _fill_intrazonal(t: NDArray[np.float64]) -> NDArray[np.float64]:
    off = t.copy()
    np.fill_diagonal(off, np.inf)
    out = t.copy()
    np.fill_diagonal(out, 0.5 * off.min(axis=1))
    return out


def road_skim(city: City, speed_kmh: float | None = None) -> NDArray[np.float64]:
    """Return zone-to-zone road travel times [min]: free-flow car, or at ``speed_kmh``."""
    net = city.network
    minutes = (
        net.free_flow_time_min if speed_kmh is None else net.length_m / 1000.0 / speed_kmh * 60.0
    )
    rows, cols, w, n_total = _road_edges(city, minutes)
    return _fill_intrazonal(_od(city, rows, cols, w, n_total))


def distance_skim(city: City) -> NDArray[np.float64]:
    """Return zone-to-zone shortest road distances [km]."""
    rows, cols, w, n_total = _road_edges(city, city.network.length_m / 1000.0)
    return _fill_intrazonal(_od(city, rows, cols, w, n_total))


def transit_skim(city: City, peak: bool = True) -> NDArray[np.float64]:
    """Return zone-to-zone generalised transit times (walk + wait + in-vehicle) [min]."""
    net = city.network
    walk = net.length_m / 1000.0 / WALK_KMH * 60.0
    # Residents spread around their zone's stops: cap the centroid-connector walk.
    is_connector = np.array([c == "connector" for c in net.road_class])
    walk = np.where(is_connector, np.minimum(walk, ACCESS_CAP_MIN), walk)
    rows, cols, w, n_total = _road_edges(city, walk)
    link_len = {
        (int(a), int(b)): float(x)
        for a, b, x in zip(net.link_from, net.link_to, net.length_m, strict=True)
    }
    r_list, c_list, w_list = [rows], [cols], [w]
    for line in city.transit:
        k = len(line.nodes)
        ids = n_total + np.arange(k)  # one node per line position
        n_total += k
        pairs = zip(line.nodes[:-1], line.nodes[1:], strict=True)
        seg = np.array([link_len[(int(a), int(b))] for a, b in pairs])
        headway = line.headway_peak_min if peak else line.headway_offpeak_min
        stops = np.flatnonzero(line.is_stop)
        r_list += [ids[:-1], line.nodes[stops], ids[stops]]
        c_list += [ids[1:], ids[stops], line.nodes[stops]]
        w_list += [
            seg / 1000.0 / line.speed_kmh * 60.0,
            np.full(len(stops), headway / 2.0),
            np.full(len(stops), ALIGHT_MIN),
        ]
    t = _od(
        city,
        np.concatenate(r_list).astype(np.int64),
        np.concatenate(c_list).astype(np.int64),
        np.concatenate(w_list).astype(np.float64),
        n_total,
    )
    return _fill_intrazonal(t)


def skim(city: City, mode: Mode, peak: bool = True) -> NDArray[np.float64]:
    """Return the zone-to-zone travel-time matrix of ``mode`` [min]."""
    if mode == "car":
        return road_skim(city)
    if mode == "bike":
        return road_skim(city, BIKE_KMH)
    if mode == "walk":
        return road_skim(city, WALK_KMH)
    if mode == "transit":
        return transit_skim(city, peak)
    raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")


def all_skims(city: City, peak: bool = True) -> dict[Mode, NDArray[np.float64]]:
    """Return the travel-time matrices of every mode [min]."""
    return {m: skim(city, m, peak) for m in MODES}
