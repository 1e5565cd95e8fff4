"""Travel demand: daily activity chains, destination choice and tour-based mode choice.

``build_trips(city, population)`` turns the synthetic population into a trips table of
numpy arrays (person, origin, destination, departure minute, purpose, mode, tour) with one
seeded ``numpy.random.Generator``. The same seed gives identical trips.

1. Each person draws a daily pattern (e.g. ``HWSH``: home, work, shop, home) from the share
   table of their group (worker, pupil, university, adult, senior, child).
2. Work and school zones come from the population; shopping and leisure stops are chosen by
   multinomial logit, V_j = ln(A_j) + beta * t_ij, from the previous stop.
3. Departure minutes follow the configured 30-minute profiles per purpose.
4. Every home-based tour gets one mode by multinomial logit on the sum of its trips'
   utilities, V_m = asc_m + beta_t * w_m * t_m + beta_t / VoT * cost_m (McFadden 1974),
   among car (only with car access), drt, transit, bike (by age) and walk.

Parameters and their sources: ``cityos/data/twin/behaviour.yaml`` (see ``behaviour.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from cityos.twin._demand_chains import (
    EDUCATION,
    HOME,
    LEISURE,
    MAX_SLOTS,
    SHOP,
    WORK,
    build_chains,
    departure_minutes,
    zone_attraction,
)
from cityos.twin._demand_choice import logit_probabilities, sample_rows
from cityos.twin.behaviour import MODE_NAMES, Behaviour, load_behaviour
from cityos.twin.city import City
from cityos.twin.population import Population
from cityos.twin.skims import distance_skim, skim

CAR, DRT, TRANSIT, BIKE, WALK = range(5)  # mode codes, in MODE_NAMES order
PURPOSE_NAMES = ("home", "work", "education", "shop", "leisure")
__all__ = [
    "BIKE",
    "CAR",
    "DRT",
    "EDUCATION",
    "HOME",
    "LEISURE",
    "MODE_NAMES",
    "PURPOSE_NAMES",
    "SHOP",
    "TRANSIT",
    "WALK",
    "WORK",
    "DemandSkims",
    "Trips",
    "build_trips",
    "choose_modes",
    "demand_skims",
    "mode_attributes",
]


@dataclass(frozen=True)
class DemandSkims:
    """Zone-to-zone times per mode [min] and road distances [km] the choices use."""

    car: NDArray[np.float64]
    transit: NDArray[np.float64]
    bike: NDArray[np.float64]
    walk: NDArray[np.float64]
    distance_km: NDArray[np.float64]


def demand_skims(city: City) -> DemandSkims:
    """Return the free-flow skims of ``city`` for demand modelling."""
    return DemandSkims(
        car=skim(city, "car"),
        transit=skim(city, "transit"),
        bike=skim(city, "bike"),
        walk=skim(city, "walk"),
        distance_km=distance_skim(city),
    )


@dataclass(frozen=True)
class Trips:
    """The day's trips as arrays, ordered by person and then by time."""

    person: NDArray[np.int32]
    origin: NDArray[np.int16]  # zone index
    destination: NDArray[np.int16]  # zone index
    departure_min: NDArray[np.int16]  # minute of the day [min]
    purpose: NDArray[np.int8]  # activity at the destination (HOME..LEISURE)
    mode: NDArray[np.int8]  # CAR..WALK
    tour: NDArray[np.int32]  # home-based tour id (one mode per tour)
    n: int = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.person)
        for name in ("origin", "destination", "departure_min", "purpose", "mode", "tour"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"trips.{name} has the wrong length")
        object.__setattr__(self, "n", n)

    def with_modes(self, mode: NDArray[np.int8]) -> Trips:
        """Return a copy with other modes."""
        return Trips(
            self.person,
            self.origin,
            self.destination,
            self.departure_min,
            self.purpose,
            mode.astype(np.int8),
            self.tour,
        )

    def mode_shares(self) -> dict[str, float]:
        """Return the share of trips per mode [-]."""
        counts = np.bincount(self.mode, minlength=len(MODE_NAMES)) / max(self.n, 1)
        return {m: float(c) for m, c in zip(MODE_NAMES, counts, strict=True)}


def _zone_features(city: City) -> dict[str, NDArray[np.float64]]:
    z, f = city.zones, city.facilities
    lu = dict(
        zip(
            ("residential", "commercial", "industrial", "public", "green", "agri_forest"),
            z.land_use_km2.T,
            strict=True,
        )
    )
    feats: dict[str, NDArray[np.float64]] = {f"{k}_km2": v for k, v in lu.items()}
    feats["jobs_per_1000"] = z.jobs / 1000.0
    feats["residents_per_1000"] = z.population / 1000.0
    zone_of = np.array([z.index.get(c, -1) for c in f.zone])
    for kind in sorted(set(f.kind)):
        m = (np.array(f.kind) == kind) & (zone_of >= 0)
        feats[kind] = np.bincount(zone_of[m], minlength=len(z)).astype(np.float64)
    return feats


