"""Dispatch policies of the shuttle fleet: the extension point and the two built-in policies.

A dispatch policy is any callable ``policy(fleet, batch, now, times) -> vehicles`` that
assigns some of a batch's requests to vehicles (by calling ``fleet.insert``) and returns the
vehicle of every request, -1 for a rejected one (PyVRP style: a tiny ``Protocol``).

- ``cheapest_insertion`` (default): requests in order of their time; each goes to the vehicle
  and plan positions that add the least vehicle time, among the ``candidates`` vehicles that
  could reach its pick-up soonest (pre-filtering as in MATSim's DRT module).
- ``idle_assignment``: no pooling; the batch's requests and the idle vehicles are matched by
  ``scipy.optimize.linear_sum_assignment`` (Kuhn 1955; Crouse 2016) on the pick-up time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from cityos.twin._drt_fleet import Fleet, Insertion

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_BIG = 1e9


@dataclass(frozen=True)
class RequestBatch:
    """The requests dispatched together at one batch time, in time order."""

    request: IntArray  # request index
    origin: IntArray  # zone index
    destination: IntArray  # zone index
    ready_min: FloatArray  # passenger at the pick-up point [min]
    latest_pickup_min: FloatArray  # ready + max wait [min]
    max_ride_min: FloatArray  # max detour x direct time + slack [min]


class DispatchPolicy(Protocol):
    """Assign a batch of requests to the fleet; return a vehicle per request (-1: rejected)."""

    def __call__(
        self, fleet: Fleet, batch: RequestBatch, now: float, times: FloatArray
    ) -> IntArray: ...


def _nearest(reach_by_zone: FloatArray, origin: int, latest: float, k: int) -> IntArray:
    """Return up to ``k`` vehicles that could reach ``origin`` by ``latest``, nearest first.

    ``reach_by_zone[z, v]`` is when vehicle v could reach zone z: its start time
    (``fleet.start_times(now)``) plus the time from its anchor; inserting a request changes
    neither, so it is computed once per batch.
    """
    reach = reach_by_zone[origin]
    ok = np.flatnonzero(reach <= latest)
    if len(ok) > k:
        part = np.argpartition(reach[ok], k - 1)[:k]
        ok = ok[part]
    return ok[np.lexsort((ok, reach[ok]))]


@dataclass(frozen=True)
class CheapestInsertion:
    """The default policy: cheapest feasible insertion, request by request."""

    candidates: int = 24  # vehicles examined per request, nearest to the pick-up first

    def __call__(
        self, fleet: Fleet, batch: RequestBatch, now: float, times: FloatArray
    ) -> IntArray:
        """Insert each request where it adds the least vehicle time; -1 if nowhere feasible."""
        out = np.full(len(batch.request), -1, dtype=np.int64)
        # anchors change only in fleet.advance: arrival of every vehicle at every zone
        reach_by_zone = fleet.start_times(now)[None, :] + times.T[:, fleet.anchor_zone]
        for r in range(len(batch.request)):
            o, d = int(batch.origin[r]), int(batch.destination[r])
            latest = float(batch.latest_pickup_min[r])
            cands = _nearest(reach_by_zone, o, latest, self.candidates)
            if len(cands) == 0:
                continue
            ready, ride = float(batch.ready_min[r]), float(batch.max_ride_min[r])
            ins = fleet.best_insertion(cands, o, d, ready, latest, ride, now, times)
            if ins is None:
                continue
            fleet.insert(ins, int(batch.request[r]), o, d, ready, latest, ride, now, times)
            out[r] = ins.vehicle
        return out


cheapest_insertion = CheapestInsertion()


def idle_assignment(fleet: Fleet, batch: RequestBatch, now: float, times: FloatArray) -> IntArray:
    """Match requests one-to-one to idle vehicles, minimising total pick-up time [min]."""
    out = np.full(len(batch.request), -1, dtype=np.int64)
    idle = np.flatnonzero((fleet.n_stops == 0) & (fleet.anchor_load == 0))
    if len(idle) == 0 or len(batch.request) == 0:
        return out
    start = fleet.start_times(now)[idle]
    arrive = start[None, :] + times[fleet.anchor_zone[idle][None, :], batch.origin[:, None]]
    pickup = np.maximum(arrive, batch.ready_min[:, None])
    feasible = pickup <= batch.latest_pickup_min[:, None]
    cost = np.where(feasible, pickup - batch.ready_min[:, None], _BIG)
    rows, cols = linear_sum_assignment(cost)
    for r, col in zip(rows, cols, strict=True):
        if cost[r, col] >= _BIG:
            continue
        v = int(idle[col])
        ins = Insertion(v, 0, 0, 0.0, float(pickup[r, col]))
        fleet.insert(
            ins,
            int(batch.request[r]),
            int(batch.origin[r]),
            int(batch.destination[r]),
            float(batch.ready_min[r]),
            float(batch.latest_pickup_min[r]),
            float(batch.max_ride_min[r]),
            now,
            times,
        )
        out[r] = v
    return out
