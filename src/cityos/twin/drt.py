"""Demand-responsive shared autonomous shuttles: requests, batched dispatch, rebalancing.

``simulate_drt(requests, times, distances, params)`` runs one day of a shuttle fleet on
zone-to-zone travel times (the car skim, optionally one matrix per time bin from the traffic
run) with one seeded ``numpy.random.Generator``:

1. Requests (the demand's ``drt`` trips) arrive in time. The passenger walks to a virtual
   stop inside the origin zone (stops on a square grid of ``stop_spacing_m``; walk =
   Manhattan distance to the nearest stop at ``walk_kmh``), and from one to the destination.
2. Every ``batch_s`` seconds the pending requests go to the dispatch policy (default: cheapest
   insertion, ``_drt_policies``) with a latest pick-up ``ready + max_wait_min`` and a maximum
   ride ``max_detour * direct + detour_slack_min``. A request no vehicle can take within these
   limits is rejected at once and counted.
3. Every ``rebalance_every_min`` idle vehicles move towards zones with expected demand
   (``_drt_rebalance``).

Outputs per request: wait, in-vehicle time, detour factor, walk, served; per vehicle: km
driven empty and occupied, mean occupancy per time bin; the legs every vehicle drove (for
trajectories, ``_drt_trajectories``).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cityos.twin._drt_fleet import DROPOFF, MOVE, PICKUP, Fleet
from cityos.twin._drt_policies import (
    CheapestInsertion,
    DispatchPolicy,
    RequestBatch,
    cheapest_insertion,
    idle_assignment,
)
from cityos.twin._drt_rebalance import proportional_targets, rebalance_moves
from cityos.twin.demand import DRT, Trips
from cityos.twin.skims import WALK_KMH

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "CheapestInsertion",
    "DispatchPolicy",
    "DrtParams",
    "DrtRequests",
    "DrtResult",
    "Fleet",
    "RequestBatch",
    "cheapest_insertion",
    "drt_requests",
    "expected_demand",
    "idle_assignment",
    "proportional_targets",
    "rebalance_moves",
    "simulate_drt",
]


@dataclass(frozen=True)
class DrtParams:
    """Settings of the shuttle fleet and its dispatcher (checked on creation)."""

    seed: int = 42
    fleet_size: int = 2000  # vehicles
    capacity: int = 6  # seats [passengers]
    batch_s: float = 30.0  # dispatch interval [s]
    max_wait_min: float = 15.0  # latest pick-up after the passenger is ready [min]
    max_detour: float = 1.5  # max in-vehicle time / direct time [-]
    detour_slack_min: float = 2.0  # added to the max ride (stops' dwell) [min]
    dwell_min: float = 0.5  # time at a stop [min]
    stop_spacing_m: float = 300.0  # virtual-stop grid [m]
    walk_kmh: float = WALK_KMH  # [km/h]
    candidates: int = 24  # vehicles examined per request [-]
    rebalance_every_min: float = 15.0  # 0 switches rebalancing off [min]
    rebalance_horizon_min: float = 60.0  # expected demand looked ahead [min]
    max_rebalance_min: float = 20.0  # longest rebalancing move [min]
    time_bin_min: float = 60.0  # width of a travel-time matrix's bin [min]
    occupancy_bin_min: float = 15.0  # [min]
    max_stops: int = 0  # plan length per vehicle; 0 = 2 x capacity + 2

    def __post_init__(self) -> None:
        checks = (
            (1 <= self.fleet_size <= 100_000, "fleet_size must be in 1..100000"),
            (4 <= self.capacity <= 8, "capacity must be in 4..8 seats"),
            (1 <= self.batch_s <= 600, "batch_s must be in [1, 600] s"),
            (1 <= self.max_wait_min <= 60, "max_wait_min must be in [1, 60] min"),
            (1.0 <= self.max_detour <= 4.0, "max_detour must be in [1, 4]"),
            (0 <= self.detour_slack_min <= 30, "detour_slack_min must be in [0, 30] min"),
            (0 <= self.dwell_min <= 5, "dwell_min must be in [0, 5] min"),
            (0 <= self.stop_spacing_m <= 2000, "stop_spacing_m must be in [0, 2000] m"),
            (1 <= self.walk_kmh <= 8, "walk_kmh must be in [1, 8] km/h"),
            (1 <= self.candidates <= 1000, "candidates must be in 1..1000"),
            (0 <= self.rebalance_every_min <= 240, "rebalance_every_min in [0, 240] min"),
            (1 <= self.rebalance_horizon_min <= 240, "rebalance_horizon_min in [1, 240] min"),
            (0 <= self.max_rebalance_min <= 120, "max_rebalance_min in [0, 120] min"),
            (1 <= self.time_bin_min <= 1440, "time_bin_min must be in [1, 1440] min"),
            (1 <= self.occupancy_bin_min <= 240, "occupancy_bin_min in [1, 240] min"),
            (self.max_stops == 0 or self.max_stops >= 2, "max_stops must be 0 or >= 2"),
        )
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    @property
    def plan_stops(self) -> int:
        """Return the number of planned stops a vehicle can hold."""
        return self.max_stops or 2 * self.capacity + 2


@dataclass(frozen=True)
class DrtRequests:
    """Shuttle requests as arrays, in time order."""

    time_min: FloatArray  # booking = departure from home/activity [min]
    origin: IntArray  # zone index
    destination: IntArray  # zone index
    walk_access_min: FloatArray  # to the pick-up point [min]
    walk_egress_min: FloatArray  # from the drop-off point [min]
    trip: IntArray  # index into the trips table, -1 if none
    n: int = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.time_min)
        for name in ("origin", "destination", "walk_access_min", "walk_egress_min", "trip"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"requests.{name} has the wrong length")
        if n and np.any(np.diff(self.time_min) < 0):
            raise ValueError("requests must be in time order")
        object.__setattr__(self, "n", n)


def _walk_min(n: int, params: DrtParams, rng: np.random.Generator) -> FloatArray:
    """Return walks to the nearest grid stop: Manhattan distance / walking speed [min]."""
    half = params.stop_spacing_m / 2.0
    dx = rng.uniform(-half, half, n)
    dy = rng.uniform(-half, half, n)
    return (np.abs(dx) + np.abs(dy)) / 1000.0 / params.walk_kmh * 60.0


def drt_requests(trips: Trips, params: DrtParams | None = None) -> DrtRequests:
    """Return the shuttle requests of the ``drt`` trips, with walks drawn from the seed."""
    params = params or DrtParams()
    rng = np.random.default_rng(params.seed)
    idx = np.flatnonzero(trips.mode == DRT)
    t = trips.departure_min[idx] + rng.random(len(idx))  # spread within the minute [min]
    order = np.argsort(t, kind="stable")
    idx, t = idx[order], t[order]
    return DrtRequests(
        time_min=t.astype(np.float64),
        origin=trips.origin[idx].astype(np.int64),
        destination=trips.destination[idx].astype(np.int64),
        walk_access_min=_walk_min(len(idx), params, rng),
        walk_egress_min=_walk_min(len(idx), params, rng),
        trip=idx.astype(np.int64),
    )


@dataclass(frozen=True)
class DrtResult:
    """One simulated day of the shuttle fleet."""

    served: NDArray[np.bool_]  # per request
    vehicle: IntArray  # per request, -1 if rejected
    wait_min: FloatArray  # pick-up - ready, NaN if rejected [min]
    in_vehicle_min: FloatArray  # drop-off - pick-up, NaN if rejected [min]
    direct_min: FloatArray  # direct car time [min]
    detour: FloatArray  # in-vehicle / direct [-]
    walk_min: FloatArray  # access + egress [min]
    km_empty: FloatArray  # per vehicle [km]
    km_occupied: FloatArray  # per vehicle [km]
    km_rebalancing: FloatArray  # per vehicle, part of km_empty [km]
    max_load: IntArray  # per vehicle, most passengers on board at once
    occupancy: NDArray[np.float32]  # (bins, vehicles) mean passengers on board [-]
    occupancy_bin_min: float  # [min]
    runtime_s: float  # [s]
    # The legs driven (vehicle, from_zone, to_zone, load, to_kind, depart_min, arrive_min):
    # logged anyway for the km and occupancy above; live mode turns them into trajectories.
    legs: dict[str, NDArray] = field(default_factory=dict, repr=False)
    start_zone: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def rejection_rate(self) -> float:
        """Return the share of requests rejected [-]."""
        return float(1.0 - self.served.mean()) if len(self.served) else 0.0

    @property
    def mean_wait_min(self) -> float:
        """Return the mean wait of served requests [min]."""
        return float(np.nanmean(self.wait_min)) if self.served.any() else 0.0

    @property
    def p95_wait_min(self) -> float:
        """Return the 95th percentile wait of served requests [min]."""
        return float(np.nanpercentile(self.wait_min, 95)) if self.served.any() else 0.0

    @property
    def fleet_km(self) -> float:
        """Return the fleet's total distance [km]."""
        return float(self.km_empty.sum() + self.km_occupied.sum())

    def summary(self) -> dict[str, float]:
        """Return the headline figures."""
        served = self.served
        return {
            "requests": float(len(served)),
            "served": float(served.sum()),
            "rejection_rate": self.rejection_rate,
            "mean_wait_min": self.mean_wait_min,
            "p95_wait_min": self.p95_wait_min,
            "mean_in_vehicle_min": float(np.nanmean(self.in_vehicle_min)) if served.any() else 0.0,
            "mean_detour": float(np.nanmean(self.detour)) if served.any() else 0.0,
            "fleet_km": self.fleet_km,
            "empty_km_share": float(self.km_empty.sum() / max(self.fleet_km, 1e-9)),
            "runtime_s": self.runtime_s,
        }


