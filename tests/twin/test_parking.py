"""Parking accumulation, supply and illegal-parking pressure, checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.twin.parking import (
    SupplyRates,
    hourly_peak,
    illegal_parking,
    parked_cars,
    parking_spaces_needed,
    parking_supply,
)

# Zone 0 has two cars at home, zone 1 one. Car a: 0 -> 1, 60 -> 70 and back 600 -> 610;
# car b: 0 -> 1, 65 -> 80, stays.
ORIGIN = np.array([0, 0, 1])
DEST = np.array([1, 1, 0])
DEP = np.array([60.0, 65.0, 600.0])
ARR = np.array([70.0, 80.0, 610.0])
HOME = np.array([2, 1])


def test_accumulation_by_hand() -> None:
    occ = parked_cars(ORIGIN, DEST, DEP, ARR, HOME)
    assert occ.shape == (1440, 2)
    assert occ[0].tolist() == [2, 1]
    assert occ[60].tolist() == [1, 1]  # a has left
    assert occ[65].tolist() == [0, 1]  # b has left, a is driving
    assert occ[70].tolist() == [0, 2]
    assert occ[80].tolist() == [0, 3]
    assert occ[605].tolist() == [0, 2]  # a on its way home
    assert occ[1439].tolist() == [1, 2]
    peak = hourly_peak(occ)
    assert peak.shape == (24, 2)
    assert peak[0].tolist() == [2, 1]
    assert peak[1].tolist() == [1, 3]
    assert peak[10].tolist() == [1, 2]
    assert parking_spaces_needed(peak) == 5  # zone 0 peaks at 2, zone 1 at 3


def test_illegal_parking_by_hand() -> None:
    peak = hourly_peak(parked_cars(ORIGIN, DEST, DEP, ARR, HOME))
    count, share = illegal_parking(peak, np.array([1, 2]))
    assert count[0].tolist() == [1, 0]  # two cars on one space overnight
    assert count[1].tolist() == [0, 1]
    assert share[1, 1] == pytest.approx(1 / 3)
    assert share[0, 0] == pytest.approx(1 / 2)
    empty, share0 = illegal_parking(np.zeros((1, 2), dtype=np.int64), np.array([0, 0]))
    assert empty.sum() == 0
    assert share0.sum() == 0.0


def test_supply_of_the_city(city) -> None:  # noqa: ANN001
    s = parking_supply(city)
    kinds = np.array(city.facilities.kind)
    assert s["public"].sum() == city.facilities.capacity[kinds == "parking"].sum()
    assert (s["total"] == s["public"] + s["residential"] + s["building"]).all()
    z = city.zones
    i = z.zone_type.index("newtown")
    assert s["residential"][i] == round(z.households[i] * 1.2)
    assert s["building"][i] == round(z.jobs[i] * 0.3)
    assert s["total"].sum() > z.cars.sum()  # more spaces than household cars overall
    with pytest.raises(ValueError, match="per_job"):
        SupplyRates(per_job=-1.0)
