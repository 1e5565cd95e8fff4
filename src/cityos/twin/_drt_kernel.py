"""The cheapest-insertion search of ``_drt_fleet.Fleet`` as one compiled loop (numba).

Same rule and same arithmetic, in the same order, as the array formulation it replaced, so
the chosen insertion is identical (ties: the first (vehicle, pick-up, drop-off) position in
that order). The arrays were (candidates x positions x positions) with a few dozen numpy
calls per request; at 24 candidates and plans of up to 14 stops the call overhead was most
of the shuttle stage's time (9 of 27 s CPU for a full-scale day).

Positions of a candidate's plan: 0 is its anchor (the stop it is at or driving to), 1..n its
planned stops. The pick-up goes after position i, the drop-off after position j >= i.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf


@njit(cache=True, nogil=True)
def best_insertion(  # noqa: PLR0913, PLR0912, PLR0915 - one flat loop for the compiler
    cands: np.ndarray,
    n_stops: np.ndarray,
    anchor_zone: np.ndarray,
    anchor_load: np.ndarray,
    anchor_dep: np.ndarray,
    now: float,
    zone: np.ndarray,
    arr: np.ndarray,
    deadline: np.ndarray,
    load: np.ndarray,
    times: np.ndarray,
    origin: int,
    destination: int,
    ready: float,
    latest_pickup: float,
    max_ride: float,
    dwell: float,
    capacity: int,
) -> tuple[int, int, int, float, float]:
    """Return (candidate row, i, j, cost, pick-up time); row -1 when none is feasible."""
    best_score = INF
    best = (-1, 0, 0, 0.0, 0.0)
    t_od = times[origin, destination]
    kp_max = 0
    for m in range(len(cands)):
        kp_max = max(kp_max, n_stops[cands[m]] + 1)
    zs = np.empty(kp_max, dtype=np.int64)
    ar = np.empty(kp_max)
    dep = np.empty(kp_max)
    slack = np.empty(kp_max)
    ld = np.empty(kp_max, dtype=np.int64)
    a_p = np.empty(kp_max)
    d_p = np.empty(kp_max)
    delay_p = np.empty(kp_max)
    np.empty(kp_max)  # d_d + times[d, next zone] - next arrival, before max(0, .)
    suffix = np.empty(kp_max + 1)
    for m in range(len(cands)):
        v = cands[m]
        n = n_stops[v]
        kp = n + 1
        for p in range(kp):
            if p == 0:
                zs[p] = anchor_zone[v]
                ar[p] = -INF
                dep[p] = max(anchor_dep[v], now)  # Fleet.start_times
                slack[p] = INF
                ld[p] = anchor_load[v]
            else:
                zs[p] = zone[v, p - 1]
                ar[p] = arr[v, p - 1]
                dep[p] = ar[p] + dwell
                slack[p] = deadline[v, p - 1] - ar[p]
                ld[p] = load[v, p - 1]
        suffix[kp] = INF
        for p in range(kp - 1, -1, -1):
            suffix[p] = min(slack[p], suffix[p + 1])
        for p in range(kp):
            a_p[p] = max(dep[p] + times[zs[p], origin], ready)
            d_p[p] = a_p[p] + dwell
            if p < n:
                delay_p[p] = max(0.0, d_p[p] + times[origin, zs[p + 1]] - ar[p + 1])
            else:
                delay_p[p] = 0.0
        end_dep = dep[n]
        for i in range(kp):
            if a_p[i] > latest_pickup:
                continue
            max_load = -1
            min_slack_in = INF
            for j in range(i, kp):
                max_load = max(max_load, ld[j])
                if j > i:
                    min_slack_in = min(min_slack_in, slack[j])
                a_d = d_p[i] + t_od if j == i else dep[j] + times[zs[j], destination] + delay_p[i]
                d_d = a_d + dwell
                if j < n:
                    after_d = max(0.0, d_d + times[destination, zs[j + 1]] - ar[j + 1])
                    cost = after_d
                else:
                    after_d = 0.0
                    cost = d_d - end_dep
                if not (a_d - a_p[i] <= max_ride):
                    continue
                if not (max_load + 1 <= capacity):
                    continue
                if not (min_slack_in >= delay_p[i]):
                    continue
                if not (suffix[j + 1] >= after_d):
                    continue
                score = cost + 1e-3 * (a_p[i] - ready)
                if score < best_score:
                    best_score = score
                    best = (m, i, j, cost, a_p[i])
    return best
