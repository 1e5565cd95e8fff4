"""Shuttle trajectories: where each vehicle of the fleet is, minute by minute, and what it does.

The fleet simulation (``_drt_fleet.Fleet``) already logs every leg a vehicle drives (from
zone, to zone, departure, arrival, passengers on board, kind of the stop it drives to) to
count kilometres and occupancy, so trajectories cost nothing extra in the batch run: this
module only reads those legs back for the vehicles live mode shows.

Positions: the twin's shuttles move between zones on zone-to-zone travel times, not on the
road graph, so a stop is a point drawn (seeded) inside its zone - uniform in a disc of radius
``STOP_RADIUS_SHARE`` x the radius of a circle of the zone's area around its centroid, the
stand-in for the virtual stop - and a moving vehicle is interpolated on the straight line
between its two stops at the leg's mean speed.

States (``IDLE`` .. ``REBALANCING``): driving with passengers on board; driving empty to a
pick-up; driving empty to a rebalancing target; standing (idle, or dwelling at a stop; a
vehicle dwelling with passengers on board stays ``WITH_PASSENGERS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cityos.twin._drt_fleet import DROPOFF, MOVE

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

IDLE, TO_PICKUP, WITH_PASSENGERS, REBALANCING = 0, 1, 2, 3
STATE_NAMES = ("idle", "toPickup", "withPassengers", "rebalancing")
STOP_RADIUS_SHARE = 0.5  # stops lie within half the zone's equivalent radius [-]
KM_PER_DEG_LAT = 111.32  # [km/deg]

__all__ = [
    "IDLE",
    "REBALANCING",
    "STATE_NAMES",
    "TO_PICKUP",
    "WITH_PASSENGERS",
    "Trajectories",
    "trajectories",
]


@dataclass(frozen=True)
class Trajectories:
    """Per-minute state of some shuttles, arrays of shape (minutes, vehicles)."""

    vehicles: IntArray  # fleet indices shown
    lon: FloatArray  # [deg]
    lat: FloatArray  # [deg]
    speed_kmh: FloatArray  # 0 when standing [km/h]
    heading: FloatArray  # bearing of the leg driven, -1 when standing [deg]
    state: NDArray[np.int8]  # IDLE, TO_PICKUP, WITH_PASSENGERS, REBALANCING
    load: NDArray[np.int8]  # passengers on board [-]
    served: NDArray[np.int16]  # passengers dropped off so far today [-]


def _points(
    zone: IntArray, lon: FloatArray, lat: FloatArray, area_km2: FloatArray, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Return one seeded stop point per entry of ``zone`` inside that zone [deg]."""
    r_km = STOP_RADIUS_SHARE * np.sqrt(area_km2[zone] / math.pi)
    rho = r_km * np.sqrt(rng.random(len(zone)))
    phi = rng.uniform(0.0, 2.0 * math.pi, len(zone))
    dlat = rho * np.cos(phi) / KM_PER_DEG_LAT
    dlon = rho * np.sin(phi) / (KM_PER_DEG_LAT * np.cos(np.radians(lat[zone])))
    return lon[zone] + dlon, lat[zone] + dlat


def _bearing(lon0: FloatArray, lat0: FloatArray, lon1: FloatArray, lat1: FloatArray) -> FloatArray:
    p0, p1, dl = np.radians(lat0), np.radians(lat1), np.radians(lon1 - lon0)
    y = np.sin(dl) * np.cos(p1)
    x = np.cos(p0) * np.sin(p1) - np.sin(p0) * np.cos(p1) * np.cos(dl)
    return np.asarray(np.round(np.degrees(np.arctan2(y, x)) % 360.0, 1) % 360.0)


