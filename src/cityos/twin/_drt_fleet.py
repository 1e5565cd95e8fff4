"""The shuttle fleet's state: each vehicle's committed stop and its plan of stops, as arrays.

Every vehicle has an *anchor* - the stop it is at or already driving to, which can no longer
change - and a plan of at most ``max_stops`` further stops (pick-ups, drop-offs, rebalancing
moves) with planned arrival times, earliest service times, deadlines and loads. State is whole
numpy arrays of shape (vehicles, max_stops) (Mesa style); only an accepted insertion touches
one vehicle's row in Python.

Cheapest insertion (Jaw et al. 1986; as in MATSim's DRT module, Bischoff, Maciejewski &
Nagel 2017): a request's pick-up P and drop-off D are tried at every pair of positions
i <= j of a candidate vehicle's plan; the insertion must keep the vehicle's load within its
capacity, the new pick-up within the latest pick-up time, the new ride within the maximum
ride time, and every planned stop within its deadline. Delays are propagated in full, without
crediting slack where a vehicle would have waited, so an accepted insertion is always feasible.

Jaw, J.-J., Odoni, A., Psaraftis, H., Wilson, N. (1986) A heuristic algorithm for the
multi-vehicle advance request dial-a-ride problem with time windows. Transp. Res. B 20(3).
Bischoff, J., Maciejewski, M., Nagel, K. (2017) City-wide shared taxis: a simulation study in
Berlin. IEEE ITSC 2017.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cityos.twin._drt_kernel import best_insertion as best_insertion_kernel

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PICKUP, DROPOFF, MOVE = 1, -1, 0  # stop kinds; the value is the change in load
INF = np.inf


@dataclass(frozen=True)
class Insertion:
    """The cheapest feasible insertion of one request into one vehicle's plan."""

    vehicle: int
    pickup_after: int  # P goes after this many planned stops
    dropoff_after: int  # D goes after this many planned stops (>= pickup_after)
    cost_min: float  # increase of the plan's end time [min]
    pickup_min: float  # planned pick-up time [min]


