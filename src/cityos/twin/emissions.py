"""Road-traffic CO2 [t] and particulate matter [kg] from vehicle-km by vehicle type.

Factors come from ``cityos/data/twin/emission_factors.yaml`` (every block cited or marked
"assumed, because ..."). Pure functions, one per model:

- ``fuel_co2_g_per_km``: tailpipe CO2 = CO2 per litre / km per litre (IPCC 2006 defaults).
- ``electric_co2_g_per_km``: upstream CO2 of electric vehicles = energy at the plug /
  charging efficiency x the Korean grid factor (ministry figure for 2023).
- ``non_exhaust_g_per_km``: tyre, brake and road-surface wear, EMEP/EEA guidebook 2023
  1.A.3.b.vi-vii Tier 2: TSP factor x mass fraction x speed correction.
- ``road_emissions``: the orchestrator: vehicle-km per type (car, bus_cng, bus_electric,
  shuttle) to CO2 [t], exhaust and non-exhaust PM10 and PM2.5 [kg].
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

VEHICLE_TYPES = ("car", "bus_cng", "bus_electric", "shuttle")
FUELS = ("petrol", "diesel", "lpg", "ev")
PROCESSES = ("tyre", "brake", "road")

__all__ = [
    "FUELS",
    "VEHICLE_TYPES",
    "EmissionFactors",
    "EmissionFactorsError",
    "Emissions",
    "brake_speed_correction",
    "electric_co2_g_per_km",
    "fuel_co2_g_per_km",
    "load_emission_factors",
    "non_exhaust_g_per_km",
    "road_emissions",
    "tyre_speed_correction",
]


class EmissionFactorsError(ValueError):
    """The emission-factor file is missing a value, a source, or has one out of range."""


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise EmissionFactorsError(msg)


@dataclass(frozen=True)
class EmissionFactors:
    """Emission factors per fuel, vehicle type and wear process (checked on creation)."""

    grid_co2_kg_per_kwh: float  # [kg CO2/kWh]
    car_fleet_mix: dict[str, float]  # fuel -> share of car-km [-]
    co2_kg_per_l: dict[str, float]  # petrol/diesel/lpg [kg/L]
    km_per_l: dict[str, float]  # [km/L]
    exhaust_pm_g_per_km: dict[str, float]  # petrol/diesel/lpg/bus_cng [g/km]
    bus_cng_mj_per_km: float  # [MJ/km]
    bus_cng_co2_kg_per_mj: float  # [kg/MJ]
    kwh_per_km: dict[str, float]  # ev_car/bus_electric/shuttle [kWh/km]
    charging_efficiency: float  # [-]
    tsp_g_per_km: dict[str, dict[str, float]]  # car/shuttle/bus -> process -> [g/km]
    pm10_fraction: dict[str, float]  # process -> [-]
    pm25_fraction: dict[str, float]  # process -> [-]
    electric_brake_factor: float  # [-]

    def __post_init__(self) -> None:
        _need(0 <= self.grid_co2_kg_per_kwh <= 1.5, "grid factor in [0, 1.5] kg/kWh")
        _need(set(self.car_fleet_mix) == set(FUELS), f"car_fleet_mix needs {FUELS}")
        _need(abs(sum(self.car_fleet_mix.values()) - 1) < 1e-6, "car_fleet_mix must sum to 1")
        _need(all(v >= 0 for v in self.car_fleet_mix.values()), "fleet shares must be >= 0")
        for fuel in FUELS[:3]:
            _need(0 < self.co2_kg_per_l.get(fuel, -1) <= 4, f"{fuel} co2_kg_per_l in (0, 4]")
            _need(0 < self.km_per_l.get(fuel, -1) <= 50, f"{fuel} km_per_l in (0, 50]")
        _need(
            set(self.exhaust_pm_g_per_km) == {"petrol", "diesel", "lpg", "bus_cng"},
            "exhaust_pm_g_per_km needs petrol, diesel, lpg, bus_cng",
        )
        _need(all(0 <= v <= 1 for v in self.exhaust_pm_g_per_km.values()), "PM in [0, 1] g/km")
        _need(0 < self.bus_cng_mj_per_km <= 100, "bus_cng energy in (0, 100] MJ/km")
        _need(0 < self.bus_cng_co2_kg_per_mj <= 0.2, "bus_cng co2 in (0, 0.2] kg/MJ")
        _need(
            set(self.kwh_per_km) == {"ev_car", "bus_electric", "shuttle"},
            "electricity needs ev_car, bus_electric, shuttle",
        )
        _need(all(0 < v <= 5 for v in self.kwh_per_km.values()), "kWh/km in (0, 5]")
        _need(0.5 <= self.charging_efficiency <= 1, "charging_efficiency in [0.5, 1]")
        _need(set(self.tsp_g_per_km) == {"car", "shuttle", "bus"}, "tsp needs car, shuttle, bus")
        for kind, table in self.tsp_g_per_km.items():
            _need(set(table) == set(PROCESSES), f"tsp.{kind} needs {PROCESSES}")
            _need(all(0 <= v <= 1 for v in table.values()), f"tsp.{kind} in [0, 1] g/km")
        for name in ("pm10_fraction", "pm25_fraction"):
            table = getattr(self, name)
            _need(set(table) == set(PROCESSES), f"{name} needs {PROCESSES}")
            _need(all(0 <= v <= 1 for v in table.values()), f"{name} in [0, 1]")
        _need(
            all(self.pm25_fraction[p] <= self.pm10_fraction[p] for p in PROCESSES),
            "PM2.5 fraction must not exceed the PM10 fraction",
        )
        _need(0 <= self.electric_brake_factor <= 1, "electric_brake_factor in [0, 1]")


def _sourced(block: dict[str, Any], where: str) -> dict[str, Any]:
    _need(isinstance(block, dict), f"{where} must be a mapping")
    _need(bool(str(block.get("source", "")).strip()), f"{where} needs a source")
    return {k: v for k, v in block.items() if k != "source"}


def emission_factors_from_dict(doc: dict[str, Any]) -> EmissionFactors:
    """Build checked emission factors from the parsed YAML document."""
    try:
        fuel = {k: _sourced(doc["fuel"][k], f"fuel.{k}") for k in FUELS[:3]}
        ne = _sourced(doc["non_exhaust"], "non_exhaust")
        cng = _sourced(doc["bus_cng"], "bus_cng")
        return EmissionFactors(
            grid_co2_kg_per_kwh=float(_sourced(doc["grid"], "grid")["co2_kg_per_kwh"]),
            car_fleet_mix={
                k: float(v) for k, v in _sourced(doc["car_fleet_mix"], "car_fleet_mix").items()
            },
            co2_kg_per_l={k: float(v["co2_kg_per_l"]) for k, v in fuel.items()},
            km_per_l={k: float(v["km_per_l"]) for k, v in fuel.items()},
            exhaust_pm_g_per_km={
                k: float(v) for k, v in _sourced(doc["exhaust_pm_g_per_km"], "exhaust").items()
            },
            bus_cng_mj_per_km=float(cng["energy_mj_per_km"]),
            bus_cng_co2_kg_per_mj=float(cng["co2_kg_per_mj"]),
            kwh_per_km={
                k: float(v)
                for k, v in _sourced(doc["electricity_kwh_per_km"], "electricity").items()
            },
            charging_efficiency=float(_sourced(doc["charging_efficiency"], "charging")["value"]),
            tsp_g_per_km={
                k: {p: float(x) for p, x in v.items()} for k, v in ne["tsp_g_per_km"].items()
            },
            pm10_fraction={k: float(v) for k, v in ne["pm10_fraction"].items()},
            pm25_fraction={k: float(v) for k, v in ne["pm25_fraction"].items()},
            electric_brake_factor=float(
                _sourced(doc["electric_brake_factor"], "electric_brake_factor")["value"]
            ),
        )
    except KeyError as exc:
        raise EmissionFactorsError(f"emission factors lack {exc.args[0]!r}") from exc


def load_emission_factors(path: Path | None = None) -> EmissionFactors:
    """Load the emission factors from the shipped YAML file, or from ``path``."""
    if path is None:
        text = (
            resources.files("cityos").joinpath("data/twin/emission_factors.yaml").read_text("utf-8")
        )
    else:
        text = path.read_text(encoding="utf-8")
    return emission_factors_from_dict(yaml.safe_load(text))


def fuel_co2_g_per_km(co2_kg_per_l: float, km_per_l: float) -> float:
    """Return tailpipe CO2 [g/km] from CO2 per litre [kg/L] and fuel economy [km/L]."""
    return 1000.0 * co2_kg_per_l / km_per_l


def electric_co2_g_per_km(kwh_per_km: float, grid_kg_per_kwh: float, efficiency: float) -> float:
    """Return upstream CO2 of an electric vehicle [g/km]: plug energy / efficiency x grid."""
    return 1000.0 * kwh_per_km / efficiency * grid_kg_per_kwh


def tyre_speed_correction(speed_kmh: float) -> float:
    """Return the EMEP/EEA tyre-wear speed correction [-] at mean speed ``speed_kmh``."""
    if speed_kmh < 40:
        return 1.39
    if speed_kmh <= 90:
        return -0.00974 * speed_kmh + 1.78
    return 0.902


def brake_speed_correction(speed_kmh: float) -> float:
    """Return the EMEP/EEA brake-wear speed correction [-] at mean speed ``speed_kmh``."""
    if speed_kmh < 40:
        return 1.67
    if speed_kmh <= 95:
        return -0.0270 * speed_kmh + 2.75
    return 0.185


def non_exhaust_g_per_km(
    tsp: dict[str, float],
    fraction: dict[str, float],
    speed_kmh: float,
    brake_factor: float = 1.0,
) -> float:
    """Return tyre + brake + road wear PM [g/km] (EMEP/EEA 2023 1.A.3.b.vi-vii, Tier 2)."""
    return (
        tsp["tyre"] * fraction["tyre"] * tyre_speed_correction(speed_kmh)
        + tsp["brake"] * fraction["brake"] * brake_speed_correction(speed_kmh) * brake_factor
        + tsp["road"] * fraction["road"]
    )


@dataclass(frozen=True)
class Emissions:
    """Emissions of one vehicle type (or the total) over the vehicle-km given."""

    vehicle_km: float  # [km]
    co2_t: float  # tailpipe + upstream electricity [t]
    pm10_exhaust_kg: float  # [kg]
    pm25_exhaust_kg: float  # [kg]
    pm10_non_exhaust_kg: float  # [kg]
    pm25_non_exhaust_kg: float  # [kg]

    @property
    def pm10_kg(self) -> float:
        """Return exhaust + non-exhaust PM10 [kg]."""
        return self.pm10_exhaust_kg + self.pm10_non_exhaust_kg

    @property
    def pm25_kg(self) -> float:
        """Return exhaust + non-exhaust PM2.5 [kg]."""
        return self.pm25_exhaust_kg + self.pm25_non_exhaust_kg


def _per_km(ef: EmissionFactors, kind: str, speed_kmh: float) -> tuple[float, float, float, float]:
    """Return (CO2, exhaust PM, non-exhaust PM10, non-exhaust PM2.5) [g/km] of a type."""
    grid, eff = ef.grid_co2_kg_per_kwh, ef.charging_efficiency
    if kind == "car":
        mix = ef.car_fleet_mix
        co2 = sum(
            mix[f] * fuel_co2_g_per_km(ef.co2_kg_per_l[f], ef.km_per_l[f]) for f in FUELS[:3]
        ) + mix["ev"] * electric_co2_g_per_km(ef.kwh_per_km["ev_car"], grid, eff)
        pm = sum(mix[f] * ef.exhaust_pm_g_per_km[f] for f in FUELS[:3])
        brake = 1.0 - mix["ev"] * (1.0 - ef.electric_brake_factor)
        wear = ef.tsp_g_per_km["car"]
    elif kind == "bus_cng":
        co2 = 1000.0 * ef.bus_cng_mj_per_km * ef.bus_cng_co2_kg_per_mj
        pm, brake, wear = ef.exhaust_pm_g_per_km["bus_cng"], 1.0, ef.tsp_g_per_km["bus"]
    elif kind == "bus_electric":
        co2 = electric_co2_g_per_km(ef.kwh_per_km["bus_electric"], grid, eff)
        pm, brake, wear = 0.0, ef.electric_brake_factor, ef.tsp_g_per_km["bus"]
    elif kind == "shuttle":
        co2 = electric_co2_g_per_km(ef.kwh_per_km["shuttle"], grid, eff)
        pm, brake, wear = 0.0, ef.electric_brake_factor, ef.tsp_g_per_km["shuttle"]
    else:
        raise EmissionFactorsError(f"unknown vehicle type {kind!r}; allowed: {VEHICLE_TYPES}")
    pm10 = non_exhaust_g_per_km(wear, ef.pm10_fraction, speed_kmh, brake)
    pm25 = non_exhaust_g_per_km(wear, ef.pm25_fraction, speed_kmh, brake)
    return co2, pm, pm10, pm25


def road_emissions(
    vehicle_km: dict[str, float],
    factors: EmissionFactors | None = None,
    speed_kmh: float = 30.0,
) -> dict[str, Emissions]:
    """Return emissions per vehicle type and ``"total"`` from vehicle-km [km] by type."""
    ef = factors or load_emission_factors()
    out: dict[str, Emissions] = {}
    for kind, km in vehicle_km.items():
        _need(km >= 0, f"vehicle_km[{kind!r}] must be >= 0")
        co2, pm, pm10, pm25 = _per_km(ef, kind, speed_kmh)
        out[kind] = Emissions(
            vehicle_km=km,
            co2_t=co2 * km / 1e6,
            pm10_exhaust_kg=pm * km / 1e3,
            pm25_exhaust_kg=pm * km / 1e3,
            pm10_non_exhaust_kg=pm10 * km / 1e3,
            pm25_non_exhaust_kg=pm25 * km / 1e3,
        )
    parts = list(out.values())
    out["total"] = Emissions(
        vehicle_km=sum(p.vehicle_km for p in parts),
        co2_t=sum(p.co2_t for p in parts),
        pm10_exhaust_kg=sum(p.pm10_exhaust_kg for p in parts),
        pm25_exhaust_kg=sum(p.pm25_exhaust_kg for p in parts),
        pm10_non_exhaust_kg=sum(p.pm10_non_exhaust_kg for p in parts),
        pm25_non_exhaust_kg=sum(p.pm25_non_exhaust_kg for p in parts),
    )
    return out
