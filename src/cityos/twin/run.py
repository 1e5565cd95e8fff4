"""The scenario orchestrator: population -> demand -> traffic (MSA) -> DRT -> parking -> CO2.

``run_scenario(scenario)`` simulates one weekday of Sejong under a scenario and returns the
key performance indicators (KPIs) with the series the report plots. Every stage draws from
generators seeded by ``scenario.simulation.seed``, so the same scenario and seed give the
same KPIs (only ``runtime_s`` differs).

Stages:

1. **City**: the shipped model; BRT and bus headways divided by the frequency factors, BRT
   commercial speed multiplied by its factor.
2. **Population**: the synthetic residents at ``scale``; household cars cut (or raised) to
   ``cars.ownership_factor`` of today's by removing cars drawn at random (a household with two
   cars is twice as likely to lose one), then car access re-derived (adults in household
   order while the household has cars, as in ``population``).
3. **Demand**: activity chains and tour-based mode choice with the scenario's prices: shuttle
   fare and expected wait, transit fares, parking and fuel.
4. **Traffic**: queue network loading with MSA on routes and modes; link capacity and storage
   x ``scale`` x ``road_capacity_factor`` (a sample needs a sampled road, MATSim style).
5. **Shuttles**: the final ``drt`` trips dispatched to the fleet (``fleet_size`` x scale) on
   hourly congested zone-to-zone times from the last loading. Rejected requests fall back
   to transit (time and fare of the transit skim).
6. **Parking**: accumulation of household cars per zone and minute; spaces needed.
7. **Emissions**: car-km (road distance of car trips), shuttle-km (simulated) and bus-km
   (timetable x scale) to CO2.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cityos.twin._traffic_routes import _tree, road_graph
from cityos.twin.behaviour import Behaviour, load_behaviour
from cityos.twin.city import City, TransitLine, load_city
from cityos.twin.demand import (
    CAR,
    DRT,
    TRANSIT,
    WORK,
    DemandSkims,
    Trips,
    build_trips,
    demand_skims,
    mode_attributes,
)
from cityos.twin.drt import DrtParams, DrtResult, drt_requests, simulate_drt
from cityos.twin.emissions import road_emissions
from cityos.twin.parking import hourly_peak, illegal_parking, parked_cars, parking_supply
from cityos.twin.parking import parking_spaces_needed as spaces_needed
from cityos.twin.population import Population, PopulationParams, build_population
from cityos.twin.scenario import Scenario
from cityos.twin.traffic import TrafficParams, assign

FloatArray = NDArray[np.float64]
Progress = Callable[[str, float], None]  # (stage label, share of the run done [0, 1])

KPI_MODES = ("car", "shared", "transit", "bike", "walk")  # MODE_NAMES with drt -> shared
# Service day of the timetable (assumed): 05:30-23:30, four peak hours (07-09, 17-19).
SERVICE_HOURS, PEAK_HOURS = 18.0, 4.0
NO_SHUTTLE_ASC = -10.0  # asc that takes the shuttle out of mode choice when there is none
# Share of the run's time each stage takes, for the progress bar (measured, approximate).
_STAGES = (
    ("population", 0.02),
    ("demand", 0.05),
    ("traffic", 0.60),
    ("shuttles", 0.25),
    ("parking", 0.04),
    ("emissions", 0.04),
)

__all__ = [
    "KPI_MODES",
    "REQUIRED_KPIS",
    "RunResult",
    "apply_transit",
    "bus_vehicle_km",
    "congested_skims",
    "run_scenario",
    "scenario_behaviour",
    "with_car_ownership",
]

REQUIRED_KPIS = (
    "population",
    "trips",
    "private_cars",
    "shared_vehicles",
    "vehicle_km",
    "mean_travel_time_min",
    "p95_travel_time_min",
    "mean_commute_time_min",
    "mean_cost_krw_per_trip",
    "mode_share",
    "congestion_delay_veh_h",
    "parking_spaces_needed",
    "drt_mean_wait_min",
    "drt_p95_wait_min",
    "co2_t",
    "runtime_s",
)


@dataclass(frozen=True)
class RunResult:
    """KPIs of one scenario run and the series its report plots."""

    scenario: Scenario
    kpis: dict[str, Any]
    trips_per_hour: NDArray[np.int64]  # (24, 5) trips by departure hour and KPI_MODES
    cars_on_road: NDArray[np.int64]  # (minutes,) vehicles on links at the end of each minute
    link_peak_ratio: FloatArray  # (links,) 07-09 h mean link time / free-flow time [-]
    drt_wait_min: FloatArray  # waits of served shuttle requests [min]
    iterations: tuple[dict[str, float], ...]  # MSA history


def apply_transit(city: City, frequency_brt: float, frequency_bus: float, speed_brt: float) -> City:
    """Return ``city`` with headways divided by the frequency factors and BRT sped up."""

    def line(t: TransitLine) -> TransitLine:
        f = frequency_brt if t.mode == "brt" else frequency_bus
        return dataclasses.replace(
            t,
            headway_peak_min=t.headway_peak_min / f,
            headway_offpeak_min=t.headway_offpeak_min / f,
            speed_kmh=min(t.speed_kmh * (speed_brt if t.mode == "brt" else 1.0), 100.0),
        )

    return dataclasses.replace(city, transit=tuple(line(t) for t in city.transit))


def with_car_ownership(
    pop: Population, factor: float, rng: np.random.Generator, licence_age: int = 18
) -> Population:
    """Return ``pop`` with household cars scaled to ``factor`` of today's (random cars removed).

    Cars are removed one car at a time at random, so a household loses at most what it has;
    a factor above 1 adds cars to random households of licence-age adults (at most one
    more car than adults). Car access then goes to adults in household order.
    """
    cars = pop.household_cars.astype(np.int64).copy()
    total = int(cars.sum())
    target = int(round(total * factor))
    if target < total:
        owner = np.repeat(np.arange(len(cars)), cars)
        drop = rng.choice(len(owner), size=total - target, replace=False)
        np.subtract.at(cars, owner[drop], 1)
    elif target > total:
        adult = (pop.age >= licence_age).astype(np.int64)
        adults = np.bincount(pop.person_household, weights=adult, minlength=len(cars))
        room = np.maximum(adults.astype(np.int64) - cars, 0)
        slot = np.repeat(np.arange(len(cars)), room)
        add = rng.choice(len(slot), size=min(target - total, len(slot)), replace=False)
        np.add.at(cars, slot[add], 1)
    adult = (pop.age >= licence_age).astype(np.int64)
    csum = np.cumsum(adult)
    first = pop.household_first
    before = csum[first] - adult[first]
    ordinal = csum - 1 - before[pop.person_household]
    access = (adult == 1) & (ordinal < cars[pop.person_household])
    return dataclasses.replace(pop, household_cars=cars.astype(np.int8), car_access=access)


def scenario_behaviour(scenario: Scenario, beh: Behaviour | None = None) -> Behaviour:
    """Return the behaviour parameters with the scenario's prices and shuttle promise."""
    beh = beh or load_behaviour()
    m = beh.mode
    s, t, p = scenario.shuttles, scenario.transit, scenario.pricing
    fares = dict(m.transit_fare_krw, adult=t.adult_fare_krw, child=t.child_fare_krw)
    asc = dict(m.asc)
    if s.fleet_size == 0:
        asc["drt"] = NO_SHUTTLE_ASC
    mode = dataclasses.replace(
        m,
        drt_fare_krw=s.fare_krw,
        drt_wait_min=s.expected_wait_min,
        transit_fare_krw=fares,
        parking_krw={k: v * p.parking_factor for k, v in m.parking_krw.items()},
        fuel_krw_per_km=p.fuel_krw_per_km,
        asc=asc,
    )
    return dataclasses.replace(beh, mode=mode)


