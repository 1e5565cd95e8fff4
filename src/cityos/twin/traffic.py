"""Mesoscopic traffic simulation of the twin: queue network loading with MSA iterations.

``assign(city, population, trips)`` loads the car trips onto the road network with the
spatial-queue model of ``_traffic_queue`` in steps of ``dt_min``, then iterates:

1. link travel times per 15-minute entry bin are taken from the loading;
2. shortest routes per (bin, origin, destination) are found on those times;
3. the relative gap, sum(used route cost - shortest cost) / sum(shortest cost) over car
   trips, measures the distance from a (quasi-dynamic) user equilibrium;
4. by the method of successive averages (Robbins & Monro 1951; Sheffi 1985, ch. 12), a
   share 1/(n+1) of the tours, drawn with the run's one seeded generator, re-choose their
   mode on congested car times and their cars take the current shortest routes;
5. the new car trips are loaded again.

Sheffi, Y. (1985) *Urban Transportation Networks*, Prentice-Hall, ch. 12.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cityos.twin._traffic_queue import Loading, QueueLinks, Routes, load_network
from cityos.twin._traffic_routes import (
    RouteBook,
    Trees,
    road_graph,
    route_choices,
    route_costs,
)
from cityos.twin.behaviour import Behaviour, load_behaviour
from cityos.twin.city import City
from cityos.twin.demand import CAR, DemandSkims, Trips, choose_modes, demand_skims, mode_attributes
from cityos.twin.population import Population

__all__ = [
    "Assignment",
    "IterationStats",
    "Loading",
    "QueueLinks",
    "Routes",
    "TrafficParams",
    "assign",
    "load_network",
    "queue_links",
]


@dataclass(frozen=True)
class TrafficParams:
    """Settings of the traffic simulation (checked on creation)."""

    seed: int = 42
    dt_min: float = 1.0  # simulation step [min]
    bin_min: float = 15.0  # route-choice and link-time bin [min]
    jam_spacing_m: float = 7.0  # road length a queued car takes [m]
    iterations: int = 4  # network loadings (MSA iterations)
    horizon_min: float = 1800.0  # simulated time from midnight [min]
    stuck_after_min: float | None = 10.0  # see load_network [min]
    rechoose_modes: bool = True  # MSA also on mode choice, not only on routes
    # Link capacity and storage x this [-]: the population's sample share when simulating a
    # sample (MATSim's flow/storage capacity factors), times any sensitivity factor.
    capacity_factor: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.dt_min <= 5:
            raise ValueError("dt_min must be in (0, 5] [min]")
        if not self.dt_min <= self.bin_min <= 60:
            raise ValueError("bin_min must be in [dt_min, 60] [min]")
        if not 3 <= self.jam_spacing_m <= 20:
            raise ValueError("jam_spacing_m must be in [3, 20] [m]")
        if not 1 <= self.iterations <= 50:
            raise ValueError("iterations must be in 1..50")
        if not 1440 <= self.horizon_min <= 2880:
            raise ValueError("horizon_min must be in [1440, 2880] [min]")
        if self.stuck_after_min is not None and self.stuck_after_min <= 0:
            raise ValueError("stuck_after_min must be positive [min] or None")
        if not 0.001 <= self.capacity_factor <= 100:
            raise ValueError("capacity_factor must be in [0.001, 100]")


@dataclass(frozen=True)
class IterationStats:
    """One MSA iteration: gap, demand and run time."""

    iteration: int
    relative_gap: float  # [-]
    car_trips: int
    mean_car_time_min: float  # loaded car trips [min]
    mode_shares: dict[str, float]
    runtime_s: float  # [s]


@dataclass(frozen=True)
class Assignment:
    """The outcome: final trips and loading, per-trip travel times, iteration history."""

    trips: Trips
    loading: Loading  # of the final iteration
    travel_time_min: NDArray[np.float64]  # per trip, by its mode [min]
    link_time_min: NDArray[np.float64]  # (bins, links) experienced link times [min]
    iterations: tuple[IterationStats, ...]
    runtime_s: float  # [s]


def queue_links(city: City, jam_spacing_m: float = 7.0, capacity_factor: float = 1.0) -> QueueLinks:
    """Return the queue-model inputs of the city's links; storage = length x lanes / jam.

    ``capacity_factor`` scales capacity and storage (e.g. 0.1 for a 10 % population sample).
    """
    net = city.network
    storage = np.floor(net.length_m * net.lanes / jam_spacing_m * capacity_factor)
    return QueueLinks(
        free_flow_min=net.free_flow_time_min,
        capacity_veh_h=net.capacity_veh_h * capacity_factor,
        storage_veh=np.maximum(storage, 1.0),
        length_m=net.length_m,
    )


def _link_times(
    loading: Loading, free_flow: NDArray[np.float64], n_bins: int
) -> NDArray[np.float64]:
    """Return mean traversal times per (entry bin, link), free-flow where none [min]."""
    s, c = loading.bin_time_sum[:n_bins], loading.bin_count[:n_bins]
    mean = np.divide(s, c, out=np.broadcast_to(free_flow, s.shape).copy(), where=c > 0)
    return np.maximum(mean, free_flow)


def assign(
    city: City,
    pop: Population,
    trips: Trips,
    params: TrafficParams | None = None,
    beh: Behaviour | None = None,
    skims: DemandSkims | None = None,
) -> Assignment:
    """Simulate the day's car traffic and iterate routes and modes by MSA."""
    t_start = time.perf_counter()
    params = params or TrafficParams()
    beh = beh or load_behaviour()
    skims = skims or demand_skims(city)
    rng = np.random.default_rng(params.seed)
    links = queue_links(city, params.jam_spacing_m, params.capacity_factor)
    graph = road_graph(city)
    n_bins = int(np.ceil(params.horizon_min / params.bin_min))
    n_z = len(city.zones)
    link_time = np.tile(links.free_flow_min, (n_bins, 1))
    depart = trips.departure_min + rng.random(trips.n)  # spread within the minute [min]
    t_bin = (trips.departure_min // params.bin_min).astype(np.int64)
    book = RouteBook()
    route = np.full(trips.n, -1, dtype=np.int64)
    loaded = (trips.mode == CAR) & (trips.origin != trips.destination)

    trees: Trees = {}  # shortest-path trees of the current link times, shared by both calls

    def best_routes(mask: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        need = np.zeros((n_bins, n_z, n_z), dtype=bool)
        need[t_bin[mask], trips.origin[mask], trips.destination[mask]] = True
        return route_choices(graph, link_time, need, book, trees)

    rid, best_cost = best_routes(loaded)
    route[loaded] = rid[t_bin[loaded], trips.origin[loaded], trips.destination[loaded]]
    history: list[IterationStats] = []
    car_time = np.full(trips.n, np.nan)
    loading: Loading | None = None
    for it in range(1, params.iterations + 1):
        t_it = time.perf_counter()
        idx = np.flatnonzero(loaded)
        routes = book.csr()
        loading = load_network(
            links,
            routes,
            route[idx],
            depart[idx],
            dt_min=params.dt_min,
            horizon_min=params.horizon_min,
            stuck_after_min=params.stuck_after_min,
            bin_min=params.bin_min,
        )
        car_time[:] = np.nan
        car_time[idx] = loading.arrival_min - depart[idx]
        link_time = _link_times(loading, links.free_flow_min, n_bins)
        trees.clear()  # new link times: the trees of the last ones are no longer needed
        rid, best_cost = best_routes(loaded)
        used = route_costs(routes, route[idx], t_bin[idx], link_time)
        best = best_cost[t_bin[idx], trips.origin[idx], trips.destination[idx]]
        gap = float((used.sum() - best.sum()) / max(best.sum(), 1e-9))
        history.append(
            IterationStats(
                iteration=it,
                relative_gap=gap,
                car_trips=len(idx),
                mean_car_time_min=float(np.nanmean(car_time[idx])) if len(idx) else 0.0,
                mode_shares=trips.mode_shares(),
                runtime_s=time.perf_counter() - t_it,
            )
        )
        if it == params.iterations:
            break
        n_tours = int(trips.tour[-1]) + 1
        switch = rng.random(n_tours) < 1.0 / (it + 1)
        if params.rechoose_modes:
            congested = best_cost[t_bin, trips.origin, trips.destination]
            congested = np.where(
                trips.origin == trips.destination,
                skims.car[trips.origin, trips.destination],
                congested,
            )
            trips = trips.with_modes(choose_modes(trips, pop, skims, beh, rng, congested, switch))
        loaded = (trips.mode == CAR) & (trips.origin != trips.destination)
        moved = loaded & (switch[trips.tour] | (route < 0))
        if moved.any():
            rid, _ = best_routes(moved)
            route[moved] = rid[t_bin[moved], trips.origin[moved], trips.destination[moved]]
        route[~loaded] = -1
    assert loading is not None
    times, _, _ = mode_attributes(trips, pop.age, skims, beh)
    travel = times[np.arange(trips.n), trips.mode]
    travel = np.where(np.isfinite(car_time), car_time, travel)
    return Assignment(
        trips=trips,
        loading=loading,
        travel_time_min=travel,
        link_time_min=link_time,
        iterations=tuple(history),
        runtime_s=time.perf_counter() - t_start,
    )
