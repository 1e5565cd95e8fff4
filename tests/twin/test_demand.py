"""Travel demand: logit against hand calculations, profiles, trip rates, reproducibility."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from cityos.twin._demand_choice import (
    destination_probabilities,
    logit_probabilities,
    sample_from_table,
)
from cityos.twin.behaviour import BehaviourError, behaviour_from_dict, load_behaviour
from cityos.twin.city import City
from cityos.twin.demand import (
    CAR,
    HOME,
    WORK,
    Trips,
    build_trips,
    demand_skims,
)
from cityos.twin.population import Population


@pytest.fixture(scope="module")
def trips(city: City, population: Population) -> Trips:
    return build_trips(city, population, seed=7)


def test_logit_matches_hand_calculation() -> None:
    # V = (0, -1, -2): P = e^0, e^-1, e^-2 over their sum = 0.6652, 0.2447, 0.0900.
    p = logit_probabilities(np.array([[0.0, -1.0, -2.0]]))
    total = 1 + math.exp(-1) + math.exp(-2)
    np.testing.assert_allclose(p[0], [1 / total, math.exp(-1) / total, math.exp(-2) / total])
    np.testing.assert_allclose(p[0], [0.6652, 0.2447, 0.0900], atol=1e-4)


def test_logit_drops_unavailable_and_survives_large_utilities() -> None:
    p = logit_probabilities(np.array([[1000.0, 1000.0, 5.0]]), np.array([[True, True, False]]))
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0])


def test_destination_logit_by_hand() -> None:
    # A = (1, e, 0), beta = -0.1, t = (10, 20, 5): V = (-1, 1 - 2, -inf) -> equal shares.
    p = destination_probabilities(np.array([1.0, math.e, 0.0]), np.array([[10.0, 20.0, 5.0]]), -0.1)
    np.testing.assert_allclose(p[0], [0.5, 0.5, 0.0])


def test_sample_from_table_follows_rows() -> None:
    rng = np.random.default_rng(1)
    table = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]])
    rows = np.repeat([0, 1], 50_000)
    pick = sample_from_table(table, rows, rng)
    assert np.all(pick[rows == 1] == 2)
    assert abs((pick[rows == 0] == 0).mean() - 0.2) < 0.01
    assert not np.any(pick[rows == 0] == 2)


def test_every_value_has_a_source() -> None:
    from importlib import resources

    import yaml

    doc = yaml.safe_load(
        resources.files("cityos").joinpath("data/twin/behaviour.yaml").read_text("utf-8")
    )
    del doc["mode"]["drt_fare_krw"]["source"]
    with pytest.raises(BehaviourError, match="drt_fare_krw needs a source"):
        behaviour_from_dict(doc)


def test_ranges_are_checked() -> None:
    beh = load_behaviour()
    with pytest.raises(BehaviourError, match="beta_time_per_min"):
        replace(beh.mode, beta_time_per_min=0.1)
    assert beh.mode.transit_fare_krw["adult"] == 1400


def test_trip_rates_are_plausible(trips: Trips, population: Population) -> None:
    per_person = trips.n / len(population.age)
    assert 2.0 <= per_person <= 3.5
    counts = np.bincount(trips.person, minlength=len(population.age))
    assert counts.max() <= 5
    # Chains are closed: every person with trips ends the day at home.
    last = np.flatnonzero(np.diff(np.append(trips.person, -1)) != 0)
    assert np.all(trips.purpose[last] == HOME)
    assert np.all(trips.destination[last] == population.person_zone[trips.person[last]])


def test_departures_follow_the_configured_work_profile(trips: Trips) -> None:
    beh = load_behaviour()
    first = np.ones(trips.n, dtype=bool)
    first[1:] = trips.person[1:] != trips.person[:-1]
    to_work = first & (trips.purpose == WORK)
    shares = np.bincount(trips.departure_min[to_work] // 30, minlength=48) / to_work.sum()
    np.testing.assert_allclose(shares, beh.departures["work_out"].shares, atol=0.005)
    peak = shares[15:18].sum()  # 07:30-09:00
    assert peak > 0.5


def test_departures_are_ordered_within_a_day(trips: Trips) -> None:
    same = trips.person[1:] == trips.person[:-1]
    assert np.all(trips.departure_min[1:][same] >= trips.departure_min[:-1][same])


def test_only_persons_with_a_car_drive(trips: Trips, population: Population) -> None:
    assert not np.any(~population.car_access[trips.person] & (trips.mode == CAR))
    # One mode per tour.
    tour_mode = np.full(int(trips.tour[-1]) + 1, -1)
    tour_mode[trips.tour] = trips.mode
    assert np.all(tour_mode[trips.tour] == trips.mode)
    shares = trips.mode_shares()
    assert 0.3 < shares["car"] < 0.6
    assert all(v > 0 for v in shares.values())


def test_same_seed_same_trips(city: City, population: Population, trips: Trips) -> None:
    again = build_trips(city, population, seed=7, skims=demand_skims(city))
    for name in ("person", "origin", "destination", "departure_min", "purpose", "mode", "tour"):
        np.testing.assert_array_equal(getattr(again, name), getattr(trips, name))
    other = build_trips(city, population, seed=8)
    assert not np.array_equal(other.departure_min, trips.departure_min)
