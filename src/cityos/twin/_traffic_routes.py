"""Zone-to-zone car routes on time-binned link costs (Dijkstra 1959, via scipy).

Links into a zone centroid are redirected to a per-zone sink node, so centroids start and
end routes but never carry through traffic (as in ``cityos.twin.skims``). Costs are
constant within a departure-time bin ("quasi-dynamic" routing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from cityos.twin._traffic_queue import Routes
from cityos.twin.city import City

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class RoadGraph:
    """The road network as a routing graph with zone sinks."""

    n_nodes: int  # road nodes + zone sinks
    link_tail: IntArray  # graph node each link leaves
    link_head: IntArray  # graph node each link enters (a sink for centroid links)
    zone_source: IntArray  # graph node routes from zone z start at
    zone_sink: IntArray  # graph node routes to zone z end at


@dataclass
class RouteBook:
    """Distinct routes (link tuples) with stable ids, growing over iterations."""

    ids: dict[tuple[int, ...], int] = field(default_factory=dict)
    paths: list[tuple[int, ...]] = field(default_factory=list)

    def add(self, path: tuple[int, ...]) -> int:
        """Return the id of ``path``, adding it when new."""
        rid = self.ids.get(path)
        if rid is None:
            rid = self.ids[path] = len(self.paths)
            self.paths.append(path)
        return rid

    def csr(self) -> Routes:
        """Return all routes in CSR form."""
        length = np.array([len(p) for p in self.paths], dtype=np.int64)
        start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
        flat = [x for p in self.paths for x in p]
        return Routes(start=start, length=length, links=np.array(flat, dtype=np.int64))


def road_graph(city: City) -> RoadGraph:
    """Return the routing graph of ``city``."""
    net = city.network
    n = len(net.node_id)
    zn = city.zone_nodes
    sink = np.full(n, -1, dtype=np.int64)
    sink[zn] = n + np.arange(len(zn))
    head = np.where(sink[net.link_to] >= 0, sink[net.link_to], net.link_to)
    return RoadGraph(
        n_nodes=n + len(zn),
        link_tail=net.link_from.astype(np.int64),
        link_head=head.astype(np.int64),
        zone_source=zn.astype(np.int64),
        zone_sink=(n + np.arange(len(zn))).astype(np.int64),
    )


def _tree(graph: RoadGraph, cost: FloatArray) -> tuple[FloatArray, IntArray, IntArray]:
    """Return (zone-to-zone costs, predecessor nodes, best link per node pair)."""
    order = np.lexsort((cost, graph.link_head, graph.link_tail))
    tail, head = graph.link_tail[order], graph.link_head[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    keep = order[first]  # the cheapest of parallel links
    n = graph.n_nodes
    mat = csr_matrix((cost[keep], (graph.link_tail[keep], graph.link_head[keep])), shape=(n, n))
    dist, pred = dijkstra(mat, directed=True, indices=graph.zone_source, return_predecessors=True)
    best = np.full((n, n), -1, dtype=np.int64)
    best[graph.link_tail[keep], graph.link_head[keep]] = keep
    return dist[:, graph.zone_sink], pred.astype(np.int64), best


def _paths_from(
    graph: RoadGraph, pred_row: IntArray, best: IntArray, origin: int, dests: IntArray
) -> list[tuple[int, ...]]:
    """Return the link sequence from zone ``origin`` to each zone in ``dests``."""
    node = graph.zone_sink[dests].copy()
    src = graph.zone_source[origin]
    steps: list[IntArray] = []
    active = node != src
    while active.any():
        prev = np.where(active, pred_row[node], node)
        if np.any(prev[active] < 0):
            raise ValueError(f"zone {origin} cannot reach every destination by road")
        steps.append(np.where(active, best[prev, node], -1))
        node = prev
        active = node != src
    if not steps:
        return [() for _ in dests]
    mat = np.stack(steps[::-1], axis=1)
    return [tuple(row[row >= 0].tolist()) for row in mat]


Trees = dict[bytes, tuple[FloatArray, IntArray, IntArray, dict[tuple[int, int], int]]]


def route_choices(
    graph: RoadGraph,
    link_time: FloatArray,
    need: NDArray[np.bool_],
    book: RouteBook,
    cache: Trees | None = None,
) -> tuple[IntArray, FloatArray]:
    """Return the shortest route id and cost [min] per (bin, origin, destination).

    ``link_time`` [min] is (bins, links); routes are found only where ``need`` is true
    (route id -1 elsewhere); costs are returned for every pair. Bins with identical link
    times share one shortest-path tree. ``cache`` (keyed by a bin's link times) keeps the
    trees and the paths already traced for the next call on the same link times.
    """
    n_bins, _n_z = need.shape[0], need.shape[1]
    rid = np.full(need.shape, -1, dtype=np.int64)
    cost = np.zeros(need.shape)
    cache = {} if cache is None else cache
    for b in range(n_bins):
        key = link_time[b].tobytes()
        if key not in cache:
            dist, pred, best = _tree(graph, link_time[b])
            cache[key] = (dist, pred, best, {})
        dist, pred, best, memo = cache[key]
        cost[b] = dist
        for o in np.flatnonzero(need[b].any(axis=1)):
            dests = np.flatnonzero(need[b, o])
            todo = np.array([d for d in dests if (o, d) not in memo], dtype=np.int64)
            if len(todo):
                for d, path in zip(
                    todo, _paths_from(graph, pred[o], best, int(o), todo), strict=True
                ):
                    memo[(int(o), int(d))] = book.add(path)
            rid[b, o, dests] = [memo[(int(o), int(d))] for d in dests]
    return rid, cost


def route_costs(
    routes: Routes, route: IntArray, bins: IntArray, link_time: FloatArray
) -> FloatArray:
    """Return each (route, bin) pair's cost [min]: the sum of its links' times in that bin."""
    if not len(route):
        return np.zeros(0)
    length = routes.length[route]
    seg = np.repeat(np.arange(len(route)), length)
    offset = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    links = routes.links[np.repeat(routes.start[route], length) + offset]
    w = link_time[bins[seg], links]
    return np.bincount(seg, weights=w, minlength=len(route)).astype(np.float64)