def trajectories(
    legs: dict[str, NDArray],
    start_zone: IntArray,
    vehicles: IntArray,
    *,
    zone_lon: FloatArray,
    zone_lat: FloatArray,
    zone_area_km2: FloatArray,
    minutes: int = 1440,
    seed: int = 42,
) -> Trajectories:
    """Return the state of ``vehicles`` at every minute 0 .. ``minutes`` - 1 from the legs.

    ``legs`` are ``DrtResult.legs`` (vehicle, to_zone, load, to_kind, drive_start_min,
    drive_min, arrive_min); ``start_zone`` is each fleet vehicle's zone at the start of the day.
    """
    rng = np.random.default_rng([seed, 7])
    vehicles = np.asarray(vehicles, dtype=np.int64)
    n_v = len(vehicles)
    shape = (minutes, n_v)
    lon, lat = np.empty(shape), np.empty(shape)
    speed, heading = np.zeros(shape), np.full(shape, -1.0)
    state = np.zeros(shape, dtype=np.int8)
    load = np.zeros(shape, dtype=np.int8)
    served = np.zeros(shape, dtype=np.int16)
    t = np.arange(minutes, dtype=np.float64)
    sx, sy = _points(np.asarray(start_zone)[vehicles], zone_lon, zone_lat, zone_area_km2, rng)
    for col, v in enumerate(vehicles.tolist()):
        mine = np.flatnonzero(legs["vehicle"] == v)
        mine = mine[np.argsort(legs["drive_start_min"][mine], kind="stable")]
        if not len(mine):
            lon[:, col], lat[:, col] = sx[col], sy[col]
            continue
        go, drive = legs["drive_start_min"][mine], legs["drive_min"][mine]
        arr = legs["arrive_min"][mine]
        ex, ey = _points(legs["to_zone"][mine], zone_lon, zone_lat, zone_area_km2, rng)
        bx, by = np.r_[sx[col], ex[:-1]], np.r_[sy[col], ey[:-1]]  # from the last leg's end
        on = legs["load"][mine].astype(np.int64)
        kind = legs["to_kind"][mine].astype(np.int64)
        after = on + kind  # passengers after the stop (PICKUP +1, DROPOFF -1, MOVE 0)
        k = np.searchsorted(go, t, side="right") - 1  # the last leg begun (-1: none yet)
        has = k >= 0
        kk = np.maximum(k, 0)
        moving = has & (t < go[kk] + drive[kk])
        share = np.clip((t - go[kk]) / np.maximum(drive[kk], 1e-9), 0.0, 1.0)
        mx = bx[kk] + share * (ex[kk] - bx[kk])
        my = by[kk] + share * (ey[kk] - by[kk])
        lon[:, col] = np.where(moving, mx, np.where(has, ex[kk], sx[col]))
        lat[:, col] = np.where(moving, my, np.where(has, ey[kk], sy[col]))
        dist_km = np.hypot(
            (ex - bx) * KM_PER_DEG_LAT * np.cos(np.radians(ey)), (ey - by) * KM_PER_DEG_LAT
        )
        leg_kmh = dist_km / np.maximum(drive, 1e-9) * 60.0
        drives = moving & (dist_km[kk] > 0)
        speed[:, col] = np.where(drives, np.round(leg_kmh[kk], 1), 0.0)
        heading[:, col] = np.where(drives, _bearing(bx, by, ex, ey)[kk], -1.0)
        moving_state = np.where(
            on[kk] > 0, WITH_PASSENGERS, np.where(kind[kk] == MOVE, REBALANCING, TO_PICKUP)
        )
        aboard = np.where(has & (t >= arr[kk]), after[kk], np.where(has, on[kk], 0))
        standing_state = np.where(aboard > 0, WITH_PASSENGERS, IDLE)
        state[:, col] = np.where(moving, moving_state, standing_state)
        load[:, col] = np.where(moving, on[kk], aboard)
        # a passenger counts as served once the drop-off leg has arrived
        served[:, col] = np.searchsorted(arr[kind == DROPOFF], t, side="right")
    return Trajectories(
        vehicles=vehicles,
        lon=lon,
        lat=lat,
        speed_kmh=speed,
        heading=heading,
        state=state,
        load=load,
        served=served,
    )
