"""Scenario files: the shipped ones load, and every kind of mistake is named in two languages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from cityos.twin.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_reference,
    load_scenario,
    scenario_fields,
    scenario_from_dict,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "src" / "cityos" / "data" / "twin" / "scenarios"


def _error(doc: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(doc)
    err = info.value
    assert err.en
    assert err.ko
    assert err.en != err.ko
    assert err.en in str(err)
    assert err.ko in str(err)
    return err


def test_the_shipped_scenarios_load() -> None:
    assert builtin_scenarios() == ["baseline", "car-third"]
    base, third = load_scenario("baseline"), load_scenario("car-third")
    assert base.reference is None
    assert third.reference == "baseline"
    assert third.cars.ownership_factor == pytest.approx(1 / 3, abs=0.001)
    assert third.targets.private_cars_max_ratio == 0.34
    assert third.targets.commute_time_max_increase == 0.10
    assert third.targets.cost_max_increase == 0.0
    assert base.title_ko
    assert base.title_en
    assert third.title_ko
    assert third.title_en


def test_root_scenarios_are_the_packaged_files() -> None:
    root = {p.name: p.read_bytes() for p in (ROOT / "scenarios").glob("*.yaml")}
    packaged = {p.name: p.read_bytes() for p in PACKAGED.glob("*.yaml")}
    assert root == packaged, (
        "scenarios/*.yaml and src/cityos/data/twin/scenarios/*.yaml differ: the packaged copy is "
        "the source; run `cp src/cityos/data/twin/scenarios/*.yaml scenarios/`"
    )


def test_a_scenario_file_loads_by_path_and_finds_its_reference_beside_it(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nreference: base2\nshuttles: {fleet_size: 10}\n", encoding="utf-8"
    )
    (tmp_path / "base2.yaml").write_text(
        "name: base2\nshuttles: {fleet_size: 3}\nsimulation: {scale: 0.5, seed: 1}\n",
        encoding="utf-8",
    )
    mine = load_scenario(tmp_path / "mine.yaml")
    assert mine.shuttles.fleet_size == 10
    assert mine.shuttles.capacity == 6
    ref = load_reference(mine, tmp_path / "mine.yaml")
    assert ref is not None
    assert ref.name == "base2"
    assert ref.shuttles.fleet_size == 3
    # The reference runs at the scenario's own scale and seed, whatever its file says.
    assert (ref.simulation.scale, ref.simulation.seed) == (1.0, 42)
    # By name, the reference comes from the built-in scenarios.
    third = load_scenario("car-third").with_param("simulation.scale", 0.1)
    base = load_reference(third, "car-third")
    assert base is not None
    assert base.name == "baseline"
    assert base.simulation.scale == 0.1
    assert load_reference(load_scenario("baseline"), "baseline") is None


def test_an_unknown_top_level_field_is_named_with_a_suggestion_and_the_allowed_fields() -> None:
    err = _error({"name": "x", "shuttle": {"fleet_size": 5}})
    assert "'shuttle'" in err.en
    assert "did you mean 'shuttles'" in err.en
    for allowed in ("cars", "shuttles", "transit", "pricing", "simulation", "targets"):
        assert allowed in err.en
        assert allowed in err.ko
    assert "알 수 없는" in err.ko


def test_an_unknown_section_field_lists_the_section_fields() -> None:
    err = _error({"name": "x", "shuttles": {"fleet": 5}})
    assert "'shuttles.fleet'" in err.en
    assert "did you mean 'shuttles.fleet_size'" in err.en
    assert "shuttles.max_wait_min" in err.en
    assert "shuttles.max_wait_min" in err.ko


@pytest.mark.parametrize(
    ("section", "field", "value", "words"),
    [
        ("shuttles", "fleet_size", -5, ["out of range", "0..100000", "vehicles"]),
        ("shuttles", "capacity", 12, ["out of range", "4..8", "seats"]),
        ("cars", "ownership_factor", 2.0, ["out of range", "0..1.5"]),
        ("simulation", "scale", 0.0, ["out of range", "0.01..4"]),
        ("shuttles", "fleet_size", "many", ["must be an integer"]),
        ("shuttles", "fleet_size", 2.5, ["must be an integer"]),
        ("shuttles", "fleet_size", True, ["must be an integer"]),
        ("transit", "brt_frequency_factor", "fast", ["must be a number"]),
        ("transit", "brt_frequency_factor", None, ["must be a number"]),
        ("pricing", "fuel_krw_per_km", float("nan"), ["must be a number"]),
        ("transit", "brt_frequency_factor", [2], ["must be a number"]),
    ],
)
def test_wrong_values_name_the_field_and_the_allowed_range(
    section: str, field: str, value: object, words: list[str]
) -> None:
    err = _error({"name": "x", section: {field: value}})
    assert f"{section}.{field}" in err.en
    assert f"{section}.{field}" in err.ko
    for w in words:
        assert w in err.en
    assert "범위" in err.ko


def test_structural_mistakes_are_explained() -> None:
    assert "mapping" in _error({"name": "x", "shuttles": 5}).en
    assert "YAML mapping" in _error(["name", "x"]).en
    assert "needs a name" in _error({"shuttles": {}}).en
    assert "allowed: 1" in _error({"name": "x", "version": 2}).en
    assert "lower-case" in _error({"name": "Car Third"}).en
    assert "itself" in _error({"name": "x", "reference": "x"}).en
    assert "must be text" in _error({"name": "x", "title_en": 5}).en


def test_an_unknown_scenario_name_suggests_the_closest() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("car-thrid")
    assert "did you mean 'car-third'" in info.value.en
    assert "baseline" in info.value.en
    assert "시나리오" in info.value.ko


def test_missing_files_and_broken_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no scenario file") as info:
        load_scenario(tmp_path / "nope.yaml")
    assert "없습니다" in info.value.ko
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nshuttles: [1, 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: x\ncars: {ownership_factor: 3}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"wrong\.yaml: cars\.ownership_factor = 3"):
        load_scenario(wrong)


def test_with_param_coerces_command_line_text_and_checks_it() -> None:
    s = load_scenario("baseline")
    t = s.with_param("shuttles.fleet_size", "4000").with_param("transit.brt_frequency_factor", "2")
    assert t.shuttles.fleet_size == 4000
    assert isinstance(t.shuttles.fleet_size, int)
    assert t.transit.brt_frequency_factor == 2.0
    assert s.shuttles.fleet_size == 2000
    with pytest.raises(ScenarioError, match="did you mean 'shuttles.fleet_size'"):
        s.with_param("shuttles.fleetsize", "1")
    with pytest.raises(ScenarioError, match=r"shuttles\.fleet_size = '4000.5' must be an integer"):
        s.with_param("shuttles.fleet_size", "4000.5")
    with pytest.raises(ScenarioError, match="out of range"):
        s.with_param("simulation.scale", "5")


def test_every_field_is_documented_and_its_default_is_allowed() -> None:
    fields = scenario_fields()
    assert set(fields) == {"cars", "shuttles", "transit", "pricing", "simulation", "targets"}
    for section in fields.values():
        for spec in section.values():
            lo, hi = spec["range"]
            assert lo <= spec["default"] <= hi
            assert spec["unit"]
            assert spec["doc"]
    default = Scenario(name="x")
    assert dataclasses.asdict(default)["shuttles"]["fleet_size"] == 2000


def test_a_scenario_survives_a_yaml_round_trip() -> None:
    third = load_scenario("car-third")
    again = scenario_from_dict(yaml.safe_load(yaml.safe_dump(third.to_dict(), allow_unicode=True)))
    assert again == third
