"""The shipped city model: zone totals, network, ring, transit, facilities, checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cityos.twin.city import City, CityModelError
from cityos.twin.sources import CITY_POPULATION

JOCHIWON, EOJIN, GEUMNAM, SOJEONG = "36110250", "36110110", "36110340", "36110390"


def test_zone_totals(city: City) -> None:
    z = city.zones
    assert len(z) == 24
    assert int(z.population.sum()) == CITY_POPULATION == 390_000
    assert int(z.population[z.index[GEUMNAM]]) == 8_778  # published 2022-07
    assert int(z.population[z.index[SOJEONG]]) == 2_220  # published 2022-07
    assert z.area_km2.sum() == pytest.approx(464.968, abs=0.01)
    mean_size = z.population.sum() / z.households.sum()
    assert 2.2 < mean_size < 2.6
    assert int(z.jobs[z.index[EOJIN]]) == int(z.jobs.max())  # the Government Complex
    assert np.all(z.school_places > 0)
    for column, labels in z.origin.items():
        assert set(labels) <= {"published", "derived", "synthetic"}, column
    assert z.origin["population"][z.index[GEUMNAM]] == "published"


def test_ring_is_22_9_km(city: City) -> None:
    net = city.network
    ring = np.array([c == "brt_ring" for c in net.road_class])
    one_way_km = net.length_m[ring].sum() / 2 / 1000
    assert one_way_km == pytest.approx(22.9, rel=0.03)
    assert np.all(net.brt_lanes[ring] == 1)
    stations = [i for i, k in enumerate(net.node_kind) if k == "ring_station"]
    assert len(stations) == 13
    # The ring station at the Government Complex lies in 어진동.
    assert net.node_zone[net.node_index["R01"]] == EOJIN


def test_every_zone_has_a_connector_and_links_have_units(city: City) -> None:
    net = city.network
    for node in city.zone_nodes:
        assert np.any(net.link_from == node)
        assert np.any(net.link_to == node)
    assert np.all(net.capacity_veh_h >= 700)
    assert set(net.road_class) >= {"brt_ring", "national_road", "urban_arterial", "connector"}
    # free-flow time [min] = length [km] / speed [km/h] * 60, checked on one link by hand
    i = 0
    expected = net.length_m[i] / 1000 / net.free_flow_kmh[i] * 60
    assert net.free_flow_time_min[i] == pytest.approx(expected)


def test_transit_lines_and_facilities(city: City) -> None:
    ids = {(ln.line_id, ln.direction) for ln in city.transit}
    assert ("BRT-CW", 0) in ids
    assert ("BRT-CCW", 0) in ids
    assert ("B1", 1) in ids
    cw = next(ln for ln in city.transit if ln.line_id == "BRT-CW")
    assert cw.nodes[0] == cw.nodes[-1]
    assert int(cw.is_stop.sum()) == 14
    f = city.facilities
    kinds = set(f.kind)
    assert kinds >= {"hospital", "fire_station", "school", "park", "shop", "culture", "parking"}
    assert "published" in f.origin
    assert "synthetic" in f.origin
    gov = f.facility_id.index("F-government-complex")
    assert (f.lat[gov], f.lon[gov]) == (36.5047, 127.2653)
    school = np.array([k == "school" for k in f.kind])
    assert int(f.capacity[school].sum()) == int(city.zones.school_places.sum())


def test_constructors_check_ranges(city: City) -> None:
    net = city.network
    with pytest.raises(CityModelError, match="free-flow"):
        dataclasses.replace(net, free_flow_kmh=np.full_like(net.free_flow_kmh, 500.0))
    with pytest.raises(CityModelError, match="capacity"):
        dataclasses.replace(net, capacity_veh_h=np.zeros_like(net.capacity_veh_h))
    z = city.zones
    with pytest.raises(CityModelError, match="households"):
        dataclasses.replace(z, households=z.population + 1)
    line = city.transit[0]
    with pytest.raises(CityModelError, match="headway"):
        dataclasses.replace(line, headway_peak_min=0.0)
