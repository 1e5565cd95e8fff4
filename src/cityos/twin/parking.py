"""Parking: where the city's cars stand, hour by hour, against the spaces each zone has.

Pure functions on arrays (pvlib style):

- ``parked_cars``: cars parked per (minute, zone) from the household cars at home overnight
  and the day's car trips (a car leaves its zone at departure and is parked again in the
  destination zone at arrival) - a stock-flow accumulation.
- ``hourly_peak``: the highest accumulation within each hour.
- ``parking_supply``: off-street spaces per zone: the public car parks of the city model's
  facilities plus residential and non-residential (building) spaces derived from households
  and jobs where the bundle has none (rates in ``SupplyRates``, each labelled).
- ``illegal_parking``: cars beyond the supply, as a count and a share per (hour, zone).
- ``parking_spaces_needed``: the sum over zones of each zone's peak accumulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cityos.twin.city import City

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

__all__ = [
    "SupplyRates",
    "hourly_peak",
    "illegal_parking",
    "parked_cars",
    "parking_spaces_needed",
    "parking_supply",
]


@dataclass(frozen=True)
class SupplyRates:
    """Derived off-street parking rates where the city model has no count (assumed)."""

    # spaces per household by zone type [spaces/household] - assumed, because Sejong's
    # apartment-complex parking is not in the bundle; new-town complexes are built to about
    # 1.0-1.3 spaces per home under the Housing Construction Standards (주택건설기준 등에 관한
    # 규정, art. 27, by floor area); older town and village housing has less.
    residential: tuple[tuple[str, float], ...] = (
        ("newtown", 1.2),
        ("jochiwon", 0.9),
        ("myeon", 0.8),
    )
    # building (non-residential) spaces per job [spaces/job] - assumed, because attached
    # parking of offices and shops (부설주차장) is not in the bundle
    per_job: float = 0.3

    def __post_init__(self) -> None:
        for kind, rate in self.residential:
            if not 0 <= rate <= 5:
                raise ValueError(f"residential rate for {kind} must be in [0, 5]")
        if not 0 <= self.per_job <= 5:
            raise ValueError("per_job must be in [0, 5] spaces/job")


def parked_cars(
    origin: IntArray,
    destination: IntArray,
    depart_min: FloatArray,
    arrive_min: FloatArray,
    at_home: IntArray,
    horizon_min: int = 1440,
) -> IntArray:
    """Return cars parked per (minute, zone): home stock minus departures plus arrivals."""
    n_z = len(at_home)
    change = np.zeros((horizon_min + 1, n_z), dtype=np.int64)
    dep = np.clip(np.floor(depart_min).astype(np.int64), 0, horizon_min)
    arr = np.clip(np.floor(arrive_min).astype(np.int64), 0, horizon_min)
    np.add.at(change, (dep, np.asarray(origin, dtype=np.int64)), -1)
    np.add.at(change, (arr, np.asarray(destination, dtype=np.int64)), 1)
    return np.asarray(at_home, dtype=np.int64)[None, :] + np.cumsum(change[:horizon_min], axis=0)


def hourly_peak(per_minute: IntArray, bin_min: int = 60) -> IntArray:
    """Return the maximum of each ``bin_min`` block of a (minute, zone) array."""
    n = per_minute.shape[0] // bin_min * bin_min
    return per_minute[:n].reshape(-1, bin_min, per_minute.shape[1]).max(axis=1)


def parking_supply(city: City, rates: SupplyRates | None = None) -> dict[str, IntArray]:
    """Return off-street spaces per zone: public car parks, residential, building, total."""
    rates = rates or SupplyRates()
    z, f = city.zones, city.facilities
    zone_of = np.array([z.index.get(code, -1) for code in f.zone])
    is_park = (np.array(f.kind) == "parking") & (zone_of >= 0)
    public = np.bincount(zone_of[is_park], f.capacity[is_park], minlength=len(z))
    per_household = dict(rates.residential)
    res_rate = np.array([per_household.get(t, 1.0) for t in z.zone_type])
    residential = np.round(z.households * res_rate)
    building = np.round(z.jobs * rates.per_job)
    out = {
        "public": public.astype(np.int64),
        "residential": residential.astype(np.int64),
        "building": building.astype(np.int64),
    }
    out["total"] = out["public"] + out["residential"] + out["building"]
    return out


def illegal_parking(demand: IntArray, supply: IntArray) -> tuple[IntArray, FloatArray]:
    """Return cars without a legal space, count and share of parked cars, per (hour, zone)."""
    excess = np.maximum(np.asarray(demand) - np.asarray(supply)[None, :], 0)
    share = np.divide(
        excess, demand, out=np.zeros(excess.shape, dtype=np.float64), where=demand > 0
    )
    return excess.astype(np.int64), share


def parking_spaces_needed(demand: IntArray) -> int:
    """Return the spaces needed so every zone holds its own peak: sum of zone peaks."""
    return int(np.asarray(demand).max(axis=0).sum())
