"""KPI arithmetic behind reports and ``twin compare``: changes, the three targets, fleet ratio."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.twin._report_targets import (
    check_targets,
    compare_rows,
    flatten,
    fleet_ratio,
    freeflow_commute_change,
)

REF: dict[str, Any] = {
    "scenario": "baseline",
    "scale": 1.0,
    "private_cars": 174_000,
    "shared_vehicles": 2_000,
    "mean_commute_time_min": 20.0,
    "mean_commute_time_freeflow_min": 18.0,
    "mean_cost_krw_per_trip": 900.0,
    "mode_share": {"car": 0.4, "walk": 0.3},
    "flag": True,
}
LIMITS = {"private_cars_max_ratio": 0.34, "commute_time_max_increase": 0.1, "cost_max_increase": 0}


def _run(**changes: Any) -> dict[str, Any]:
    return {**REF, "scenario": "car-third", **changes}


def test_flatten_keeps_numbers_nests_tables_and_drops_the_rest() -> None:
    flat = flatten(REF)
    assert flat["mode_share.car"] == 0.4
    assert isinstance(flat["private_cars"], int)
    assert "flag" not in flat
    assert "scenario" not in flat


def test_compare_rows_give_differences_and_shares() -> None:
    rows = {r[0]: r[1:] for r in compare_rows(REF, _run(private_cars=58_000))}
    assert rows["private_cars"][:3] == (174_000, 58_000, -116_000)
    assert rows["private_cars"][3] == pytest.approx(-116 / 174)
    assert "scale" not in rows  # run settings are not compared
    zero = {**REF, "shared_vehicles": 0}
    assert dict((r[0], r[4]) for r in compare_rows(zero, REF))["shared_vehicles"] is None


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        (
            (58_000, 22.0, 900.0),
            [True, True, True],
        ),
        (
            (60_000, 22.0, 800.0),
            [False, True, True],
        ),
        (
            (58_000, 22.1, 800.0),
            [True, False, True],
        ),
        (
            (58_000, 19.0, 901.0),
            [True, True, False],
        ),
    ],
)
def test_each_target_is_checked_on_its_own_limit(
    changes: tuple[int, float, float], met: list[bool]
) -> None:
    cars, commute, cost = changes
    run = _run(private_cars=cars, mean_commute_time_min=commute, mean_cost_krw_per_trip=cost)
    checks = check_targets(run, REF, LIMITS)
    assert [c.key for c in checks] == [
        "private_cars",
        "mean_commute_time_min",
        "mean_cost_krw_per_trip",
    ]
    assert [c.met for c in checks] == met
    assert checks[1].value == pytest.approx(commute / 20.0 - 1)


def test_fleet_ratio_is_cars_removed_per_shared_vehicle() -> None:
    assert fleet_ratio(_run(private_cars=58_000, shared_vehicles=8_000), REF) == 14.5
    assert fleet_ratio(_run(shared_vehicles=0), REF) is None
    assert fleet_ratio(_run(private_cars=180_000), REF) is None  # no car removed


def test_freeflow_commute_change() -> None:
    change = freeflow_commute_change(_run(mean_commute_time_freeflow_min=19.8), REF)
    assert change == pytest.approx(0.1)
    assert freeflow_commute_change({"scenario": "x"}, REF) is None
