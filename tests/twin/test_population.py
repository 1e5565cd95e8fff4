"""Synthetic population: totals, IPF marginals, consistency and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.twin import sources as src
from cityos.twin.city import City
from cityos.twin.population import (
    EMPLOYED,
    PUPIL,
    Population,
    PopulationParams,
    build_population,
    household_sizes,
)


def test_zone_totals_met_exactly(city: City, population: Population) -> None:
    p = population
    assert len(p.age) == 390_000
    np.testing.assert_array_equal(np.bincount(p.person_zone, minlength=24), city.zones.population)
    np.testing.assert_array_equal(
        np.bincount(p.household_zone, minlength=24), city.zones.households
    )
    np.testing.assert_array_equal(np.bincount(p.person_household), p.household_size)
    np.testing.assert_array_equal(
        p.person_household[p.household_first], np.arange(len(p.household_first))
    )


def test_marginals_follow_the_profiles(city: City, population: Population) -> None:
    p = population
    bands = np.searchsorted([b[1] for b in src.AGE_BANDS], p.age)
    for code in ("36110250", "36110112", "36110370"):
        i = city.zones.index[code]
        ztype = city.zones.zone_type[i]
        share = np.bincount(bands[p.person_zone == i], minlength=8) / city.zones.population[i]
        np.testing.assert_allclose(share, src.AGE_SHARES[ztype], atol=0.01)
        cars = np.bincount(p.household_cars[p.household_zone == i], minlength=3)
        np.testing.assert_allclose(
            cars / city.zones.households[i], src.CAR_SHARES[ztype], atol=0.01
        )
    assert 35 < p.age.mean() < 41  # published mean age 37.7 at 2021-12


def test_statuses_and_destinations(population: Population) -> None:
    p = population
    assert np.all(p.status[(p.age >= 6) & (p.age <= 18)] == PUPIL)
    assert np.all(p.work_zone[p.status == EMPLOYED] >= 0)
    assert np.all(p.work_zone[p.status != EMPLOYED] == -1)
    assert np.all(p.school_zone[p.status == PUPIL] >= 0)
    assert not np.any(p.car_access[p.age < 18])
    # Nobody has car access in a car-free household; no household has more drivers than cars.
    drivers = np.bincount(p.person_household, weights=p.car_access, minlength=len(p.household_size))
    assert np.all(drivers <= p.household_cars)
    assert np.all(p.age >= 0)
    assert p.age.max() <= 89


def test_same_seed_same_arrays_other_seed_differs(city: City, population: Population) -> None:
    again = build_population(city)
    other = build_population(city, PopulationParams(seed=7))
    for name in ("age", "status", "car_access", "work_zone", "school_zone", "household_cars"):
        np.testing.assert_array_equal(getattr(population, name), getattr(again, name))
    assert not np.array_equal(population.age, other.age)
    np.testing.assert_array_equal(
        np.bincount(other.person_zone, minlength=24), city.zones.population
    )


def test_household_sizes_hold_the_persons_by_hand() -> None:
    rng = np.random.default_rng(0)
    counts = household_sizes(2.5, 100, 250, (0.3, 0.3, 0.2, 0.15, 0.05), rng)
    assert counts.sum() == 100
    assert counts @ np.arange(1, 6) == 250


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="scale"):
        PopulationParams(scale=0)
    with pytest.raises(ValueError, match="share"):
        PopulationParams(employment_25_59=1.5)


def test_half_scale(city: City) -> None:
    half = build_population(city, PopulationParams(scale=0.5))
    assert abs(len(half.age) - 195_000) <= 24
