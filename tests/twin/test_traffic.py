"""Queue model against hand calculations, spill-back, conservation, MSA, full Sejong."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.twin.city import City
from cityos.twin.demand import CAR, build_trips
from cityos.twin.population import Population, PopulationParams, build_population
from cityos.twin.traffic import (
    QueueLinks,
    Routes,
    TrafficParams,
    assign,
    load_network,
    queue_links,
)


def _line(capacity: list[float], storage: list[float]) -> tuple[QueueLinks, Routes]:
    n = len(capacity)
    links = QueueLinks(
        free_flow_min=np.ones(n),
        capacity_veh_h=np.array(capacity, dtype=float),
        storage_veh=np.array(storage, dtype=float),
        length_m=np.full(n, 1000.0),
    )
    return links, Routes(np.array([0]), np.array([n]), np.arange(n))


def test_bottleneck_queue_by_hand() -> None:
    # 1,200 veh/h for 10 min (200 vehicles) into a 600 veh/h link: vehicles reach its head
    # from t = 2 at 20/min and leave at 10/min, so the queue grows by 10 a minute to 100 at
    # t = 12 and clears at t = 22; vehicle i leaves the bottleneck at 2 + i/10 [min].
    links, routes = _line([6000, 600, 6000], [1000, 1000, 1000])
    dep = np.arange(200) * 0.05
    out = load_network(links, routes, np.zeros(200, dtype=np.int64), dep, horizon_min=1440)
    q = out.queue[:, 1]
    assert q.max() == 100
    assert int(np.argmax(q)) == 11  # end of the step [11, 12)
    assert np.all(q[2:12] == np.arange(10, 101, 10))
    assert q[20] == 10
    assert q[21] == 0
    np.testing.assert_allclose(out.arrival_min, 2 + np.arange(200) / 10 + 1)
    assert np.all(out.flow[2:22, 1] == 10)


def test_free_flow_trip_takes_free_flow_time() -> None:
    links, routes = _line([6000, 6000], [100, 100])
    out = load_network(links, routes, np.zeros(3, dtype=np.int64), np.array([0.3, 5.5, 7.25]))
    np.testing.assert_allclose(out.arrival_min, [2.3, 7.5, 9.25])


def test_spill_back_blocks_upstream() -> None:
    # A 60 veh/h exit behind two 5-vehicle links: the queue spills back onto link 0.
    links, routes = _line([6000, 6000, 60], [1000, 5, 5])
    dep = np.arange(40) * 0.1
    out = load_network(links, routes, np.zeros(40, dtype=np.int64), dep, horizon_min=1440)
    assert out.occupancy[:, 1].max() <= 5
    assert out.occupancy[:, 2].max() <= 5
    assert out.queue[:, 0].max() > 0  # held on link 0 by a full link 1
    roomy, _ = _line([6000, 6000, 60], [1000, 1000, 1000])
    free = load_network(roomy, routes, np.zeros(40, dtype=np.int64), dep, horizon_min=1440)
    assert free.queue[:, 0].max() == 0
    # The bottleneck serves one a minute either way: the last leaves at the same time.
    assert np.nanmax(out.arrival_min) == pytest.approx(np.nanmax(free.arrival_min), abs=1.0)


def test_conservation_every_step() -> None:
    rng = np.random.default_rng(3)
    links, routes = _line([1200, 300, 900], [50, 8, 20])
    dep = np.sort(rng.uniform(0, 30, 400))
    out = load_network(links, routes, np.zeros(400, dtype=np.int64), dep, horizon_min=1440)
    inside = np.cumsum(out.entered) - np.cumsum(out.left)
    np.testing.assert_array_equal(inside, out.occupancy.sum(axis=1))
    assert out.entered.sum() == out.left.sum() == 400
    assert np.all(np.isfinite(out.arrival_min))


@pytest.fixture(scope="module")
def small(city: City) -> tuple[Population, object]:
    pop = build_population(city, PopulationParams(seed=5, scale=0.25))
    return pop, build_trips(city, pop, seed=5)


@pytest.mark.slow
def test_msa_on_sejong_quarter(city: City, small: tuple) -> None:
    pop, trips = small
    params = TrafficParams(seed=1, iterations=4)
    a = assign(city, pop, trips, params)
    gaps = [s.relative_gap for s in a.iterations]
    assert all(g >= -1e-9 for g in gaps)
    assert gaps[-1] < max(gaps)
    assert gaps[-1] < gaps[1]
    loaded = (a.trips.mode == CAR) & (a.trips.origin != a.trips.destination)
    assert a.iterations[-1].car_trips == loaded.sum()
    assert np.all(np.isfinite(a.travel_time_min))
    assert a.loading.entered.sum() == a.loading.left.sum() == loaded.sum()
    again = assign(city, pop, trips, params)
    np.testing.assert_array_equal(again.travel_time_min, a.travel_time_min)
    np.testing.assert_array_equal(again.trips.mode, a.trips.mode)


def test_city_storage_from_length_and_lanes(city: City) -> None:
    q = queue_links(city, jam_spacing_m=7.0)
    net = city.network
    i = int(np.argmax(net.length_m))
    assert q.storage_veh[i] == np.floor(net.length_m[i] * net.lanes[i] / 7.0)


@pytest.mark.slow
def test_full_sejong_day(city: City, population: Population) -> None:
    # Its speed is measured by benchmarks/twin_scale.py, not here: the machine is shared.
    trips = build_trips(city, population)
    a = assign(city, population, trips, TrafficParams(iterations=3))
    assert trips.n > 800_000
    inside = np.cumsum(a.loading.entered) - np.cumsum(a.loading.left)
    np.testing.assert_array_equal(inside, a.loading.occupancy.sum(axis=1))
