"""``cityos twin run | compare | sweep | list`` end to end, on a small share of the residents."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityos.cli import app
from cityos.twin.run import KPI_MODES, REQUIRED_KPIS

runner = CliRunner()
SCALE = "0.02"


@pytest.fixture(scope="module")
def car_third_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run car-third (and with it its reference, baseline) at 2 % of the residents."""
    out = tmp_path_factory.mktemp("car-third")
    result = runner.invoke(app, ["twin", "run", "car-third", "--scale", SCALE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "car-third:" in result.output
    assert "kpis.json" in result.output
    return out


@pytest.mark.slow
def test_run_writes_every_kpi_the_issue_lists(car_third_run: Path) -> None:
    kpis = json.loads((car_third_run / "kpis.json").read_text(encoding="utf-8"))
    ref = json.loads((car_third_run / "reference_kpis.json").read_text(encoding="utf-8"))
    assert kpis["scenario"] == "car-third"
    assert ref["scenario"] == "baseline"
    for k in (kpis, ref):
        assert set(REQUIRED_KPIS) <= set(k)
        assert (
            set(k["mode_share"])
            == set(KPI_MODES)
            == {
                "car",
                "shared",
                "transit",
                "bike",
                "walk",
            }
        )
        assert sum(k["mode_share"].values()) == pytest.approx(1.0)
        assert k["scale"] == float(SCALE)
        assert k["seed"] == 42
        assert 0.015 * 390_000 < k["population"] < 0.025 * 390_000
        assert 2.0 < k["trips"] / k["population"] < 3.0
        assert 0 < k["mean_travel_time_min"] < k["p95_travel_time_min"] < 24 * 60
        assert k["mean_cost_krw_per_trip"] > 0
        assert k["co2_t"] > 0
        assert k["vehicle_km"] > 0
        assert 0 <= k["drt_mean_wait_min"] <= k["drt_p95_wait_min"] <= 15.0 + 1e-9
        assert k["runtime_s"] > 0
    # The policy itself: a third of the cars, more shuttles; each run at the same scale.
    assert kpis["private_cars"] / ref["private_cars"] == pytest.approx(1 / 3, abs=0.01)
    assert kpis["shared_vehicles"] == round(10000 * float(SCALE)) > ref["shared_vehicles"]
    assert kpis["mode_share"]["car"] < ref["mode_share"]["car"]
    assert kpis["parking_spaces_needed"] < ref["parking_spaces_needed"]


@pytest.mark.slow
def test_report_has_the_four_plots_targets_and_fleet_ratio(car_third_run: Path) -> None:
    html = (car_third_run / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")
    assert html.count("<svg") == 4
    for caption in (
        "Mode share",
        "Trips by departure hour",
        "Congestion map",
        "Shuttle waiting times",
        "수단 분담률",
        "혼잡 지도",
        "셔틀 대기",
    ):
        assert caption in html
    # Targets against the reference, each marked met or not met.
    assert "Policy targets" in html
    assert len(re.findall(r"충족 met|미충족 not met", html)) >= 3
    # The fleet ratio beside the published studies.
    assert "Fagnant" in html
    assert "ITF" in html
    assert "cars per shuttle" in html
    # Self-contained: it opens offline (only in-document #references).
    assert not re.search(r"""(src|href)=["'](?!#|data:)""", html)


@pytest.mark.slow
def test_compare_prints_both_runs_and_the_changes(car_third_run: Path) -> None:
    result = runner.invoke(
        app,
        [
            "twin",
            "compare",
            str(car_third_run / "reference_kpis.json"),
            str(car_third_run / "kpis.json"),
        ],
        terminal_width=160,
    )
    assert result.exit_code == 0, result.output
    ref = json.loads((car_third_run / "reference_kpis.json").read_text(encoding="utf-8"))
    kpis = json.loads((car_third_run / "kpis.json").read_text(encoding="utf-8"))
    line = next(x for x in result.output.splitlines() if "private_cars" in x)
    change = 100 * (kpis["private_cars"] / ref["private_cars"] - 1)
    assert f"{ref['private_cars']:,}" in line
    assert f"{kpis['private_cars']:,}" in line
    assert f"{change:+.1f} %" in line
    assert "baseline" in result.output
    assert "car-third" in result.output
    for key in ("mean_commute_time_min", "mean_cost_krw_per_trip", "mode_share.car", "co2_t"):
        assert key in result.output


@pytest.mark.slow
def test_a_reference_file_of_another_scale_is_refused(car_third_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "twin",
            "run",
            "car-third",
            "--scale",
            "0.01",
            "--reference",
            str(car_third_run / "reference_kpis.json"),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 2
    assert "scale 0.02" in result.output
    assert "--scale/--seed" in result.output
    assert "규모" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_sweep_runs_variants_on_a_dask_local_cluster(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "twin",
            "sweep",
            "baseline",
            "--scale",
            "0.01",
            "--param",
            "shuttles.fleet_size=100,400",
            "--workers",
            "1",
            "--out",
            str(tmp_path),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "sweep.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    assert [int(r["shuttles.fleet_size"]) for r in rows] == [100, 400]
    assert [int(r["shared_vehicles"]) for r in rows] == [1, 4]
    # More shuttles for the same riders: fewer are refused.
    assert float(rows[1]["drt_rejection_rate"]) < float(rows[0]["drt_rejection_rate"])
    data = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))
    assert [d["params"] for d in data] == [
        {"shuttles.fleet_size": 100},
        {"shuttles.fleet_size": 400},
    ]
    assert "sweep baseline" in result.output
    assert "rejected" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "car-thrid", "--out", "x"], ["did you mean 'car-third'", "알 수 없는"]),
        (["run", "nope.yaml", "--out", "x"], ["no scenario file", "없습니다"]),
        (["run", "baseline", "--scale", "0", "--out", "x"], ["simulation.scale", "0.01..4"]),
        (["sweep", "baseline", "--param", "shuttles.fleet=1,2"], ["shuttles.fleet_size"]),
        (["sweep", "baseline", "--param", "shuttles.fleet_size"], ["section.field=v1,v2"]),
        (["sweep", "baseline", "--param", "shuttles.fleet_size=10,x"], ["must be an integer"]),
        (
            [
                "sweep",
                "baseline",
                "--param",
                "cars.ownership_factor=1",
                "--param",
                "cars.ownership_factor=2",
            ],
            ["more than once"],
        ),
    ],
)
def test_mistakes_exit_2_with_a_bilingual_message(
    args: list[str], words: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["twin", *args])
    assert result.exit_code == 2, result.output
    assert "오류 / error" in result.output
    assert "Traceback" not in result.output
    for w in words:
        assert w in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_compare_refuses_a_file_that_is_not_kpis(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    result = runner.invoke(app, ["twin", "compare", str(bad), str(bad)])
    assert result.exit_code == 2
    assert "not a kpis.json" in result.output
    assert "kpis.json이 아닙니다" in result.output
    result = runner.invoke(app, ["twin", "compare", str(tmp_path / "none.json"), str(bad)])
    assert result.exit_code == 2
    assert "cannot read KPIs" in result.output


def test_list_and_the_network_commands_are_under_twin() -> None:
    result = runner.invoke(app, ["twin", "list"])
    assert result.exit_code == 0
    assert "baseline" in result.output
    assert "car-third" in result.output
    result = runner.invoke(app, ["twin", "--help"], terminal_width=120)
    for command in ("run", "compare", "sweep", "list", "import-osm", "export-sumo"):
        assert command in result.output


@pytest.mark.slow
def test_a_scenario_without_reference_gets_a_report_without_targets(tmp_path: Path) -> None:
    mine = tmp_path / "fewer-shuttles.yaml"
    mine.write_text("name: fewer-shuttles\nshuttles: {fleet_size: 500}\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["twin", "run", str(mine), "--scale", "0.01", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["kpis.json", "report.html"]
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert kpis["scenario"] == "fewer-shuttles"
    assert kpis["shared_vehicles"] == 5
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 4
    assert "Summary" in html
    assert "Policy targets" not in html
