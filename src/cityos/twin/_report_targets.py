"""KPI arithmetic for reports and ``cityos twin compare``: changes, targets, fleet ratio.

Pure functions on KPI dictionaries (the content of ``kpis.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Published fleet ratios: private cars one shared autonomous vehicle replaces.
LITERATURE_FLEET_RATIOS = (
    (
        "Fagnant & Kockelman (2014), Transp. Res. C 40: agent-based SAVs in a gridded city "
        "(Austin-like); each SAV replaced about 11 conventional vehicles",
        11.0,
    ),
    (
        "ITF/OECD (2015) Urban Mobility System Upgrade, Lisbon: shared self-driving taxis and "
        "buses with high-capacity transit did the trips of today's cars with about 10 % of "
        "the vehicles, i.e. about 10 cars per shared vehicle",
        10.0,
    ),
)


@dataclass(frozen=True)
class TargetCheck:
    """One policy target against the reference scenario."""

    key: str
    label_ko: str
    label_en: str
    value: float  # scenario / reference - 1, or the ratio for private cars [-]
    limit: float  # [-]
    met: bool


def flatten(kpis: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Return the numeric KPIs with nested tables as ``table.key`` entries."""
    out: dict[str, float] = {}
    for k, v in kpis.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = v  # ints stay ints (counts in CSV files)
    return out


def compare_rows(
    a: dict[str, Any], b: dict[str, Any]
) -> list[tuple[str, float, float, float, float | None]]:
    """Return (kpi, a, b, b - a, (b - a) / a or None) for the numeric KPIs both have."""
    fa, fb = flatten(a), flatten(b)
    rows = []
    for k in fa:
        if k in fb and k not in ("scale", "seed"):
            diff = fb[k] - fa[k]
            rows.append((k, fa[k], fb[k], diff, diff / fa[k] if fa[k] else None))
    return rows


def _change(kpis: dict[str, Any], ref: dict[str, Any], key: str) -> float:
    base = float(ref[key])
    return float(kpis[key]) / base - 1.0 if base else 0.0


def check_targets(
    kpis: dict[str, Any], ref: dict[str, Any], targets: dict[str, float]
) -> list[TargetCheck]:
    """Return the scenario's three targets (cars, commute time, cost) against ``ref``."""
    cars = float(kpis["private_cars"]) / max(float(ref["private_cars"]), 1.0)
    commute = _change(kpis, ref, "mean_commute_time_min")
    cost = _change(kpis, ref, "mean_cost_krw_per_trip")
    lim_cars = targets["private_cars_max_ratio"]
    lim_commute = targets["commute_time_max_increase"]
    lim_cost = targets["cost_max_increase"]
    return [
        TargetCheck(
            "private_cars",
            "자가용 대수 (기준 대비 비율)",
            "private cars / reference",
            cars,
            lim_cars,
            cars <= lim_cars + 1e-12,
        ),
        TargetCheck(
            "mean_commute_time_min",
            "평균 통근 시간 변화",
            "mean commute time change",
            commute,
            lim_commute,
            commute <= lim_commute + 1e-12,
        ),
        TargetCheck(
            "mean_cost_krw_per_trip",
            "통행당 평균 비용 변화",
            "mean cost per trip change",
            cost,
            lim_cost,
            cost <= lim_cost + 1e-12,
        ),
    ]


def fleet_ratio(kpis: dict[str, Any], ref: dict[str, Any]) -> float | None:
    """Return private cars removed per shared vehicle of the scenario's fleet [-]."""
    removed = float(ref["private_cars"]) - float(kpis["private_cars"])
    shared = float(kpis["shared_vehicles"])
    if shared <= 0 or removed <= 0:
        return None
    return removed / shared


def freeflow_commute_change(kpis: dict[str, Any], ref: dict[str, Any]) -> float | None:
    """Return the commute-time change with car times at free flow in both runs [-]."""
    key = "mean_commute_time_freeflow_min"
    if key not in kpis or key not in ref or not ref[key]:
        return None
    return float(kpis[key]) / float(ref[key]) - 1.0