def congested_skims(
    city: City, link_time_min: FloatArray, free_flow: FloatArray, bin_min: float = 15.0
) -> FloatArray:
    """Return hourly zone-to-zone car times (24, zones, zones) from binned link times [min].

    Each hour's link times are the mean of its bins; intrazonal times stay free-flow.
    """
    graph = road_graph(city)
    per_hour = max(1, int(round(60 / bin_min)))
    out = np.empty((24, *free_flow.shape))
    diag = np.diag(free_flow)
    for h in range(24):
        lt = link_time_min[h * per_hour : (h + 1) * per_hour].mean(axis=0)
        dist = _tree(graph, lt)[0]
        np.fill_diagonal(dist, diag)
        out[h] = dist
    return out


def bus_vehicle_km(city: City) -> dict[str, float]:
    """Return the timetable's bus-km per weekday, BRT and other buses [km].

    Departures per direction = peak hours x 60 / peak headway + off-peak hours x 60 /
    off-peak headway over the assumed service day (``SERVICE_HOURS``, ``PEAK_HOURS``).
    """
    net = city.network
    length = {
        (int(a), int(b)): float(x) / 1000.0
        for a, b, x in zip(net.link_from, net.link_to, net.length_m, strict=True)
    }
    km = {"brt": 0.0, "bus": 0.0}
    for t in city.transit:
        path = sum(length[(int(a), int(b))] for a, b in zip(t.nodes[:-1], t.nodes[1:], strict=True))
        runs = PEAK_HOURS * 60 / t.headway_peak_min + (SERVICE_HOURS - PEAK_HOURS) * 60 / (
            t.headway_offpeak_min
        )
        km[t.mode] += path * runs
    return km


