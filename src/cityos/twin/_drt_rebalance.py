"""Rebalancing of idle shuttles towards zones with expected demand (a simple, stated rule).

Rule: the idle vehicles are shared out over the zones in proportion to the requests expected
there in the coming horizon (largest-remainder rounding). Zones with more idle vehicles than
their share send the surplus to zones with fewer, nearest zone pairs first (by travel time,
ties by zone index), and only over pairs at most ``max_move_min`` apart. Within a zone the
lowest-numbered idle vehicles move first. This is the proportional rule of many DRT studies
(e.g. the "demand-proportional" strategy of MATSim's DRT rebalancing, Bischoff & Maciejewski
2020), solved greedily instead of as a transport problem.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def proportional_targets(total: int, expected: FloatArray) -> IntArray:
    """Return integer shares of ``total`` proportional to ``expected`` (largest remainder)."""
    expected = np.asarray(expected, dtype=np.float64)
    if total <= 0 or expected.sum() <= 0:
        return np.zeros(len(expected), dtype=np.int64)
    exact = total * expected / expected.sum()
    base = np.floor(exact).astype(np.int64)
    rest = total - int(base.sum())
    order = np.lexsort((np.arange(len(exact)), -(exact - base)))
    base[order[:rest]] += 1
    return base


def rebalance_moves(
    idle_zone: IntArray, expected: FloatArray, times: FloatArray, max_move_min: float
) -> tuple[IntArray, IntArray]:
    """Return (positions in ``idle_zone``, target zones) of the idle vehicles to move."""
    n_z = len(expected)
    have = np.bincount(idle_zone, minlength=n_z)
    target = proportional_targets(len(idle_zone), expected)
    surplus = np.maximum(have - target, 0)
    deficit = np.maximum(target - have, 0)
    if surplus.sum() == 0 or deficit.sum() == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    src, dst = np.nonzero((surplus[:, None] > 0) & (deficit[None, :] > 0))
    keep = times[src, dst] <= max_move_min
    src, dst = src[keep], dst[keep]
    order = np.lexsort((dst, src, times[src, dst]))
    queue = {z: list(np.flatnonzero(idle_zone == z)) for z in np.flatnonzero(surplus)}
    moved: list[int] = []
    to: list[int] = []
    for a, b in zip(src[order], dst[order], strict=True):
        k = int(min(surplus[a], deficit[b]))
        if k <= 0:
            continue
        moved += [int(x) for x in queue[a][:k]]
        to += [int(b)] * k
        queue[a] = queue[a][k:]
        surplus[a] -= k
        deficit[b] -= k
    return np.array(moved, dtype=np.int64), np.array(to, dtype=np.int64)
