"""Live mode's shuttle positions and individual parking spaces (no database needed)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from cityos.ingest import smartdata
from cityos.twin import _live_parking as parking
from cityos.twin import _live_sensors as sensors
from cityos.twin._drt_trajectories import IDLE, REBALANCING, TO_PICKUP, WITH_PASSENGERS
from cityos.twin._drt_trajectories import trajectories as make_trajectories
from cityos.twin.city import City, load_city
from cityos.twin.drt import DrtParams, DrtRequests, simulate_drt
from tests.hub.test_seed import local_registry, vendored_schemas

STAMP = "2026-11-25T00:00:00.000000Z"


@pytest.fixture(scope="module")
def city() -> City:
    return load_city()


@pytest.fixture(scope="module")
def day(city: City) -> sensors.Day:
    return sensors.simulate_day(city, scale=0.01, counters=4, iterations=1, shuttles=12)


def _entity(body: Any, measures: dict[str, Any]) -> dict[str, Any]:
    """Return the keyValues entity a device's static attributes and one message make."""
    for name in [*body.static_attributes, *(m.name for m in body.attributes.values())]:
        assert smartdata.has_attribute(body.entity_type, name), (body.entity_type, name)
    assert set(measures) - {"TimeInstant"} == set(body.attributes)  # every measure mapped
    entity = {"id": body.entity_id, "type": body.entity_type, **body.static_attributes}
    for object_id, value in measures.items():
        if object_id in body.attributes:
            entity[body.attributes[object_id].name] = value
    return entity


def test_every_new_sensor_validates_against_its_smart_data_model(
    city: City, day: sensors.Day
) -> None:
    bodies = {b.device_id: b for b in sensors.devices(city, day, "urn:ngsi-ld:tenant:default")}
    kinds = {"Vehicle", "ParkingSpot", "OffStreetParking", "OnStreetParking"}
    validators = {
        k: Draft202012Validator(
            json.loads(vendored_schemas()[k].read_text()), registry=local_registry()
        )
        for k in kinds
    }
    seen: dict[str, int] = {}
    for minute in (3 * 60, 8 * 60, 13 * 60, 18 * 60):
        for device_id, measures in sensors.readings(city, day, minute, STAMP):
            body = bodies[device_id]  # every reading comes from a provisioned device
            if body.entity_type not in kinds:
                continue
            entity = _entity(body, measures)
            assert entity["dataProvider"] == sensors.SYNTHETIC
            assert entity["source"] == sensors.SOURCE
            errors = [e.message for e in validators[body.entity_type].iter_errors(entity)]
            assert not errors, (device_id, errors[:3])
            seen[body.entity_type] = seen.get(body.entity_type, 0) + 1
    assert set(seen) == kinds
    spots = [b for b in bodies.values() if b.entity_type == "ParkingSpot"]
    places = {p.entity_id for p in parking.places(city)}
    assert len(spots) == 3 * parking.OFF_STREET_SPACES + 2 * parking.ON_STREET_SPACES
    assert {b.static_attributes["refParkingSite"] for b in spots} == places


def test_shuttles_move_between_stops_and_rest_at_night(day: sensors.Day) -> None:
    assert len(day.shuttles) == 12  # the first 12 of a 20-vehicle fleet (2000 x 0.01)
    state, load = day.shuttle_state, day.shuttle_load
    assert (state[3 * 60] == IDLE).all()  # no requests at 03:00
    peak = state[7 * 60 : 9 * 60]
    assert (peak == WITH_PASSENGERS).any()
    assert (peak == TO_PICKUP).any()
    assert (load <= day.shuttle_capacity).all()
    assert (load >= 0).all()
    # Passengers on board exactly when the state says so.
    assert ((load > 0) == (state == WITH_PASSENGERS)).all()
    # Standing vehicles report speed 0 and heading -1 (the SDM's rule); moving ones a bearing.
    standing = day.shuttle_speed == 0
    assert (day.shuttle_heading[standing] == -1).all()
    assert ((day.shuttle_heading[~standing] >= 0) & (day.shuttle_heading[~standing] < 360)).all()
    assert (day.shuttle_speed < 120).all()
    # Positions stay in Sejong and change while driving.
    assert ((day.shuttle_lon > 127.0) & (day.shuttle_lon < 127.5)).all()
    assert ((day.shuttle_lat > 36.3) & (day.shuttle_lat < 36.8)).all()
    moved = np.hypot(np.diff(day.shuttle_lon, axis=0), np.diff(day.shuttle_lat, axis=0)) > 0
    assert moved[~standing[1:]].mean() > 0.9
    # Served passengers only grow through the day.
    assert (np.diff(day.shuttle_served.astype(int), axis=0) >= 0).all()
    assert day.shuttle_served[-1].sum() > 0


