"""The report's words: a summary for planners, the targets, the fleet ratio, caveats.

Every sentence is built from the KPI numbers of the run (and its reference), in Korean and
English. HTML fragments only; ``report.render_report`` puts them together.
"""

from __future__ import annotations

import html
from typing import Any

from cityos.twin._report_targets import (
    LITERATURE_FLEET_RATIOS,
    TargetCheck,
    check_targets,
    fleet_ratio,
    freeflow_commute_change,
)
from cityos.twin.run import RunResult

# Road length Sejong's drawn network stands for: MOLIT road statistics, end-2018 (402 km).
SEJONG_ROAD_KM = 402.0


def _pct(new: float, old: float) -> str:
    return f"{100 * (new / old - 1):+.1f} %" if old else "-"


def summary_section(k: dict[str, Any], ref: dict[str, Any] | None) -> str:
    """Return the boxed summary: what the scenario does, in a few numbers."""
    if ref is None:
        ms = k["mode_share"]
        return (
            "<div class='summary'><h2>요약 Summary</h2><ul>"
            f"<li>주민 {k['population']:,}명이 하루 {k['trips']:,}회 통행 / {k['population']:,} "
            f"residents make {k['trips']:,} trips a day.</li>"
            f"<li>수단 분담률 / mode share: 자가용 car {100 * ms['car']:.0f} %, 셔틀 shared "
            f"{100 * ms['shared']:.0f} %, BRT·버스 transit {100 * ms['transit']:.0f} %, "
            f"자전거 bike {100 * ms['bike']:.0f} %, 도보 walk {100 * ms['walk']:.0f} %.</li>"
            f"<li>평균 통근 / mean commute <b>{k['mean_commute_time_min']:.1f} min</b>; 통행당 "
            f"비용 / cost per trip <b>{k['mean_cost_krw_per_trip']:,.0f} KRW</b>; 자가용 평균 "
            f"{k['mean_car_time_min']:.1f} min (자유통행 free flow "
            f"{k['mean_car_freeflow_min']:.1f} min).</li>"
            f"<li>CO2 {k['co2_t']:,.0f} t/day; 필요 주차면 parking spaces needed "
            f"{k['parking_spaces_needed']:,}.</li></ul></div>"
        )
    rows = [
        ("자가용 private cars", "private_cars", "{:,.0f}"),
        ("평균 통근시간 mean commute [min]", "mean_commute_time_min", "{:.1f}"),
        ("통행당 비용 cost per trip [KRW]", "mean_cost_krw_per_trip", "{:,.0f}"),
        ("자가용 분담률 car share [%]", "mode_share.car", "pct"),
        ("혼잡 지체 congestion delay [veh-h/day]", "congestion_delay_veh_h", "{:,.0f}"),
        ("필요 주차면 parking spaces needed", "parking_spaces_needed", "{:,.0f}"),
        ("CO2 [t/day]", "co2_t", "{:,.1f}"),
    ]
    cells = []
    for label, key, fmt in rows:
        a, b = _value(ref, key), _value(k, key)
        shown = (
            (f"{100 * a:.1f}", f"{100 * b:.1f}") if fmt == "pct" else (fmt.format(a), fmt.format(b))
        )
        cells.append(
            f"<tr><td>{label}</td><td>{shown[0]}</td><td>{shown[1]}</td><td>{_pct(b, a)}</td></tr>"
        )
    return (
        "<div class='summary'><h2>요약 Summary: what the policy does</h2>"
        f"<table><tr><th></th><th>{html.escape(ref['scenario'])}</th>"
        f"<th>{html.escape(k['scenario'])}</th><th>변화 change</th></tr>{''.join(cells)}</table>"
        "</div>"
    )


def _value(k: dict[str, Any], key: str) -> float:
    node: Any = k
    for part in key.split("."):
        node = node[part]
    return float(node)