class Fleet:
    """Positions, plans and logs of ``n`` shuttles of equal ``capacity``."""

    def __init__(
        self, start_zone: IntArray, capacity: int, dwell_min: float, max_stops: int
    ) -> None:
        n = len(start_zone)
        k = max_stops
        self.capacity = capacity
        self.dwell_min = dwell_min
        self.max_stops = k
        self.anchor_zone = np.asarray(start_zone, dtype=np.int64).copy()
        self.anchor_dep = np.zeros(n)  # departure from the anchor, or idle since [min]
        self.anchor_load = np.zeros(n, dtype=np.int64)  # passengers after the anchor stop
        self.n_stops = np.zeros(n, dtype=np.int64)  # planned stops after the anchor
        self.zone = np.zeros((n, k), dtype=np.int64)
        self.arr = np.full((n, k), INF)  # planned arrival [min]
        self.leg = np.zeros((n, k))  # travel time from the previous stop [min]
        self.go = np.zeros((n, k))  # planned departure from the previous stop [min]
        self.ready = np.zeros((n, k))  # earliest service (passenger at the stop) [min]
        self.deadline = np.full((n, k), INF)  # latest arrival [min]
        self.request = np.full((n, k), -1, dtype=np.int64)
        self.kind = np.zeros((n, k), dtype=np.int64)
        self.load = np.zeros((n, k), dtype=np.int64)  # passengers after the stop
        self._legs: list[tuple[IntArray, ...]] = []
        self._legs_t: list[tuple[FloatArray, ...]] = []
        self._events: list[tuple[IntArray, IntArray, FloatArray]] = []

    @property
    def size(self) -> int:
        """Return the number of vehicles."""
        return len(self.anchor_zone)

    def start_times(self, now: float) -> FloatArray:
        """Return when each vehicle can leave its anchor for a new stop [min]."""
        return np.maximum(self.anchor_dep, now)

    def advance(self, now: float) -> None:
        """Commit every planned stop a vehicle has left for by ``now``; log legs and service."""
        k = np.arange(self.max_stops)
        dep_prev = np.empty_like(self.arr)
        dep_prev[:, 0] = self.anchor_dep
        dep_prev[:, 1:] = self.arr[:, :-1] + self.dwell_min
        go = (k[None, :] < self.n_stops[:, None]) & (dep_prev <= now)
        count = np.cumprod(go, axis=1).sum(axis=1)
        rows = np.flatnonzero(count)
        if len(rows) == 0:
            return
        c = count[rows]
        done = k[None, :] < c[:, None]
        zone, load = self.zone[rows], self.load[rows]
        prev_zone = np.column_stack([self.anchor_zone[rows], zone[:, :-1]])
        prev_load = np.column_stack([self.anchor_load[rows], load[:, :-1]])
        veh = np.broadcast_to(rows[:, None], done.shape)
        self._legs.append(
            (veh[done], prev_zone[done], zone[done], prev_load[done], self.kind[rows][done])
        )
        self._legs_t.append(
            (dep_prev[rows][done], self.arr[rows][done], self.go[rows][done], self.leg[rows][done])
        )
        self._events.append((self.request[rows][done], self.kind[rows][done], self.arr[rows][done]))
        last = c - 1
        self.anchor_zone[rows] = zone[np.arange(len(rows)), last]
        self.anchor_load[rows] = load[np.arange(len(rows)), last]
        self.anchor_dep[rows] = self.arr[rows, last] + self.dwell_min
        src = np.minimum(k[None, :] + c[:, None], self.max_stops - 1)
        keep = k[None, :] < (self.n_stops[rows] - c)[:, None]
        for name, fill in (
            ("zone", 0),
            ("arr", INF),
            ("leg", 0.0),
            ("go", 0.0),
            ("ready", 0.0),
            ("deadline", INF),
            ("request", -1),
            ("kind", 0),
            ("load", 0),
        ):
            table = getattr(self, name)
            shifted = np.take_along_axis(table[rows], src, axis=1)
            table[rows] = np.where(keep, shifted, fill)
        self.n_stops[rows] -= c

    def best_insertion(
        self,
        candidates: IntArray,
        origin: int,
        destination: int,
        ready: float,
        latest_pickup: float,
        max_ride: float,
        now: float,
        times: FloatArray,
    ) -> Insertion | None:
        """Return the cheapest feasible insertion of a request among ``candidates``, if any."""
        c = candidates[self.n_stops[candidates] + 2 <= self.max_stops]
        if len(c) == 0:
            return None
        return self._best(c, origin, destination, ready, latest_pickup, max_ride, now, times)

    def _best(
        self,
        c: IntArray,
        origin: int,
        destination: int,
        ready: float,
        latest_pickup: float,
        max_ride: float,
        now: float,
        times: FloatArray,
    ) -> Insertion | None:
        m, i, j, cost, pickup = best_insertion_kernel(
            c,
            self.n_stops,
            self.anchor_zone,
            self.anchor_load,
            self.anchor_dep,
            now,
            self.zone,
            self.arr,
            self.deadline,
            self.load,
            times,
            origin,
            destination,
            ready,
            latest_pickup,
            max_ride,
            self.dwell_min,
            self.capacity,
        )
        if m < 0:
            return None
        return Insertion(int(c[m]), int(i), int(j), float(cost), float(pickup))

    def insert(
        self,
        ins: Insertion,
        request: int,
        origin: int,
        destination: int,
        ready: float,
        latest_pickup: float,
        max_ride: float,
        now: float,
        times: FloatArray,
    ) -> None:
        """Insert a request's pick-up and drop-off into one vehicle's plan and re-time it."""
        v, n = ins.vehicle, int(self.n_stops[ins.vehicle])
        stops = [
            [int(self.zone[v, s]), float(self.leg[v, s]), float(self.ready[v, s]),
             float(self.deadline[v, s]), int(self.request[v, s]), int(self.kind[v, s]),
             float(self.arr[v, s])]
            for s in range(n)
        ]  # fmt: skip
        stops.insert(ins.dropoff_after, [destination, -1.0, 0.0, INF, request, DROPOFF, -INF])
        stops.insert(ins.pickup_after, [origin, -1.0, ready, latest_pickup, request, PICKUP, -INF])
        self._write(v, stops, now, times, ride=(request, max_ride))

    def append_move(self, v: int, zone: int, now: float, times: FloatArray) -> None:
        """Send vehicle ``v`` on to ``zone`` after its plan (rebalancing)."""
        n = int(self.n_stops[v])
        if n + 1 > self.max_stops:
            return
        stops = [
            [int(self.zone[v, s]), float(self.leg[v, s]), float(self.ready[v, s]),
             float(self.deadline[v, s]), int(self.request[v, s]), int(self.kind[v, s]),
             float(self.arr[v, s])]
            for s in range(n)
        ]  # fmt: skip
        stops.append([zone, -1.0, 0.0, INF, -1, MOVE, -INF])
        self._write(v, stops, now, times)

    def _write(
        self,
        v: int,
        stops: list[list],
        now: float,
        times: FloatArray,
        ride: tuple[int, float] | None = None,
    ) -> None:
        """Re-time a vehicle's plan: new legs at today's times, old legs kept, never earlier."""
        prev_zone, prev_dep = int(self.anchor_zone[v]), float(self.start_times(now)[v])
        load = int(self.anchor_load[v])
        pickup_at = INF
        prev_new = False
        for s, (zone, leg, ready, deadline, req, kind, old_arr) in enumerate(stops):
            is_new = old_arr == -INF
            if is_new or prev_new:
                leg = float(times[prev_zone, zone])  # a new stop, or the one after it
            prev_new = is_new
            arrive = max(prev_dep + leg, ready, old_arr)
            if ride is not None and req == ride[0]:
                if kind == PICKUP:
                    pickup_at = arrive
                else:
                    deadline = pickup_at + ride[1]
            load += kind
            self.zone[v, s], self.leg[v, s], self.ready[v, s] = zone, leg, ready
            self.deadline[v, s], self.request[v, s], self.kind[v, s] = deadline, req, kind
            self.arr[v, s], self.load[v, s], self.go[v, s] = arrive, load, prev_dep
            prev_zone, prev_dep = zone, arrive + self.dwell_min
        self.n_stops[v] = len(stops)

    def logs(self) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
        """Return the committed legs and the service events as arrays."""
        if self._legs:
            cols = [np.concatenate(x) for x in zip(*self._legs, strict=True)]
            tcols = [np.concatenate(x) for x in zip(*self._legs_t, strict=True)]
            ecols = [np.concatenate(x) for x in zip(*self._events, strict=True)]
        else:
            cols = [np.zeros(0, dtype=np.int64)] * 5
            tcols = [np.zeros(0)] * 4
            ecols = [np.zeros(0, dtype=np.int64)] * 2 + [np.zeros(0)]
        legs = dict(zip(("vehicle", "from_zone", "to_zone", "load", "to_kind"), cols, strict=True))
        # depart_min: when the vehicle could leave (idle since, for an idle vehicle);
        # drive_start_min + drive_min: when it actually drove; arrive_min: service at the stop
        legs.update(
            depart_min=tcols[0], arrive_min=tcols[1], drive_start_min=tcols[2], drive_min=tcols[3]
        )
        events = dict(zip(("request", "kind", "time_min"), ecols, strict=True))
        return legs, events