def expected_demand(requests: DrtRequests, n_zones: int, bin_min: float) -> FloatArray:
    """Return requests per (time bin, origin zone) of the day: the planner's demand profile."""
    n_bins = int(np.ceil(max(float(requests.time_min.max(initial=0.0)), 1.0) / bin_min)) + 1
    b = (requests.time_min // bin_min).astype(np.int64)
    out = np.zeros((n_bins, n_zones))
    np.add.at(out, (b, requests.origin), 1.0)
    return out


def _times_at(times: FloatArray, now: float, bin_min: float) -> FloatArray:
    if times.ndim == 2:
        return times
    return times[min(int(now // bin_min), times.shape[0] - 1)]


def _rebalance(
    fleet: Fleet, now: float, times: FloatArray, demand: FloatArray, params: DrtParams
) -> None:
    idle = np.flatnonzero((fleet.n_stops == 0) & (fleet.anchor_dep <= now))
    if len(idle) == 0:
        return
    lo = int(now // params.occupancy_bin_min)
    hi = lo + max(1, int(round(params.rebalance_horizon_min / params.occupancy_bin_min)))
    expected = demand[lo:hi].sum(axis=0)
    pos, to = rebalance_moves(fleet.anchor_zone[idle], expected, times, params.max_rebalance_min)
    for p, z in zip(pos, to, strict=True):
        fleet.append_move(int(idle[p]), int(z), now, times)


def _start_zones(n: int, share: FloatArray, rng: np.random.Generator) -> IntArray:
    """Return start zones: proportional to the day's demand, in a shuffled order."""
    zones = np.repeat(np.arange(len(share)), proportional_targets(n, share))
    return rng.permutation(zones).astype(np.int64)


def simulate_drt(
    requests: DrtRequests,
    times: FloatArray,
    distances: FloatArray,
    params: DrtParams | None = None,
    policy: DispatchPolicy = cheapest_insertion,
    demand: FloatArray | None = None,
    start_zones: IntArray | None = None,
) -> DrtResult:
    """Simulate a day of shuttle service; ``times`` [min] is (zones, zones) or (bins, z, z).

    ``demand`` is the expected requests per (occupancy bin, zone) for rebalancing and the
    start positions (default: the day's own profile); ``start_zones`` overrides the latter.
    """
    t_start = time.perf_counter()
    params = params or DrtParams()
    rng = np.random.default_rng(params.seed)
    n_z = distances.shape[0]
    if times.shape[-2:] != (n_z, n_z):
        raise ValueError("times and distances must cover the same zones")
    demand = (
        demand if demand is not None else expected_demand(requests, n_z, params.occupancy_bin_min)
    )
    if start_zones is None:
        start_zones = _start_zones(params.fleet_size, demand.sum(axis=0) + 1e-9, rng)
    elif len(start_zones) != params.fleet_size:
        raise ValueError("start_zones needs one zone per vehicle")
    start_zones = np.asarray(start_zones, dtype=np.int64)
    fleet = Fleet(
        start_zones,
        params.capacity,
        params.dwell_min,
        params.plan_stops,
    )
    batch_min = params.batch_s / 60.0
    ready = requests.time_min + requests.walk_access_min
    direct = np.empty(requests.n)
    vehicle = np.full(requests.n, -1, dtype=np.int64)
    batch_of = np.ceil(requests.time_min / batch_min - 1e-12).astype(np.int64)
    new_batch = np.r_[True, batch_of[1:] != batch_of[:-1]] if requests.n else np.zeros(0, bool)
    bounds = np.r_[np.flatnonzero(new_batch), requests.n].astype(np.int64)
    next_rebalance = params.rebalance_every_min if params.rebalance_every_min > 0 else np.inf
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        now = float(batch_of[s]) * batch_min
        while next_rebalance <= now:
            fleet.advance(next_rebalance)
            t_rb = _times_at(times, next_rebalance, params.time_bin_min)
            _rebalance(fleet, next_rebalance, t_rb, demand, params)
            next_rebalance += params.rebalance_every_min
        fleet.advance(now)
        t_now = _times_at(times, now, params.time_bin_min)
        sl = slice(int(s), int(e))
        o, d = requests.origin[sl], requests.destination[sl]
        direct[sl] = t_now[o, d]
        batch = RequestBatch(
            request=np.arange(s, e, dtype=np.int64),
            origin=o,
            destination=d,
            ready_min=ready[sl],
            latest_pickup_min=ready[sl] + params.max_wait_min,
            max_ride_min=params.max_detour * direct[sl] + params.detour_slack_min,
        )
        vehicle[sl] = policy(fleet, batch, now, t_now)
    fleet.advance(np.inf)
    result = _result(requests, fleet, vehicle, ready, direct, distances, params, t_start)
    return dataclasses.replace(result, start_zone=start_zones.copy())


def _result(
    requests: DrtRequests,
    fleet: Fleet,
    vehicle: IntArray,
    ready: FloatArray,
    direct: FloatArray,
    distances: FloatArray,
    params: DrtParams,
    t_start: float,
) -> DrtResult:
    legs, events = fleet.logs()
    pickup = np.full(requests.n, np.nan)
    dropoff = np.full(requests.n, np.nan)
    is_p, is_d = events["kind"] == PICKUP, events["kind"] == DROPOFF
    pickup[events["request"][is_p]] = events["time_min"][is_p]
    dropoff[events["request"][is_d]] = events["time_min"][is_d]
    served = vehicle >= 0
    ivt = dropoff - pickup
    km = distances[legs["from_zone"], legs["to_zone"]]
    occupied = legs["load"] > 0
    n_v = fleet.size
    veh = legs["vehicle"]
    km_occ = np.bincount(veh[occupied], km[occupied], minlength=n_v).astype(np.float64)
    km_empty = np.bincount(veh[~occupied], km[~occupied], minlength=n_v).astype(np.float64)
    return DrtResult(
        served=served,
        vehicle=vehicle,
        wait_min=np.where(served, pickup - ready, np.nan),
        in_vehicle_min=np.where(served, ivt, np.nan),
        direct_min=direct,
        detour=np.where(served, ivt / np.maximum(direct, 1e-9), np.nan),
        walk_min=requests.walk_access_min + requests.walk_egress_min,
        km_empty=km_empty,
        km_occupied=km_occ,
        km_rebalancing=_rebalancing_km(legs, km, n_v),
        max_load=_max_load(legs, n_v),
        occupancy=_occupancy(legs, n_v, params.occupancy_bin_min),
        occupancy_bin_min=params.occupancy_bin_min,
        runtime_s=time.perf_counter() - t_start,
        legs=legs,
    )


def _rebalancing_km(legs: dict[str, NDArray], km: FloatArray, n_v: int) -> FloatArray:
    move = legs["to_kind"] == MOVE
    return np.bincount(legs["vehicle"][move], km[move], minlength=n_v).astype(np.float64)


def _max_load(legs: dict[str, NDArray], n_v: int) -> IntArray:
    out = np.zeros(n_v, dtype=np.int64)
    np.maximum.at(out, legs["vehicle"], legs["load"])
    return out


def _occupancy(legs: dict[str, NDArray], n_v: int, bin_min: float) -> NDArray[np.float32]:
    """Return mean passengers on board per (bin, vehicle), from the legs driven [-]."""
    per_bin = max(1, round(bin_min))
    end = float(legs["arrive_min"].max(initial=0.0))
    n_bins = int(np.ceil(max(end, 1.0) / per_bin)) + 1
    minutes = n_bins * per_bin
    grid = np.zeros((minutes + 1, n_v), dtype=np.float32)
    dep = np.clip(np.floor(legs["depart_min"]).astype(np.int64), 0, minutes)
    arr = np.clip(np.floor(legs["arrive_min"]).astype(np.int64), 0, minutes)
    load = legs["load"].astype(np.float32)
    np.add.at(grid, (dep, legs["vehicle"]), load)
    np.add.at(grid, (arr, legs["vehicle"]), -load)
    on_board = np.cumsum(grid[:minutes], axis=0)
    return on_board.reshape(n_bins, per_bin, n_v).mean(axis=1)
