"""A scenario run's outputs: ``kpis.json`` and a self-contained bilingual ``report.html``.

The HTML has no external resources: plots are inline SVG (``_report_plots``), styles are
inline. With a reference run (``scenario.reference``, e.g. car-third against baseline) the
report adds the KPI changes, the three policy targets, the fleet ratio against published
studies and what the model overstates.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from cityos.twin._report_plots import (
    congestion_map_svg,
    mode_share_svg,
    time_of_day_svg,
    wait_histogram_svg,
)
from cityos.twin._report_targets import (
    LITERATURE_FLEET_RATIOS,
    check_targets,
    fleet_ratio,
    freeflow_commute_change,
)
from cityos.twin.city import City, load_city
from cityos.twin.run import RunResult

__all__ = ["KPI_LABELS", "render_report", "write_kpis", "write_outputs"]

# key -> (Korean, English, unit, format)
KPI_LABELS: dict[str, tuple[str, str, str, str]] = {
    "population": ("인구", "population", "persons", "{:,.0f}"),
    "trips": ("통행", "trips", "trips/day", "{:,.0f}"),
    "private_cars": ("자가용", "private cars", "vehicles", "{:,.0f}"),
    "shared_vehicles": ("공유 셔틀", "shared vehicles", "vehicles", "{:,.0f}"),
    "vehicle_km": ("차량 주행거리", "vehicle-km", "km/day", "{:,.0f}"),
    "mean_travel_time_min": ("평균 통행시간", "mean travel time", "min", "{:.1f}"),
    "p95_travel_time_min": ("95% 통행시간", "p95 travel time", "min", "{:.1f}"),
    "mean_commute_time_min": ("평균 통근시간", "mean commute time", "min", "{:.1f}"),
    "mean_commute_time_freeflow_min": (
        "평균 통근시간 (자동차 자유통행 가정)",
        "mean commute time, cars at free flow",
        "min",
        "{:.1f}",
    ),
    "mean_cost_krw_per_trip": ("통행당 평균 비용", "mean cost per trip", "KRW", "{:,.0f}"),
    "mode_share.car": ("분담률: 자가용", "mode share: car", "%", "pct"),
    "mode_share.shared": ("분담률: 공유 셔틀", "mode share: shared", "%", "pct"),
    "mode_share.transit": ("분담률: BRT·버스", "mode share: transit", "%", "pct"),
    "mode_share.bike": ("분담률: 자전거", "mode share: bike", "%", "pct"),
    "mode_share.walk": ("분담률: 도보", "mode share: walk", "%", "pct"),
    "mean_car_time_min": ("자가용 평균 통행시간", "mean car time", "min", "{:.1f}"),
    "mean_car_freeflow_min": ("자가용 자유통행 시간", "car free-flow time", "min", "{:.1f}"),
    "congestion_delay_veh_h": ("혼잡 지체", "congestion delay", "veh-h/day", "{:,.0f}"),
    "cars_unfinished": (
        "자정 후 미도착 차량",
        "cars not arrived by 06:00 next day",
        "veh",
        "{:,.0f}",
    ),
    "parking_spaces_needed": ("필요 주차면", "parking spaces needed", "spaces", "{:,.0f}"),
    "illegal_parking_peak": (
        "공급 초과 주차 (최대)",
        "cars beyond supply, peak hour",
        "veh",
        "{:,.0f}",
    ),
    "drt_requests": ("셔틀 요청", "shuttle requests", "requests", "{:,.0f}"),
    "drt_rejection_rate": ("셔틀 거절률", "shuttle rejection rate", "%", "pct"),
    "drt_mean_wait_min": ("셔틀 평균 대기", "shuttle mean wait", "min", "{:.1f}"),
    "drt_p95_wait_min": ("셔틀 95% 대기", "shuttle p95 wait", "min", "{:.1f}"),
    "drt_mean_in_vehicle_min": ("셔틀 평균 탑승시간", "shuttle mean in-vehicle", "min", "{:.1f}"),
    "co2_t": ("CO2 배출", "CO2", "t/day", "{:,.1f}"),
    "pm10_kg": ("PM10 배출", "PM10", "kg/day", "{:,.1f}"),
    "runtime_s": ("실행 시간", "run time", "s", "{:.1f}"),
}

_CSS = """
body{font-family:'Noto Sans KR','Malgun Gothic','Apple SD Gothic Neo',sans-serif;margin:2em;
max-width:70em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.ok{color:#1a7f37;
font-weight:bold}.no{color:#cf222e;font-weight:bold}.note{background:#fff8e1;padding:.6em 1em;
border-left:4px solid #f0b400}figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
"""


def _get(kpis: dict[str, Any], key: str) -> float | None:
    node: Any = kpis
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node)


def _fmt(value: float | None, fmt: str) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}" if fmt == "pct" else fmt.format(value)


def _fmt_change(diff: float, fmt: str) -> str:
    return f"{100 * diff:+.1f}" if fmt == "pct" else f"{diff:+,.1f}"


def _kpi_table(kpis: dict[str, Any], ref: dict[str, Any] | None) -> str:
    head = "<tr><th>지표 KPI</th><th>단위 unit</th><th>" + html.escape(kpis["scenario"]) + "</th>"
    if ref:
        head += f"<th>{html.escape(ref['scenario'])}</th><th>변화 change</th><th>%</th>"
    rows = [head + "</tr>"]
    for key, (ko, en, unit, fmt) in KPI_LABELS.items():
        v = _get(kpis, key)
        row = f"<tr><td>{ko} / {en}</td><td>{unit}</td><td>{_fmt(v, fmt)}</td>"
        if ref:
            r = _get(ref, key)
            diff = None if v is None or r is None else v - r
            pct = f"{100 * diff / r:+.1f}" if diff is not None and r else "-"
            d = "-" if diff is None else _fmt_change(diff, fmt)
            row += f"<td>{_fmt(r, fmt)}</td><td>{d}</td><td>{pct}</td>"
        rows.append(row + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _targets_section(result: RunResult, ref: dict[str, Any]) -> str:
    k = result.kpis
    targets = vars(result.scenario.targets)
    checks = check_targets(k, ref, targets)
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
    table = "<table>" + "".join(rows) + "</table>"
    all_met = all(c.met for c in checks)
    verdict = (
        "<p class='ok'>세 목표를 모두 충족합니다 (아래 한계 참고). All three targets are met in "
        "the model - read the caveats below before trusting it.</p>"
        if all_met
        else "<p class='no'>세 목표를 동시에 충족하지 못합니다. The three targets are not met "
        "together: " + ", ".join(c.label_en for c in checks if not c.met) + ".</p>"
    )
    return "<h2>정책 목표 Policy targets</h2>" + table + verdict + _honesty(result, ref, checks)


def _congestion_note(k: dict[str, Any], where: str) -> str:
    """Return the warning that the coarse network overstates congestion, with its numbers."""
    ratio = float(k["mean_car_time_min"]) / max(float(k["mean_car_freeflow_min"]), 1e-9)
    return (
        f"<p class='note'><b>혼잡 과대평가 Congestion is overstated.</b> {where} a car trip on "
        f"the road network takes {k['mean_car_time_min']:.0f} min on average against "
        f"{k['mean_car_freeflow_min']:.0f} min at free flow ({ratio:.1f}x); "
        f"{k['cars_unfinished']:,} cars have not arrived by the 30-hour horizon; the congestion "
        f"delay is {k['congestion_delay_veh_h']:,.0f} veh-h a day. Much of this comes from the "
        "coarse drawn network (196 links, one connector per zone, each link standing for "
        "several real roads), not from Sejong: treat car times and delay as an upper bound.</p>"
    )


def _honesty(result: RunResult, ref: dict[str, Any], checks: list[Any]) -> str:
    """Return what the model overstates and what meeting the failed targets would take."""
    k = result.kpis
    parts = [
        _congestion_note(ref, "In the reference run"),
        "<p>Cutting cars removes most of this delay, so the scenario's commute time benefits "
        "from congestion the real city does not have.</p>",
    ]
    ff = freeflow_commute_change(k, ref)
    if ff is not None:
        limit = float(result.scenario.targets.commute_time_max_increase)
        ok = ff <= limit + 1e-12
        parts.append(
            "<p><b>민감도 Sensitivity:</b> with car times at free flow in both runs (no "
            "congestion at all, which understates it), the mean commute changes by "
            f"<b>{100 * ff:+.1f} %</b> "
            f"({ref['mean_commute_time_freeflow_min']:.1f} -> "
            f"{k['mean_commute_time_freeflow_min']:.1f} min): the commute target is "
            + ("still met." if ok else "<span class='no'>not met</span>.")
            + " The truth for Sejong lies between the two numbers.</p>"
        )
        if not ok:
            parts.append(
                "<p><b>What it would take / 필요한 조건:</b> the travellers who lose their car "
                "move mostly to BRT/bus and walking, whose door-to-door times are longer than "
                "an uncongested car's. Closing the gap needs faster transit (more frequent BRT "
                "and feeder buses, higher BRT speed, e.g. signal priority) or a larger and "
                "cheaper shuttle service that draws more of them; sweep "
                "<code>transit.brt_frequency_factor</code>, <code>transit.brt_speed_factor</code> "
                "and <code>shuttles.fleet_size</code> with <code>cityos twin sweep</code> and a "
                "<code>simulation.road_capacity_factor</code> that brings the reference's car "
                "times near observed ones.</p>"
            )
    for c in checks:
        if c.met:
            continue
        if c.key == "private_cars":
            parts.append("<p>Private cars: lower <code>cars.ownership_factor</code>.</p>")
        elif c.key == "mean_cost_krw_per_trip":
            parts.append(
                "<p>Cost: fares (<code>shuttles.fare_krw</code>, <code>transit.adult_fare_krw"
                "</code>) must fall so that former drivers pay no more per trip than fuel and "
                "parking cost them; car ownership costs are not counted (see limits).</p>"
            )
    return "".join(parts)


def _fleet_section(kpis: dict[str, Any], ref: dict[str, Any]) -> str:
    ratio = fleet_ratio(kpis, ref)
    if ratio is None:
        return ""
    removed = ref["private_cars"] - kpis["private_cars"]
    lit = "".join(f"<li>{html.escape(t)}: <b>~{r:.0f}</b></li>" for t, r in LITERATURE_FLEET_RATIOS)
    same = (
        min(r for _, r in LITERATURE_FLEET_RATIOS)
        <= ratio
        <= max(r for _, r in LITERATURE_FLEET_RATIOS)
    )
    verdict = ("within" if same else ("above" if ratio > 11 else "below")) + " the published range"
    return (
        "<h2>공유 차량 1대당 대체 자가용 Cars replaced per shared vehicle</h2>"
        f"<p>{removed:,} private cars removed / {kpis['shared_vehicles']:,} shared shuttles = "
        f"<b>{ratio:.1f}</b> cars per shuttle ({verdict}). Published studies:</p><ul>{lit}</ul>"
        "<p>The studies size the fleet to serve every former car trip; here the shuttles carry "
        f"only {100 * kpis['mode_share']['shared']:.1f} % of trips (most former drivers switch "
        "to BRT/bus and walking), with a rejection rate of "
        f"{100 * kpis['drt_rejection_rate']:.1f} %, so the ratios are not strictly alike.</p>"
    )


_LIMITS = """
<h2>한계 Limits</h2><ul>
<li>The road network is drawn coarsely (196 links); congestion is far too high (see above).</li>
<li>No car-passenger mode: people without car access ride shuttles, transit, bike or walk.</li>
<li>Costs are out of pocket per trip (fuel, parking, fares); car ownership (purchase, insurance,
tax) is not counted, which favours the car in the baseline.</li>
<li>Mode choice uses the scenario's expected shuttle wait, not the simulated one; rejected shuttle
requests fall back to transit.</li>
<li>Transit times are free-flow skims at peak headways; buses have no capacity limit.</li>
<li>Counts are at the run's scale (see the header); bus-km are scaled with it.</li>
<li>All data behind the twin is partly synthetic (docs/twin/city-model.md).</li></ul>
"""


def render_report(
    result: RunResult,
    reference: RunResult | dict[str, Any] | None = None,
    city: City | None = None,
) -> str:
    """Return the self-contained bilingual HTML report of ``result`` (against ``reference``)."""
    k = result.kpis
    ref = reference.kpis if isinstance(reference, RunResult) else reference
    s = result.scenario
    city = city or load_city()
    title = f"{html.escape(s.title_ko or s.name)} / {html.escape(s.title_en or s.name)}"
    head = (
        f"<!DOCTYPE html><html lang='ko'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body><h1>세종 디지털 트윈 시나리오 보고서 / Sejong twin "
        f"scenario report</h1><h2>{title}</h2><p>{html.escape(s.description)}</p>"
        f"<p>규모 scale {k['scale']:g} (of 390,000 residents), seed {k['seed']}, "
        f"run time {k['runtime_s']:.1f} s. Synthetic data / 합성 데이터.</p>"
    )
    body = ["<h2>핵심 지표 Key indicators</h2>", _kpi_table(k, ref)]
    if ref is None:
        body.append(_congestion_note(k, "In this run"))
    else:
        body += [_targets_section(result, ref), _fleet_section(k, ref)]
    figs = [
        (mode_share_svg(k, ref), "수단 분담률 (통행 기준) / Mode share of trips"),
        (
            time_of_day_svg(result.trips_per_hour, result.cars_on_road),
            "시간대별 출발 통행과 도로 위 차량 / Trips by departure hour and cars on the road",
        ),
        (
            congestion_map_svg(city, result.link_peak_ratio),
            "오전 첨두 링크 통행시간 비 / AM-peak link time over free-flow time (1 = free flow)",
        ),
        (
            wait_histogram_svg(result.drt_wait_min, s.shuttles.max_wait_min),
            "탑승한 승객의 셔틀 대기 시간 / Waits of served shuttle passengers",
        ),
    ]
    body.append("<h2>그림 Plots</h2>")
    body += [f"<figure>{svg}<figcaption>{cap}</figcaption></figure>" for svg, cap in figs]
    body.append(_LIMITS)
    return head + "".join(body) + "</body></html>\n"


def write_kpis(kpis: dict[str, Any], path: Path) -> None:
    """Write the KPIs as pretty UTF-8 JSON."""
    path.write_text(json.dumps(kpis, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_outputs(
    result: RunResult, out_dir: Path, reference: RunResult | dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write ``kpis.json`` and ``report.html`` (and ``reference_kpis.json``) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"kpis": out_dir / "kpis.json", "report": out_dir / "report.html"}
    write_kpis(result.kpis, paths["kpis"])
    if reference is not None:
        ref = reference.kpis if isinstance(reference, RunResult) else reference
        paths["reference"] = out_dir / "reference_kpis.json"
        write_kpis(ref, paths["reference"])
    paths["report"].write_text(render_report(result, reference), encoding="utf-8")
    return paths