def test_trajectories_replay_the_fleet_legs() -> None:
    """A two-zone toy: one request, one vehicle; the trajectory follows the plan exactly."""
    times = np.array([[2.0, 10.0], [10.0, 2.0]])
    dist = np.array([[1.0, 5.0], [5.0, 1.0]])
    req = DrtRequests(
        time_min=np.array([100.0]),
        origin=np.array([1]),
        destination=np.array([0]),
        walk_access_min=np.array([1.0]),
        walk_egress_min=np.array([1.0]),
        trip=np.array([-1]),
    )
    params = DrtParams(fleet_size=1, rebalance_every_min=0, batch_s=60)
    res = simulate_drt(req, times, dist, params, start_zones=np.array([0]))
    assert res.served.all()
    legs = res.legs
    assert list(legs["to_kind"]) == [1, -1]  # to the pick-up, then to the drop-off
    # The idle vehicle leaves when the request is dispatched (minute 100), not when it
    # became idle (minute 0): drive_start is the real departure.
    assert legs["depart_min"][0] == 0.0
    assert legs["drive_start_min"][0] == pytest.approx(100.0)
    assert legs["drive_min"][0] == pytest.approx(10.0)
    tr = make_trajectories(
        legs,
        res.start_zone,
        np.array([0]),
        zone_lon=np.array([127.25, 127.30]),
        zone_lat=np.array([36.50, 36.50]),
        zone_area_km2=np.array([4.0, 4.0]),
        minutes=200,
    )
    s = tr.state[:, 0]
    assert (s[:100] == IDLE).all()
    assert (s[100:110] == TO_PICKUP).all()
    assert s[120] == WITH_PASSENGERS
    assert tr.load[120, 0] == 1
    assert (s[140:] == IDLE).all()
    assert tr.served[-1, 0] == 1
    assert not (s == REBALANCING).any()
    # Driving east from zone 0 to zone 1: longitude grows, heading roughly east.
    assert tr.lon[105, 0] > tr.lon[100, 0]
    assert 0 < tr.heading[105, 0] < 180


def test_spaces_follow_the_zone_occupancy(city: City, day: sensors.Day) -> None:
    column = {int(z): j for j, z in enumerate(day.zones)}
    for place in parking.places(city):
        j = column[place.zone]
        share = day.occupied[:, j] / day.total[j]
        counts = []
        for minute in range(0, 1440, 30):
            taken = parking.occupied_spaces(place, float(share[minute]))
            assert taken.sum() == round(share[minute] * place.size)
            counts.append(int(taken.sum()))
        # A fuller zone never frees a space a emptier one had taken (fill order by rank).
        low = parking.occupied_spaces(place, 0.3)
        high = parking.occupied_spaces(place, 0.7)
        assert (high | ~low).all()
        assert min(counts) < max(counts), place.key  # occupancy varies through the day
    assert len({p.key for p in parking.places(city)}) == len(parking.PLACES)


def test_spaces_lie_next_to_their_station(city: City) -> None:
    net = city.network
    for place in parking.places(city):
        node = net.node_index[place.key]
        dx = (place.spot_lon - net.node_lon[node]) * 111_320 * np.cos(np.radians(36.5))
        dy = (place.spot_lat - net.node_lat[node]) * 111_320
        d = np.hypot(dx, dy)
        assert (d > 5).all()
        assert (d < 200).all()
        # spaces do not overlap: neighbours at least one space width apart
        pts = np.column_stack([dx, dy])
        gaps = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() >= parking.SIZE_M[place.kind][0] - 0.01  # [m]
