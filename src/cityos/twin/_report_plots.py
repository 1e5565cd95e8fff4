"""The report's four plots as inline SVG text (matplotlib's object API, no pyplot state).

Labels are bilingual. SVG text is kept as text (``svg.fonttype = none``) so the reader's
browser draws the Hangul with its own fonts; matplotlib's warning that its measuring font
lacks Hangul glyphs is therefore expected and silenced here, and only here.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec

import matplotlib as mpl
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from numpy.typing import NDArray

from cityos.twin.city import City

P = ParamSpec("P")

MODE_LABELS = (
    ("car", "자가용\ncar", "#d62728"),
    ("shared", "공유 셔틀\nshared", "#9467bd"),
    ("transit", "BRT·버스\ntransit", "#1f77b4"),
    ("bike", "자전거\nbike", "#2ca02c"),
    ("walk", "도보\nwalk", "#7f7f7f"),
)
# Fonts with Hangul first: the SVG names them, and the reader's browser picks what it has.
KOREAN_FONTS = [
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Malgun Gothic",
    "Apple SD Gothic Neo",
    "NanumGothic",
    "DejaVu Sans",
]
_RC: Any = {
    "svg.fonttype": "none",
    "font.size": 9,
    "font.family": "sans-serif",
    "font.sans-serif": KOREAN_FONTS,
    "svg.hashsalt": "cityos",
}


def _styled(plot: Callable[P, str]) -> Callable[P, str]:
    """Run a plot function under the report's style: texts take their fonts when made."""

    @functools.wraps(plot)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:
        with mpl.rc_context(_RC):
            return plot(*args, **kwargs)

    return wrapper


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    with mpl.rc_context(_RC), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        warnings.filterwarnings("ignore", message=r"findfont: Font family .* not found")
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE for inlining


@_styled
def mode_share_svg(kpis: dict[str, Any], ref: dict[str, Any] | None) -> str:
    """Return grouped bars of the trip mode shares, scenario beside its reference [%]."""
    fig = Figure(figsize=(6.0, 3.0))
    ax = fig.add_subplot()
    x = np.arange(len(MODE_LABELS))
    runs = ([(ref, ref["scenario"])] if ref else []) + [(kpis, kpis["scenario"])]
    width = 0.8 / len(runs)
    for i, (k, name) in enumerate(runs):
        vals = [100 * k["mode_share"][m] for m, _, _ in MODE_LABELS]
        bars = ax.bar(
            x + (i - (len(runs) - 1) / 2) * width,
            vals,
            width,
            label=str(name),
            color=[c for _, _, c in MODE_LABELS],
            alpha=1.0 if i == len(runs) - 1 else 0.45,
            edgecolor="black",
            linewidth=0.4,
        )
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, [lab for _, lab, _ in MODE_LABELS])
    ax.set_ylabel("통행 분담률 trip share [%]")
    title = "수단 분담률 Mode share"
    if ref:
        title += (
            f"\n옅은 색 light (left): {ref['scenario']}, 진한 색 dark (right): {kpis['scenario']}"
        )
    ax.set_title(title)
    return _svg(fig)


@_styled
def time_of_day_svg(per_hour: NDArray[np.int64], cars_on_road: NDArray[np.int64]) -> str:
    """Return stacked trips per departure hour by mode, with cars on the road [veh]."""
    fig = Figure(figsize=(7.0, 3.2))
    ax = fig.add_subplot()
    bottom = np.zeros(24)
    for i, (_, label, colour) in enumerate(MODE_LABELS):
        ax.bar(
            np.arange(24) + 0.5,
            per_hour[:, i],
            0.9,
            bottom=bottom,
            label=label.replace("\n", " "),
            color=colour,
        )
        bottom += per_hour[:, i]
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel("출발 시각 departure hour")
    ax.set_ylabel("통행 trips / h")
    ax2 = ax.twinx()
    minutes = np.arange(len(cars_on_road)) / 60.0
    ax2.plot(minutes, cars_on_road, color="black", linewidth=1.0, label="도로 위 차량 cars on road")
    ax2.set_ylabel("도로 위 차량 cars on road [veh]")
    ax2.set_xlim(0, 24)
    ax2.set_ylim(0, max(1.0, float(np.max(cars_on_road, initial=0)) * 1.05))
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=6)
    ax.set_title("시간대별 통행 Time-of-day profile")
    return _svg(fig)


@_styled
def congestion_map_svg(city: City, maps: list[tuple[str, NDArray[np.float64]]]) -> str:
    """Return road links coloured by 07-09 h travel time / free-flow time, one map per run."""
    net = city.network
    segs = [np.asarray(g) for g in net.geometry]
    fig = Figure(figsize=(5.0 * len(maps) + 1.0, 5.5))
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    lc = None
    for ax, (name, ratio) in zip(axes, maps, strict=True):
        lc = LineCollection(
            segs,
            array=np.clip(ratio, 1.0, 10.0),
            cmap="RdYlGn_r",
            norm=mpl.colors.LogNorm(1.0, 10.0),
            linewidths=1.0 + 0.8 * net.lanes,
        )
        ax.add_collection(lc)
        ax.autoscale()
        ax.set_aspect(1 / np.cos(np.radians(36.5)))
        zones = city.zone_nodes
        ax.scatter(net.node_lon[zones], net.node_lat[zones], s=6, color="black")
        ax.set_xlabel("경도 lon [°]")
        ax.set_title(name)
    axes[0].set_ylabel("위도 lat [°]")
    assert lc is not None  # maps is never empty
    cb = fig.colorbar(lc, ax=list(axes), shrink=0.7)
    cb.set_ticks([1, 1.5, 2, 3, 5, 10], labels=["1", "1.5", "2", "3", "5", "≥10"])
    cb.set_label("오전 첨두 통행시간 / 자유통행 AM peak time / free-flow [-]")
    fig.suptitle("혼잡 지도 (07-09시) Congestion map, 07:00-09:00")
    return _svg(fig)


@_styled
def wait_histogram_svg(waits: NDArray[np.float64], max_wait_min: float) -> str:
    """Return the histogram of shuttle waits of served requests [min]."""
    fig = Figure(figsize=(6.0, 3.0))
    ax = fig.add_subplot()
    if len(waits):
        ax.hist(waits, bins=np.arange(0, max_wait_min + 1.0, 1.0).tolist(), color="#9467bd")
        for q, style in ((50, "--"), (95, ":")):
            v = float(np.percentile(waits, q))
            ax.axvline(v, color="black", linestyle=style, label=f"p{q} = {v:.1f} min")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "셔틀 없음 no shuttle service", ha="center", transform=ax.transAxes)
    ax.set_xlabel("대기 시간 wait [min]")
    ax.set_ylabel("승객 passengers")
    ax.set_title("셔틀 대기 시간 Shuttle waiting times")
    return _svg(fig)