def network_note(k: dict[str, Any]) -> str:
    """Return how congested the run's roads are and how far to trust it."""
    ratio = float(k["mean_car_time_min"]) / max(float(k["mean_car_freeflow_min"]), 1e-9)
    factor = float(k.get("road_capacity_factor", 1.0))
    text = (
        f"<p class='note'><b>도로망 Road network.</b> The drawn network (196 links, about 199 km "
        f"of road) stands for Sejong's roads (about {SEJONG_ROAD_KM:.0f} km, MOLIT road "
        f"statistics end-2018); its link capacities are multiplied by "
        f"<code>simulation.road_capacity_factor</code> = {factor:g} to stand for the parallel "
        f"roads it leaves out. In this run a car trip takes {k['mean_car_time_min']:.1f} min on "
        f"average against {k['mean_car_freeflow_min']:.1f} min at free flow ({ratio:.2f}x); "
        f"congestion delay {k['congestion_delay_veh_h']:,.0f} veh-h a day. "
    )
    if ratio > 2.0 or k.get("cars_unfinished", 0):
        text += (
            "<b>혼잡 과대평가 This is gridlock-like and overstated</b>: "
            f"{k['cars_unfinished']:,} cars have not arrived by the 30-hour horizon. Treat car "
            "times and delay as an upper bound.</p>"
        )
    else:
        text += (
            "Car times are sensitive to this factor (at 1.0 the drawn roads gridlock): see the "
            "sensitivity in docs/twin/scenarios.md.</p>"
        )
    return text


def targets_section(result: RunResult, ref: dict[str, Any]) -> str:
    """Return the three policy targets, met or not, and what the misses would take."""
    k = result.kpis
    checks = check_targets(k, ref, vars(result.scenario.targets))
    rows = ["<tr><th>목표 target</th><th>결과 value</th><th>한도 limit</th><th></th></tr>"]
    for c in checks:
        if c.key == "private_cars":
            val, lim = f"{100 * c.value:.1f} % of reference", f"≤ {100 * c.limit:.0f} %"
        else:
            val, lim = f"{100 * c.value:+.1f} %", f"≤ {100 * c.limit:+.0f} %"
        mark = (
            '<span class="ok">충족 met</span>'
            if c.met
            else '<span class="no">미충족 not met</span>'
        )
        rows.append(
            f"<tr><td>{c.label_ko} / {c.label_en}</td><td>{val}</td><td>{lim}</td>"
            f"<td>{mark}</td></tr>"
        )
    missed = [c for c in checks if not c.met]
    verdict = (
        "<p class='ok'>세 목표를 모두 충족합니다. All three targets are met together in the "
        "model; the caveats below say how firmly.</p>"
        if not missed
        else "<p class='no'>세 목표를 동시에 충족하지 못합니다. The targets are not met "
        "together; missed: " + ", ".join(c.label_en for c in missed) + ".</p>"
    )
    return (
        "<h2>정책 목표 Policy targets</h2><table>"
        + "".join(rows)
        + "</table>"
        + verdict
        + _what_it_takes(result, ref, checks)
    )


def _what_it_takes(result: RunResult, ref: dict[str, Any], checks: list[TargetCheck]) -> str:
    """Return the sensitivity of the commute target and the levers for each missed target."""
    k = result.kpis
    by_mode = k["mean_travel_time_by_mode_min"]
    parts = [
        "<p><b>왜 Why:</b> the trips that lose their car move mostly to BRT/bus "
        f"({by_mode['transit']:.1f} min on average), walking ({by_mode['walk']:.1f} min) and "
        f"shuttles ({by_mode['shared']:.1f} min), against {ref['mean_car_time_min']:.1f} min by "
        "car in the reference; fewer cars on the road speed up the cars that remain "
        f"({ref['mean_car_time_min']:.1f} -> {k['mean_car_time_min']:.1f} min).</p>"
    ]
    ff = freeflow_commute_change(k, ref)
    if ff is not None:
        limit = float(result.scenario.targets.commute_time_max_increase)
        parts.append(
            "<p><b>민감도 Sensitivity:</b> with every car trip at free-flow time in both runs "
            "(no congestion relief at all), the mean commute would change by "
            f"<b>{100 * ff:+.1f} %</b> ({ref['mean_commute_time_freeflow_min']:.1f} -> "
            f"{k['mean_commute_time_freeflow_min']:.1f} min): the commute target "
            + ("would still be met." if ff <= limit + 1e-12 else "would <b>not</b> be met.")
            + " How much congestion the cut removes therefore decides the commute target.</p>"
        )
    for c in checks:
        if c.met:
            continue
        if c.key == "private_cars":
            parts.append("<p>자가용: lower <code>cars.ownership_factor</code>.</p>")
        elif c.key == "mean_commute_time_min":
            parts.append(
                "<p><b>필요한 조건 What it would take (commute):</b> door-to-door times of the "
                "alternatives must come closer to the car's: a shuttle service that people "
                "trust to come quickly (<code>shuttles.expected_wait_min</code> near the "
                "simulated wait, enough <code>shuttles.fleet_size</code> to keep it), more "
                "frequent and faster BRT and feeder buses (<code>transit.*_frequency_factor"
                "</code>, <code>transit.brt_speed_factor</code>, e.g. signal priority). Sweep "
                "them with <code>cityos twin sweep</code>.</p>"
            )
        elif c.key == "mean_cost_krw_per_trip":
            parts.append(
                "<p><b>필요한 조건 What it would take (cost):</b> lower fares "
                "(<code>shuttles.fare_krw</code>, <code>transit.adult_fare_krw</code>); car "
                "ownership costs are not counted, so the comparison favours the car.</p>"
            )
    return "".join(parts)