def mode_attributes(
    trips: Trips,
    age: NDArray[np.integer],
    skims: DemandSkims,
    beh: Behaviour,
    car_time_min: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return per-trip (times [min], perceived times [min], costs [KRW]), each (trips, 5).

    ``car_time_min`` overrides the free-flow car time per trip (congested times).
    """
    m = beh.mode
    o, d = trips.origin, trips.destination
    car = skims.car[o, d] if car_time_min is None else car_time_min
    drt_ride = m.drt_detour * car
    drt_extra = m.drt_access_min + m.drt_wait_min
    times = np.column_stack(
        [car, drt_ride + drt_extra, skims.transit[o, d], skims.bike[o, d], skims.walk[o, d]]
    )
    w = np.array([m.time_weight[k] for k in MODE_NAMES])
    perceived = times * w
    perceived[:, DRT] = w[DRT] * drt_ride + w[WALK] * drt_extra  # waiting weighs as walking
    parking = np.zeros(len(PURPOSE_NAMES))
    for code, key in (
        (WORK, "work"),
        (EDUCATION, "education"),
        (SHOP, "shop"),
        (LEISURE, "leisure"),
    ):
        parking[code] = m.parking_krw[key]
    a = np.asarray(age)[trips.person]
    fare = np.full(trips.n, m.transit_fare_krw["adult"])
    fare[(a >= m.youth_age[0]) & (a <= m.youth_age[1])] = m.transit_fare_krw["youth"]
    fare[(a >= m.child_age[0]) & (a <= m.child_age[1])] = m.transit_fare_krw["child"]
    fare[a < m.child_age[0]] = 0.0
    fare[a >= 65] = m.transit_fare_krw["senior"]
    costs = np.zeros_like(times)
    costs[:, CAR] = m.fuel_krw_per_km * skims.distance_km[o, d] + parking[trips.purpose]
    costs[:, DRT] = m.drt_fare_krw
    costs[:, TRANSIT] = fare
    return times, perceived, costs


def choose_modes(
    trips: Trips,
    pop: Population,
    skims: DemandSkims,
    beh: Behaviour,
    rng: np.random.Generator,
    car_time_min: NDArray[np.float64] | None = None,
    tours: NDArray[np.bool_] | None = None,
) -> NDArray[np.int8]:
    """Return a mode per trip: one tour-based logit draw per home-based tour.

    Only the tours flagged in ``tours`` (all by default) draw again; the others keep their
    mode. ``car_time_min`` gives congested car times per trip [min].
    """
    m = beh.mode
    n_tours = int(trips.tour[-1]) + 1 if trips.n else 0
    redo = np.ones(n_tours, dtype=bool) if tours is None else tours
    # Utilities only of the trips whose tour draws again (a tour's sum is the same).
    sub, car_sub = trips, car_time_min
    if tours is not None:
        sel = np.flatnonzero(redo[trips.tour])
        sub = Trips(
            trips.person[sel],
            trips.origin[sel],
            trips.destination[sel],
            trips.departure_min[sel],
            trips.purpose[sel],
            trips.mode[sel],
            trips.tour[sel],
        )
        car_sub = None if car_time_min is None else car_time_min[sel]
    _, perceived, costs = mode_attributes(sub, pop.age, skims, beh, car_sub)
    asc = np.array([m.asc[k] for k in MODE_NAMES])
    v_trip = asc + m.beta_time_per_min * perceived + m.beta_cost_per_krw * costs
    v_tour = np.stack(
        [np.bincount(sub.tour, weights=v_trip[:, k], minlength=n_tours) for k in range(5)],
        axis=1,
    ).astype(np.float64)
    tour_person = np.zeros(n_tours, dtype=np.int64)
    tour_person[trips.tour] = trips.person
    age = pop.age[tour_person]
    avail = np.ones((n_tours, 5), dtype=bool)
    avail[:, CAR] = pop.car_access[tour_person]
    avail[:, BIKE] = (age >= m.bike_age[0]) & (age <= m.bike_age[1])
    chosen = np.zeros(n_tours, dtype=np.int8)
    chosen[trips.tour] = trips.mode
    idx = np.flatnonzero(redo)
    prob = logit_probabilities(v_tour[idx], avail[idx])
    chosen[idx] = sample_rows(prob, rng).astype(np.int8)
    return chosen[trips.tour]


def build_trips(
    city: City,
    pop: Population,
    beh: Behaviour | None = None,
    seed: int = 42,
    skims: DemandSkims | None = None,
) -> Trips:
    """Return the day's trips of ``pop`` in ``city``: chains, destinations, times, modes."""
    beh = beh or load_behaviour()
    skims = skims or demand_skims(city)
    rng = np.random.default_rng(seed)
    features = _zone_features(city)
    attraction = {
        "shop": zone_attraction(features, beh.destination.shop_attraction),
        "leisure": zone_attraction(features, beh.destination.leisure_attraction),
    }
    ref_time = np.stack([skims.transit, skims.car])  # by car access 0/1
    chains = build_chains(pop, beh, attraction, ref_time, rng)
    dep = departure_minutes(chains, pop, beh, ref_time, rng)
    k = np.arange(MAX_SLOTS - 1)
    has = k[None, :] < chains.n_trips[:, None]
    person, slot = np.nonzero(has)  # row-major: by person, then slot (time order)
    origin = chains.zone[person, slot]
    purpose = chains.activity[person, slot + 1]
    tour = np.cumsum(chains.activity[person, slot] == HOME) - 1
    trips = Trips(
        person=person.astype(np.int32),
        origin=origin.astype(np.int16),
        destination=chains.zone[person, slot + 1].astype(np.int16),
        departure_min=dep[person, slot].astype(np.int16),
        purpose=purpose.astype(np.int8),
        mode=np.zeros(len(person), dtype=np.int8),
        tour=tour.astype(np.int32),
    )
    return trips.with_modes(choose_modes(trips, pop, skims, beh, rng))