def _drt(
    trips: Trips, scenario: Scenario, times: FloatArray, skims: DemandSkims
) -> tuple[DrtResult | None, NDArray[np.int64], int]:
    """Run the shuttle fleet on the ``drt`` trips; return (result, trip per request, fleet)."""
    s, sim = scenario.shuttles, scenario.simulation
    fleet = max(1, int(round(s.fleet_size * sim.scale))) if s.fleet_size else 0
    if fleet == 0 or not np.any(trips.mode == DRT):
        return None, np.zeros(0, dtype=np.int64), fleet
    params = DrtParams(
        seed=sim.seed,
        fleet_size=fleet,
        capacity=s.capacity,
        max_wait_min=s.max_wait_min,
        max_detour=s.max_detour,
    )
    req = drt_requests(trips, params)
    return simulate_drt(req, times, skims.distance_km, params), req.trip, fleet


def _pct(x: FloatArray, q: float) -> float:
    return float(np.percentile(x, q)) if len(x) else 0.0


def _mean(x: FloatArray) -> float:
    return float(np.mean(x)) if len(x) else 0.0


def run_scenario(
    scenario: Scenario, *, city: City | None = None, progress: Progress | None = None
) -> RunResult:
    """Simulate one weekday under ``scenario`` and return its KPIs and plotted series."""
    t_start = time.perf_counter()
    done = 0.0

    def stage(name: str) -> None:
        nonlocal done
        if progress is not None:
            progress(name, done)
        done += dict(_STAGES)[name]

    sim = scenario.simulation
    base_city = city or load_city()
    city = apply_transit(
        base_city,
        scenario.transit.brt_frequency_factor,
        scenario.transit.bus_frequency_factor,
        scenario.transit.brt_speed_factor,
    )
    stage("population")
    pop = build_population(city, PopulationParams(seed=sim.seed, scale=sim.scale))
    # Own stream for the car cut, so the same seed draws the same population in every scenario.
    car_rng = np.random.default_rng([sim.seed, 1])
    pop = with_car_ownership(pop, scenario.cars.ownership_factor, car_rng)

    stage("demand")
    beh = scenario_behaviour(scenario)
    skims = demand_skims(city)
    trips = build_trips(city, pop, beh, seed=sim.seed, skims=skims)

    stage("traffic")
    tp = TrafficParams(
        seed=sim.seed,
        iterations=sim.msa_iterations,
        capacity_factor=sim.scale * sim.road_capacity_factor,
    )
    a = assign(city, pop, trips, tp, beh, skims)
    trips = a.trips
    loaded = np.flatnonzero((trips.mode == CAR) & (trips.origin != trips.destination))
    travel = a.travel_time_min.copy()
    unfinished = np.isnan(a.loading.arrival_min)
    # Cars still queued at the horizon: count their time up to it (a lower bound).
    travel[loaded[unfinished]] = tp.horizon_min - trips.departure_min[loaded[unfinished]]

    stage("shuttles")
    hourly = congested_skims(city, a.link_time_min, skims.car, tp.bin_min)
    drt, req_trip, fleet = _drt(trips, scenario, hourly, skims)
    mode = trips.mode.copy()
    times, _, costs = mode_attributes(trips, pop.age, skims, beh)
    waits = np.zeros(0)
    drt_summary: dict[str, float] = {}
    if drt is not None:
        served = drt.served
        t_served = req_trip[served]
        travel[t_served] = (drt.walk_min + drt.wait_min + drt.in_vehicle_min)[served]
        fallback = req_trip[~served]
        mode[fallback] = TRANSIT
        travel[fallback] = times[fallback, TRANSIT]
        waits = drt.wait_min[served]
        drt_summary = drt.summary()
    else:  # no fleet: any drt trip takes transit
        fallback = np.flatnonzero(mode == DRT)
        mode[fallback] = TRANSIT
        travel[fallback] = times[fallback, TRANSIT]
    trip_cost = costs[np.arange(trips.n), mode]

    stage("parking")
    car = np.flatnonzero(mode == CAR)
    at_home = np.bincount(
        pop.household_zone, weights=pop.household_cars, minlength=len(city.zones)
    ).astype(np.int64)
    dep = trips.departure_min[car].astype(np.float64)
    o_car = trips.origin[car].astype(np.int64)
    d_car = trips.destination[car].astype(np.int64)
    peak = hourly_peak(parked_cars(o_car, d_car, dep, dep + travel[car], at_home))
    supply = np.round(parking_supply(city)["total"] * sim.scale).astype(np.int64)
    excess, _ = illegal_parking(peak, supply)

    stage("emissions")
    car_km = float(skims.distance_km[trips.origin[car], trips.destination[car]].sum())
    shuttle_km = drt.fleet_km if drt is not None else 0.0
    bus = {k: v * sim.scale for k, v in bus_vehicle_km(city).items()}
    em = road_emissions(
        {"car": car_km, "shuttle": shuttle_km, "bus_cng": bus["bus"], "bus_electric": bus["brt"]}
    )

    commute = np.flatnonzero(trips.purpose == WORK)
    ff_travel = travel.copy()
    ff_travel[car] = skims.car[trips.origin[car], trips.destination[car]]
    free_flow = skims.car[trips.origin[loaded], trips.destination[loaded]]
    delay = np.maximum(travel[loaded] - free_flow, 0.0)
    share = np.bincount(mode, minlength=5) / max(trips.n, 1)
    per_hour = np.zeros((24, 5), dtype=np.int64)
    np.add.at(per_hour, (np.minimum(trips.departure_min // 60, 23), mode), 1)
    per_bin = 60.0 / tp.bin_min  # link-time bins per hour
    am_peak = a.link_time_min[int(7 * per_bin) : int(9 * per_bin)]  # 07:00-09:00
    peak_ratio = am_peak.mean(axis=0) / city.network.free_flow_time_min

    kpis: dict[str, Any] = {
        "scenario": scenario.name,
        "title_ko": scenario.title_ko,
        "title_en": scenario.title_en,
        "scale": sim.scale,
        "seed": sim.seed,
        "road_capacity_factor": sim.road_capacity_factor,
        "population": int(len(pop.age)),
        "households": int(len(pop.household_size)),
        "trips": int(trips.n),
        "trips_per_person": float(trips.n / max(len(pop.age), 1)),
        "private_cars": int(pop.household_cars.astype(np.int64).sum()),
        "shared_vehicles": int(fleet),
        "vehicle_km": car_km + shuttle_km + bus["bus"] + bus["brt"],
        "vehicle_km_by_type": {
            "car": car_km,
            "shared": shuttle_km,
            "bus": bus["bus"],
            "brt": bus["brt"],
        },
        "mean_travel_time_min": _mean(travel),
        "p95_travel_time_min": _pct(travel, 95),
        "mean_commute_time_min": _mean(travel[commute]),
        "mean_commute_time_freeflow_min": _mean(ff_travel[commute]),
        "mean_travel_time_by_mode_min": {
            k: _mean(travel[mode == i]) for i, k in enumerate(KPI_MODES)
        },
        "mean_cost_krw_per_trip": _mean(trip_cost),
        "mode_share": {k: float(share[i]) for i, k in enumerate(KPI_MODES)},
        "congestion_delay_veh_h": float(delay.sum() / 60.0),
        "mean_car_time_min": _mean(travel[loaded]),
        "mean_car_freeflow_min": _mean(free_flow),
        "cars_unfinished": int(unfinished.sum()),
        "msa_relative_gap": float(a.iterations[-1].relative_gap),
        "parking_spaces_needed": spaces_needed(peak),
        "illegal_parking_peak": int(excess.sum(axis=1).max()) if len(excess) else 0,
        "drt_requests": int(drt_summary.get("requests", 0)),
        "drt_rejection_rate": float(drt_summary.get("rejection_rate", 0.0)),
        "drt_mean_wait_min": float(drt_summary.get("mean_wait_min", 0.0)),
        "drt_p95_wait_min": float(drt_summary.get("p95_wait_min", 0.0)),
        "drt_mean_in_vehicle_min": float(drt_summary.get("mean_in_vehicle_min", 0.0)),
        "drt_expected_wait_min": scenario.shuttles.expected_wait_min,
        "drt_empty_km_share": float(drt_summary.get("empty_km_share", 0.0)),
        "co2_t": em["total"].co2_t,
        "co2_t_by_type": {k: v.co2_t for k, v in em.items() if k != "total"},
        "pm10_kg": em["total"].pm10_kg,
        "pm25_kg": em["total"].pm25_kg,
        "runtime_s": time.perf_counter() - t_start,
    }
    if progress is not None:
        progress("done", 1.0)
    return RunResult(
        scenario=scenario,
        kpis=kpis,
        trips_per_hour=per_hour,
        cars_on_road=a.loading.occupancy.sum(axis=1).astype(np.int64),
        link_peak_ratio=peak_ratio,
        drt_wait_min=waits,
        iterations=tuple(_iteration(s) for s in a.iterations),
    )


def _iteration(s: Any) -> dict[str, float]:
    return {
        "iteration": float(s.iteration),
        "relative_gap": float(s.relative_gap),
        "car_trips": float(s.car_trips),
        "mean_car_time_min": float(s.mean_car_time_min),
    }
