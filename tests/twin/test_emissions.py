"""Emissions by hand from the cited factors in emission_factors.yaml (not the code's output)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cityos.twin.emissions import (
    EmissionFactorsError,
    brake_speed_correction,
    emission_factors_from_dict,
    load_emission_factors,
    road_emissions,
    tyre_speed_correction,
)

YAML = Path(__file__).resolve().parents[2] / "src/cityos/data/twin/emission_factors.yaml"


def test_car_co2_by_hand() -> None:
    # fleet mix x (kg/L / km/L); EV: 0.18 kWh/km / 0.9 x 0.4173 kg/kWh
    petrol, diesel, lpg = 2287 / 11.8, 2677 / 14.0, 1612 / 9.0
    ev = 0.18 / 0.9 * 417.3
    g_km = 0.521 * petrol + 0.387 * diesel + 0.076 * lpg + 0.016 * ev
    assert g_km == pytest.approx(189.92, abs=0.01)
    e = road_emissions({"car": 10_000.0})
    assert e["car"].co2_t == pytest.approx(g_km * 10_000 / 1e6)
    # exhaust PM: 0.521 x 2.0 + 0.387 x 4.5 + 0.076 x 1.0 mg/km
    pm_mg = 0.521 * 2.0 + 0.387 * 4.5 + 0.076 * 1.0
    assert e["car"].pm25_exhaust_kg == pytest.approx(pm_mg * 10_000 / 1e6)


def test_shuttle_and_buses_by_hand() -> None:
    e = road_emissions({"shuttle": 1000.0, "bus_cng": 100.0, "bus_electric": 100.0}, speed_kmh=30)
    assert e["shuttle"].co2_t == pytest.approx(0.25 / 0.9 * 417.3 * 1000 / 1e6)
    assert e["shuttle"].pm10_exhaust_kg == 0.0
    # shuttle wear at < 40 km/h: tyre x 0.60 x 1.39 + brake x 0.98 x 1.67 x 0.5 + road x 0.50
    pm10 = 0.0169 * 0.60 * 1.39 + 0.0117 * 0.98 * 1.67 * 0.5 + 0.0150 * 0.50
    assert pm10 == pytest.approx(0.031169, abs=1e-6)
    assert e["shuttle"].pm10_non_exhaust_kg == pytest.approx(pm10 * 1000 / 1e3)
    pm25 = 0.0169 * 0.42 * 1.39 + 0.0117 * 0.39 * 1.67 * 0.5 + 0.0150 * 0.27
    assert e["shuttle"].pm25_non_exhaust_kg == pytest.approx(pm25)
    assert e["bus_cng"].co2_t == pytest.approx(20.0 * 56.1 * 100 / 1e6)  # 1,122 g/km
    assert e["bus_electric"].co2_t == pytest.approx(1.2 / 0.9 * 417.3 * 100 / 1e6)
    bus_pm10 = 0.02247 * 0.60 * 1.39 + 0.03275 * 0.98 * 1.67 + 0.0760 * 0.50
    assert e["bus_cng"].pm10_non_exhaust_kg == pytest.approx(bus_pm10 * 100 / 1e3)
    total = e["total"]
    assert total.vehicle_km == 1200.0
    assert total.co2_t == pytest.approx(
        sum(e[k].co2_t for k in ("shuttle", "bus_cng", "bus_electric"))
    )
    assert total.pm10_kg == pytest.approx(total.pm10_exhaust_kg + total.pm10_non_exhaust_kg)


def test_emep_speed_corrections() -> None:
    assert tyre_speed_correction(30) == 1.39
    assert tyre_speed_correction(60) == pytest.approx(-0.00974 * 60 + 1.78)
    assert tyre_speed_correction(100) == 0.902
    assert brake_speed_correction(20) == 1.67
    assert brake_speed_correction(50) == pytest.approx(1.40)
    assert brake_speed_correction(120) == 0.185


def test_every_block_is_sourced_and_checked() -> None:
    doc = yaml.safe_load(YAML.read_text(encoding="utf-8"))
    load_emission_factors()
    unsourced = {**doc, "grid": {"co2_kg_per_kwh": 0.4173}}
    with pytest.raises(EmissionFactorsError, match="grid needs a source"):
        emission_factors_from_dict(unsourced)
    bad_mix = {**doc, "car_fleet_mix": {**doc["car_fleet_mix"], "petrol": 0.9}}
    with pytest.raises(EmissionFactorsError, match="sum to 1"):
        emission_factors_from_dict(bad_mix)
    missing = {k: v for k, v in doc.items() if k != "bus_cng"}
    with pytest.raises(EmissionFactorsError, match="bus_cng"):
        emission_factors_from_dict(missing)
    with pytest.raises(EmissionFactorsError, match="unknown vehicle type"):
        road_emissions({"tram": 1.0})
