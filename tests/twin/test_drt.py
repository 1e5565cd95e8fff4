"""Shuttle fleet: hand-worked dispatch on a line network, limits, rejection, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.twin.drt import (
    DrtParams,
    DrtRequests,
    idle_assignment,
    proportional_targets,
    rebalance_moves,
    simulate_drt,
)

# Four zones on a line, 5 min and 2 km apart; no time within a zone.
LINE = np.arange(4)
TIMES = 5.0 * np.abs(LINE[:, None] - LINE[None, :])
KM = 2.0 * np.abs(LINE[:, None] - LINE[None, :])


def _params(**kw: float) -> DrtParams:
    base = dict(
        fleet_size=2,
        capacity=4,
        batch_s=60.0,
        max_wait_min=15.0,
        max_detour=1.5,
        detour_slack_min=0.0,
        dwell_min=0.0,
        stop_spacing_m=0.0,
        rebalance_every_min=0.0,
    )
    base.update(kw)
    return DrtParams(**base)  # type: ignore[arg-type]


def _requests(t: list[float], o: list[int], d: list[int]) -> DrtRequests:
    n = len(t)
    return DrtRequests(
        time_min=np.array(t),
        origin=np.array(o, dtype=np.int64),
        destination=np.array(d, dtype=np.int64),
        walk_access_min=np.zeros(n),
        walk_egress_min=np.zeros(n),
        trip=np.arange(n, dtype=np.int64),
    )


# R0 0->3 at 0.5, R1 1->3 at 1.2, R2 3->0 at 1.5; vehicle 0 waits in zone 0, vehicle 1 in 3.
HAND = _requests([0.5, 1.2, 1.5], [0, 1, 3], [3, 3, 0])
STARTS = np.array([0, 3])


def test_hand_case_assignment_and_waits() -> None:
    r = simulate_drt(HAND, TIMES, KM, _params(), start_zones=STARTS)
    # Batch at 1.0: R0 -> vehicle 0 in its zone; picked up at 1.0 (wait 0.5), off at 16.
    # Batch at 2.0: vehicle 0 is committed to zone 3 until 16, too late for R1 (latest 16.2
    # but 16 + 10 = 26); vehicle 1 drives 3 -> 1 from 2.0, picks R1 up at 12 (wait 10.8).
    # R2 (latest 16.5) cannot join vehicle 1: both insertion points break R1's deadlines
    # (pick-up by 16.2, ride 15); vehicle 0 is in zone 3 at 16 -> wait 14.5, off at 31.
    assert r.vehicle.tolist() == [0, 1, 0]
    assert r.served.all()
    np.testing.assert_allclose(r.wait_min, [0.5, 10.8, 14.5])
    np.testing.assert_allclose(r.in_vehicle_min, [15.0, 10.0, 15.0])
    np.testing.assert_allclose(r.detour, [1.0, 1.0, 1.0])
    # vehicle 0: 0->3 and 3->0 with a passenger; vehicle 1: 3->1 empty, 1->3 occupied
    np.testing.assert_allclose(r.km_occupied, [12.0, 4.0])
    np.testing.assert_allclose(r.km_empty, [0.0, 4.0])
    assert r.rejection_rate == 0.0


def test_rejection_when_no_vehicle_can_come_in_time() -> None:
    r = simulate_drt(HAND, TIMES, KM, _params(max_wait_min=10.0), start_zones=STARTS)
    # R1 would wait 10.8 > 10: rejected; vehicle 1 (idle in zone 3) now takes R2 at 2.0.
    assert r.served.tolist() == [True, False, True]
    assert r.vehicle.tolist() == [0, -1, 1]
    np.testing.assert_allclose(r.wait_min[[0, 2]], [0.5, 0.5])
    assert np.isnan(r.wait_min[1])
    assert r.rejection_rate == pytest.approx(1 / 3)


def test_requests_share_a_vehicle() -> None:
    # Both at 0.2 (batch 1.0): A 0->3 goes to vehicle 0; B 1->3 is cheapest on the way
    # (pick-up at 1 + 5 = 6, no delay to A's drop-off at 16); vehicle 1 sits far off in 3.
    req = _requests([0.2, 0.4], [0, 1], [3, 3])
    r = simulate_drt(req, TIMES, KM, _params(), start_zones=STARTS)
    assert r.vehicle.tolist() == [0, 0]
    np.testing.assert_allclose(r.wait_min, [0.8, 5.6])
    np.testing.assert_allclose(r.in_vehicle_min, [15.0, 10.0])
    assert r.max_load.tolist() == [2, 0]
    np.testing.assert_allclose(r.km_occupied, [6.0, 0.0])


def test_assignment_policy_matches_idle_vehicles() -> None:
    req = _requests([0.2, 0.4], [0, 3], [3, 0])
    r = simulate_drt(req, TIMES, KM, _params(), idle_assignment, start_zones=STARTS)
    assert r.vehicle.tolist() == [0, 1]
    np.testing.assert_allclose(r.wait_min, [0.8, 0.6])


def _random_day(n: int, seed: int) -> DrtRequests:
    rng = np.random.default_rng(seed)
    o = rng.integers(0, 4, n)
    d = (o + rng.integers(1, 4, n)) % 4
    return DrtRequests(
        time_min=np.sort(rng.uniform(0, 120, n)),
        origin=o.astype(np.int64),
        destination=d.astype(np.int64),
        walk_access_min=rng.uniform(0, 3, n),
        walk_egress_min=rng.uniform(0, 3, n),
        trip=np.arange(n, dtype=np.int64),
    )


def test_limits_hold_and_run_is_deterministic() -> None:
    req = _random_day(400, 1)
    p = _params(fleet_size=6, capacity=4, rebalance_every_min=15.0, dwell_min=0.5)
    a = simulate_drt(req, TIMES + 1.0, KM, p)
    b = simulate_drt(req, TIMES + 1.0, KM, p)
    assert np.array_equal(a.vehicle, b.vehicle)
    np.testing.assert_array_equal(a.wait_min, b.wait_min)
    assert (a.max_load <= 4).all()
    assert a.max_load.max() >= 2  # rides are shared
    served = a.served
    assert 0 < served.sum() < len(served)  # some rejected, and counted
    assert (a.wait_min[served] <= p.max_wait_min + 1e-9).all()
    assert (a.wait_min[served] >= -1e-9).all()
    limit = p.max_detour * a.direct_min + p.detour_slack_min
    assert (a.in_vehicle_min[served] <= limit[served] + 1e-9).all()
    assert a.occupancy.max() <= 4.0
    c = simulate_drt(req, TIMES + 1.0, KM, DrtParams(**{**p.__dict__, "seed": 7}))
    assert not np.array_equal(a.vehicle, c.vehicle)  # seed sets the start positions


def test_time_dependent_times_are_used() -> None:
    req = _requests([0.5], [0], [3])
    slow = np.stack([TIMES, 2 * TIMES])  # second hour twice as slow
    r = simulate_drt(req, slow, KM, _params(), start_zones=STARTS)
    assert r.in_vehicle_min[0] == pytest.approx(15.0)
    late = _requests([60.5], [0], [3])
    r = simulate_drt(late, slow, KM, _params(), start_zones=STARTS)
    assert r.in_vehicle_min[0] == pytest.approx(30.0)
    assert r.detour[0] == pytest.approx(1.0)


def test_rebalancing_rule_by_hand() -> None:
    assert proportional_targets(5, np.array([1.0, 1.0, 2.0])).tolist() == [1, 1, 3]
    assert proportional_targets(0, np.array([1.0])).tolist() == [0]
    idle_zone = np.array([0, 0, 0, 0, 3], dtype=np.int64)
    expected = np.array([1.0, 0.0, 0.0, 4.0])  # targets 1, 0, 0, 4
    pos, to = rebalance_moves(idle_zone, expected, TIMES, max_move_min=30.0)
    assert pos.tolist() == [0, 1, 2]  # three surplus vehicles of zone 0, lowest first
    assert to.tolist() == [3, 3, 3]
    pos, _ = rebalance_moves(idle_zone, expected, TIMES, max_move_min=10.0)
    assert len(pos) == 0  # zone 3 is 15 min away


def test_params_are_checked() -> None:
    with pytest.raises(ValueError, match="capacity"):
        DrtParams(capacity=9)
    with pytest.raises(ValueError, match="max_detour"):
        DrtParams(max_detour=0.9)


@pytest.mark.slow
def test_full_sejong_day(city, population) -> None:  # noqa: ANN001
    from cityos.twin.demand import build_trips, demand_skims
    from cityos.twin.drt import drt_requests

    skims = demand_skims(city)
    trips = build_trips(city, population, skims=skims)
    params = DrtParams(fleet_size=3000)
    req = drt_requests(trips, params)
    r = simulate_drt(req, skims.car, skims.distance_km, params)
    assert req.n > 50_000
    assert r.rejection_rate < 0.10
    assert (r.max_load <= params.capacity).all()
    assert r.p95_wait_min <= params.max_wait_min