def fleet_section(k: dict[str, Any], ref: dict[str, Any]) -> str:
    """Return the private cars replaced per shared vehicle beside the published ratios."""
    ratio = fleet_ratio(k, ref)
    if ratio is None:
        return ""
    removed = int(ref["private_cars"]) - int(k["private_cars"])
    added = int(k["shared_vehicles"]) - int(ref["shared_vehicles"])
    lit = "".join(f"<li>{html.escape(t)}: <b>~{r:.0f}</b></li>" for t, r in LITERATURE_FLEET_RATIOS)
    lo = min(r for _, r in LITERATURE_FLEET_RATIOS)
    hi = max(r for _, r in LITERATURE_FLEET_RATIOS)
    where = "within" if lo <= ratio <= hi else ("above" if ratio > hi else "below")
    extra = (
        f" Counting only the {added:,} shuttles added to the reference's fleet: "
        f"<b>{removed / added:.1f}</b> cars per added shuttle."
        if added > 0
        else ""
    )
    return (
        "<h2>공유 차량 1대당 대체 자가용 Cars replaced per shared vehicle</h2>"
        f"<p>{removed:,} private cars removed / {k['shared_vehicles']:,} shared shuttles = "
        f"<b>{ratio:.1f}</b> cars per shuttle, {where} the published range of about "
        f"{lo:.0f}-{hi:.0f}.{extra} Published studies:</p><ul>{lit}</ul>"
        "<p>비교 시 주의 Not like for like: those studies replace every car trip with shared "
        "vehicles; here the shuttles carry "
        f"{100 * k['mode_share']['shared']:.1f} % of trips (most former drivers switch to BRT/bus "
        f"and walking), {100 * k['drt_rejection_rate']:.1f} % of shuttle requests are refused, "
        f"and the mean wait is {k['drt_mean_wait_min']:.1f} min (the mode choice assumed "
        f"{k.get('drt_expected_wait_min', float('nan')):.1f} min).</p>"
    )


LIMITS = """
<h2>한계 Limits</h2><ul>
<li>도로망: a drawn network of 196 links with a calibrated capacity factor (see the note above),
not a survey of Sejong's roads; signals and junctions are not modelled.</li>
<li>자가용 동승 없음: no car-passenger mode; people without car access ride shuttles, transit,
bike or walk.</li>
<li>비용: out of pocket per trip (fuel, parking, fares); car ownership (purchase, insurance,
tax) is not counted, which favours the car in the baseline.</li>
<li>셔틀: mode choice uses the scenario's expected wait (compare it with the simulated wait);
rejected requests fall back to transit.</li>
<li>대중교통: frequency-based skims (half-headway waits, no timetable, no crowding).</li>
<li>규모: counts are at the run's scale (see the header); bus-km are scaled with it.</li>
<li>데이터: partly synthetic (docs/twin/city-model.md and the data README).</li></ul>
"""
