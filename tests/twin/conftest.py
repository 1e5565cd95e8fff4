"""Shared fixtures: the shipped city model and its full-scale population (built once)."""

from __future__ import annotations

import pytest

from cityos.twin.city import City, load_city
from cityos.twin.population import Population, build_population


@pytest.fixture(scope="package")
def city() -> City:
    return load_city()


@pytest.fixture(scope="package")
def population(city: City) -> Population:
    return build_population(city)
