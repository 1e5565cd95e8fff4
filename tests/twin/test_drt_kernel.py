"""The compiled cheapest-insertion search chooses exactly what the array formulation chose."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.twin._drt_fleet import INF, Fleet, Insertion  # noqa: F401 - INF: reference
from cityos.twin.drt import DrtParams, DrtRequests, simulate_drt

IntArray = np.ndarray
FloatArray = np.ndarray


# The numpy formulation the kernel replaced (cityos 2026-11), kept as the reference.
def reference_best(
    self: Fleet,
    c: IntArray,
    origin: int,
    destination: int,
    ready: float,
    latest_pickup: float,
    max_ride: float,
    now: float,
    times: FloatArray,
) -> Insertion | None:
    n = self.n_stops[c]
    kp = int(n.max()) + 1  # positions 0 (anchor) .. n
    dw = self.dwell_min
    pos = np.arange(kp)
    valid = pos[None, :] <= n[:, None]
    zs = np.column_stack([self.anchor_zone[c], self.zone[c, : kp - 1]])
    arr = np.column_stack([np.full(len(c), -INF), self.arr[c, : kp - 1]])
    dep = np.where(pos[None, :] == 0, self.start_times(now)[c][:, None], arr + dw)
    slack = np.column_stack([np.full(len(c), INF), self.deadline[c, : kp - 1] - arr[:, 1:]])
    slack = np.where(valid, slack, INF)
    load = np.where(valid, np.column_stack([self.anchor_load[c], self.load[c, : kp - 1]]), 0)
    zn = np.column_stack([zs[:, 1:], np.zeros(len(c), dtype=np.int64)])
    an = np.column_stack([arr[:, 1:], np.full(len(c), INF)])
    has_next = pos[None, :] < n[:, None]
    # pick-up after position i
    a_p = np.maximum(dep + times[zs, origin], ready)
    d_p = a_p + dw
    delay_p = np.where(has_next, np.maximum(0.0, d_p + times[origin, zn] - an), 0.0)
    # drop-off after position j (j == i: straight after the pick-up)
    same = pos[:, None] == pos[None, :]
    a_d = np.where(
        same[None],
        (d_p + times[origin, destination])[:, :, None],
        (dep + times[zs, destination])[:, None, :] + delay_p[:, :, None],
    )
    d_d = a_d + dw
    after_d = np.maximum(0.0, d_d + times[destination, zn][:, None, :] - an[:, None, :])
    end_dep = dep[np.arange(len(c)), n]
    cost = np.where(has_next[:, None, :], after_d, d_d - end_dep[:, None, None])
    # ranges over the plan: loads on [i, j], slack on (i, j] and after j
    ge = pos[None, :, None] <= pos[None, None, :]
    max_load = np.maximum.accumulate(
        np.where(ge, load[:, None, :], -1), axis=2
    )  # [m, i, j] = max load over i..j
    gt = pos[None, :, None] < pos[None, None, :]
    min_slack_in = np.minimum.accumulate(
        np.where(gt, slack[:, None, :], INF), axis=2
    )  # [m, i, j] = min slack over i < k <= j
    suffix = np.minimum.accumulate(slack[:, ::-1], axis=1)[:, ::-1]
    min_slack_after = np.column_stack([suffix[:, 1:], np.full(len(c), INF)])
    ok = (
        ge
        & valid[:, None, :]
        & (a_p <= latest_pickup)[:, :, None]
        & (a_d - a_p[:, :, None] <= max_ride)
        & (max_load + 1 <= self.capacity)
        & (min_slack_in >= delay_p[:, :, None])
        & (min_slack_after[:, None, :] >= after_d)
    )
    if not ok.any():
        return None
    # cheapest vehicle time; earlier pick-up breaks ties
    score = np.where(ok, cost + 1e-3 * (a_p - ready)[:, :, None], INF)
    m, i, j = np.unravel_index(int(np.argmin(score)), score.shape)
    return Insertion(int(c[m]), int(i), int(j), float(cost[m, i, j]), float(a_p[m, i]))


def _requests(n: int, zones: int, rng: np.random.Generator) -> DrtRequests:
    t = np.sort(rng.uniform(0, 600, n))
    o = rng.integers(0, zones, n)
    d = (o + rng.integers(1, zones, n)) % zones
    return DrtRequests(
        time_min=t,
        origin=o.astype(np.int64),
        destination=d.astype(np.int64),
        walk_access_min=rng.uniform(0, 4, n),
        walk_egress_min=rng.uniform(0, 4, n),
        trip=np.full(n, -1, dtype=np.int64),
    )


@pytest.mark.parametrize(("seed", "fleet", "capacity"), [(1, 8, 4), (2, 25, 6), (3, 60, 8)])
def test_kernel_matches_the_array_formulation(
    monkeypatch: pytest.MonkeyPatch, seed: int, fleet: int, capacity: int
) -> None:
    rng = np.random.default_rng(seed)
    zones = 12
    xy = rng.uniform(0, 10, (zones, 2))
    dist = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2) + 0.5  # [km]
    times = dist / 30.0 * 60.0  # 30 km/h [min]
    calls = {"n": 0, "found": 0}
    compiled = Fleet._best

    def both(self: Fleet, c: IntArray, *args: float) -> Insertion | None:
        got = compiled(self, c, *args)  # type: ignore[arg-type]
        with np.errstate(invalid="ignore"):
            want = reference_best(self, c, *args)  # type: ignore[arg-type]
        assert got == want
        calls["n"] += 1
        calls["found"] += got is not None
        return got

    monkeypatch.setattr(Fleet, "_best", both)
    params = DrtParams(seed=seed, fleet_size=fleet, capacity=capacity, max_wait_min=10)
    result = simulate_drt(_requests(1500, zones, rng), times, dist, params)
    assert calls["n"] > 500
    assert calls["found"] > 0
    if fleet < 20:  # a small fleet also meets requests no vehicle can take
        assert calls["found"] < calls["n"]
    assert result.served.any()
