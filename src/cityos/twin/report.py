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

from cityos.twin._kpi_labels import KPI_LABELS
from cityos.twin._report_plots import (
    congestion_map_svg,
    mode_share_svg,
    time_of_day_svg,
    wait_histogram_svg,
)
from cityos.twin._report_text import (
    LIMITS,
    fleet_section,
    network_note,
    summary_section,
    targets_section,
)
from cityos.twin.city import City, load_city
from cityos.twin.run import RunResult

__all__ = ["KPI_LABELS", "render_report", "write_kpis", "write_outputs"]


_CSS = """
body{font-family:'Noto Sans KR','Malgun Gothic','Apple SD Gothic Neo',sans-serif;margin:2em;
max-width:70em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.ok{color:#1a7f37;
font-weight:bold}.no{color:#cf222e;font-weight:bold}.note{background:#fff8e1;padding:.6em 1em;
border-left:4px solid #f0b400}figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
.summary{background:#eef5ff;padding:.2em 1.2em;border-left:4px solid #1f6feb}
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
    """Return every labelled KPI; with a reference: reference, scenario, change, change %."""
    names = ([ref["scenario"]] if ref else []) + [kpis["scenario"]]
    head = "<tr><th>지표 KPI</th><th>단위 unit</th>" + "".join(
        f"<th>{html.escape(str(n))}</th>" for n in names
    )
    if ref:
        head += "<th>변화 change</th><th>%</th>"
    rows = [head + "</tr>"]
    for key, (ko, en, unit, fmt) in KPI_LABELS.items():
        v = _get(kpis, key)
        row = f"<tr><td>{ko} / {en}</td><td>{unit}</td>"
        if ref:
            r = _get(ref, key)
            diff = None if v is None or r is None else v - r
            pct = f"{100 * diff / r:+.1f}" if diff is not None and r else "-"
            d = "-" if diff is None else _fmt_change(diff, fmt)
            row += f"<td>{_fmt(r, fmt)}</td><td>{_fmt(v, fmt)}</td><td>{d}</td><td>{pct}</td>"
        else:
            row += f"<td>{_fmt(v, fmt)}</td>"
        rows.append(row + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


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
    body = [summary_section(k, ref)]
    if ref is not None:
        body += [targets_section(result, ref), fleet_section(k, ref)]
    body.append(network_note(k))
    maps = [(str(k["scenario"]), result.link_peak_ratio)]
    if isinstance(reference, RunResult):
        maps.insert(0, (str(ref["scenario"]) if ref else "", reference.link_peak_ratio))
    figs = [
        (mode_share_svg(k, ref), "수단 분담률 (통행 기준) / Mode share of trips"),
        (
            time_of_day_svg(result.trips_per_hour, result.cars_on_road),
            "시간대별 출발 통행과 도로 위 차량 / Trips by departure hour and cars on the road",
        ),
        (
            congestion_map_svg(city, maps),
            "오전 첨두 링크 통행시간 비 / AM-peak link time over free-flow time (1 = free flow)",
        ),
        (
            wait_histogram_svg(result.drt_wait_min, s.shuttles.max_wait_min),
            "탑승한 승객의 셔틀 대기 시간 / Waits of served shuttle passengers",
        ),
    ]
    body.append("<h2>그림 Plots</h2>")
    body += [f"<figure>{svg}<figcaption>{cap}</figcaption></figure>" for svg, cap in figs]
    body += ["<h2>모든 지표 All indicators</h2>", _kpi_table(k, ref), LIMITS]
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
    stale = out_dir / "reference_kpis.json"
    if reference is not None:
        ref = reference.kpis if isinstance(reference, RunResult) else reference
        paths["reference"] = stale
        write_kpis(ref, paths["reference"])
    elif stale.exists():
        stale.unlink()  # left by an earlier run into the same directory: it would mislead
    paths["report"].write_text(render_report(result, reference), encoding="utf-8")
    return paths
