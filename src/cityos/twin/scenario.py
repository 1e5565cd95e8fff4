"""Twin scenarios: what a planner changes, as YAML files checked into frozen dataclasses.

A scenario file has up to six sections (``cars``, ``shuttles``, ``transit``, ``pricing``,
``simulation``, ``targets``) besides its name and titles; every field has a default (today's
Sejong), a unit and an allowed range. Values land in frozen dataclasses that check their
ranges on construction (PyVRP style), and the loader names the wrong field with the allowed
values or range, so a bad file fails before any simulation starts::

    shuttles.fleet_size = -5 is out of range; allowed: 0..100000 [vehicles]
    unknown field 'shuttle' in scenario; allowed: cars, name, pricing, ...

Scenarios ship inside the package (``cityos/data/twin/scenarios``) and are loaded by name
(``load_scenario("baseline")``) or from a path (``load_scenario("my/variant.yaml")``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CarParams",
    "PricingParams",
    "Scenario",
    "ScenarioError",
    "ShuttleParams",
    "SimulationParams",
    "TargetParams",
    "TransitParams",
    "builtin_scenarios",
    "load_scenario",
    "scenario_fields",
    "scenario_from_dict",
]


class ScenarioError(ValueError):
    """A scenario file or value is missing, unknown, of the wrong type or out of range."""


def _spec(default: float, lo: float, hi: float, unit: str, doc: str) -> Any:
    """Declare a numeric field with its allowed range [lo, hi], unit and meaning."""
    return field(default=default, metadata={"range": (lo, hi), "unit": unit, "doc": doc})


class _Checked:
    """Mixin: check every numeric field against the range declared in its metadata."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            lo, hi = f.metadata.get("range", (None, None))
            if lo is None:
                continue
            value = getattr(self, f.name)
            is_int = f.type in (int, "int")
            if isinstance(value, bool) or not isinstance(value, int | float):
                kind = "an integer" if is_int else "a number"
                raise ScenarioError(f"{f.name} = {value!r} must be {kind}")
            if is_int and not float(value).is_integer():
                raise ScenarioError(f"{f.name} = {value!r} must be an integer")
            if not lo <= value <= hi:
                raise ScenarioError(
                    f"{f.name} = {value!r} is out of range; allowed: "
                    f"{_fmt(lo)}..{_fmt(hi)} [{f.metadata['unit']}]"
                )
            object.__setattr__(self, f.name, int(value) if is_int else float(value))


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class CarParams(_Checked):
    """Private cars: how many households keep."""

    ownership_factor: float = _spec(
        1.0, 0.0, 1.5, "-", "household cars kept, as a share of today's (1/3 = cut to a third)"
    )


@dataclass(frozen=True)
class ShuttleParams(_Checked):
    """The shared autonomous shuttle (DRT) fleet and its service promise."""

    fleet_size: int = _spec(2000, 0, 100_000, "vehicles", "shuttles at full scale; 0 = none")
    capacity: int = _spec(6, 4, 8, "seats", "passengers per shuttle")
    max_wait_min: float = _spec(15.0, 1, 60, "min", "latest pick-up after the passenger is ready")
    max_detour: float = _spec(1.5, 1.0, 4.0, "-", "longest ride / direct car time")
    fare_krw: float = _spec(1400.0, 0, 50_000, "KRW", "fare per shuttle trip")
    expected_wait_min: float = _spec(
        10.0, 0, 120, "min", "wait travellers expect when choosing the shuttle (mode choice)"
    )


@dataclass(frozen=True)
class TransitParams(_Checked):
    """BRT and bus service: frequencies relative to today's timetable, and fares."""

    brt_frequency_factor: float = _spec(
        1.0, 0.25, 4.0, "-", "BRT departures per hour x this (2 = headways halved)"
    )
    bus_frequency_factor: float = _spec(1.0, 0.25, 4.0, "-", "bus departures per hour x this")
    brt_speed_factor: float = _spec(1.0, 0.5, 2.0, "-", "BRT commercial speed x this")
    adult_fare_krw: float = _spec(1400.0, 0, 10_000, "KRW", "adult BRT/bus fare")
    child_fare_krw: float = _spec(600.0, 0, 10_000, "KRW", "child (6-12) fare")


@dataclass(frozen=True)
class PricingParams(_Checked):
    """What driving costs the driver per trip."""

    parking_factor: float = _spec(1.0, 0.0, 20.0, "-", "parking charges x this")
    fuel_krw_per_km: float = _spec(140.0, 0, 1000, "KRW/km", "fuel (or road charge) per km")


@dataclass(frozen=True)
class SimulationParams(_Checked):
    """How the day is simulated (scale, seed, MSA iterations, road capacity)."""

    scale: float = _spec(1.0, 0.01, 1.0, "-", "share of the 390,000 residents simulated")
    seed: int = _spec(42, 0, 2**31 - 1, "-", "seed of every random draw")
    msa_iterations: int = _spec(4, 1, 20, "-", "traffic network loadings (MSA)")
    road_capacity_factor: float = _spec(
        1.0, 0.25, 10.0, "-", "link capacity and storage x this (sensitivity on the coarse network)"
    )


@dataclass(frozen=True)
class TargetParams(_Checked):
    """The policy targets a report checks the scenario against its reference."""

    private_cars_max_ratio: float = _spec(
        1.0, 0.0, 10.0, "-", "private cars / reference private cars at most"
    )
    commute_time_max_increase: float = _spec(
        0.10, -1.0, 10.0, "-", "mean commute time may rise by at most this share"
    )
    cost_max_increase: float = _spec(
        0.0, -1.0, 10.0, "-", "mean cost per trip may rise by at most this share"
    )


_SECTIONS: dict[str, type[_Checked]] = {
    "cars": CarParams,
    "shuttles": ShuttleParams,
    "transit": TransitParams,
    "pricing": PricingParams,
    "simulation": SimulationParams,
    "targets": TargetParams,
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Scenario:
    """One what-if for the twin: a name, titles and the six parameter sections."""

    name: str
    title_ko: str = ""
    title_en: str = ""
    description: str = ""
    reference: str | None = None  # scenario to compare with (e.g. "baseline")
    cars: CarParams = field(default_factory=CarParams)
    shuttles: ShuttleParams = field(default_factory=ShuttleParams)
    transit: TransitParams = field(default_factory=TransitParams)
    pricing: PricingParams = field(default_factory=PricingParams)
    simulation: SimulationParams = field(default_factory=SimulationParams)
    targets: TargetParams = field(default_factory=TargetParams)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ScenarioError(
                f"name = {self.name!r} must be 1-64 lower-case letters, digits, '-' or '_'"
            )
        if self.reference is not None and not _NAME.match(str(self.reference)):
            raise ScenarioError(f"reference = {self.reference!r} must be a scenario name")

    def with_param(self, path: str, value: Any) -> Scenario:
        """Return a copy with one ``section.field`` set (the value is checked)."""
        section, _, name = path.partition(".")
        allowed = scenario_fields()
        if section not in _SECTIONS or name not in allowed.get(section, {}):
            raise ScenarioError(
                f"unknown parameter {path!r}; allowed: "
                + ", ".join(f"{s}.{f}" for s, fs in allowed.items() for f in fs)
            )
        part = getattr(self, section)
        try:
            new = dataclasses.replace(part, **{name: _coerce(part, name, value)})
        except ScenarioError as exc:
            raise ScenarioError(f"{section}.{exc}") from None
        return dataclasses.replace(self, **{section: new})

    def to_dict(self) -> dict[str, Any]:
        """Return the scenario as plain data (the YAML file's shape)."""
        return dataclasses.asdict(self)


def _coerce(part: Any, name: str, value: Any) -> Any:
    """Turn a command-line string into the field's type; leave other values alone."""
    f = {x.name: x for x in dataclasses.fields(part)}[name]
    if not isinstance(value, str):
        return value
    try:
        return int(value) if f.type in (int, "int") else float(value)
    except ValueError:
        kind = "an integer" if f.type in (int, "int") else "a number"
        raise ScenarioError(f"{name} = {value!r} must be {kind}") from None


def scenario_fields() -> dict[str, dict[str, dict[str, Any]]]:
    """Return every section's fields with default, range, unit and meaning (for docs)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for section, cls in _SECTIONS.items():
        out[section] = {
            f.name: {
                "default": f.default,
                "range": f.metadata["range"],
                "unit": f.metadata["unit"],
                "doc": f.metadata["doc"],
            }
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        }
    return out


def _section(cls: type[_Checked], name: str, block: Any) -> Any:
    if block is None:
        return cls()
    if not isinstance(block, dict):
        raise ScenarioError(f"{name} must be a mapping of fields")
    allowed = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in block:
        if key not in allowed:
            raise ScenarioError(
                f"unknown field {name}.{key!s}; allowed: {', '.join(sorted(allowed))}"
            )
    try:
        return cls(**block)
    except ScenarioError as exc:
        raise ScenarioError(f"{name}.{exc}") from None


def scenario_from_dict(doc: Any) -> Scenario:
    """Return the checked scenario of a parsed YAML document."""
    if not isinstance(doc, dict):
        raise ScenarioError("a scenario file must be a YAML mapping")
    top = ("name", "title_ko", "title_en", "description", "reference", "version")
    allowed = sorted((*top, *_SECTIONS))
    for key in doc:
        if key not in allowed:
            raise ScenarioError(f"unknown field {key!r} in scenario; allowed: {', '.join(allowed)}")
    if "name" not in doc:
        raise ScenarioError("a scenario needs a name")
    if doc.get("version", 1) != 1:
        raise ScenarioError(f"version = {doc['version']!r} is not supported; allowed: 1")
    for key in ("title_ko", "title_en", "description"):
        if not isinstance(doc.get(key, ""), str):
            raise ScenarioError(f"{key} must be text")
    sections = {name: _section(cls, name, doc.get(name)) for name, cls in _SECTIONS.items()}
    return Scenario(
        name=doc["name"],
        title_ko=doc.get("title_ko", ""),
        title_en=doc.get("title_en", ""),
        description=str(doc.get("description", "")).strip(),
        reference=doc.get("reference"),
        **sections,
    )


def builtin_scenarios() -> list[str]:
    """Return the names of the scenarios shipped with the package."""
    root = resources.files("cityos").joinpath("data/twin/scenarios")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by name (``"baseline"``) or a scenario file by path."""
    text_path = str(name_or_path)
    path = Path(text_path)
    if text_path.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise ScenarioError(f"no scenario file {text_path!r}")
        text = path.read_text(encoding="utf-8")
    else:
        names = builtin_scenarios()
        if text_path not in names:
            raise ScenarioError(
                f"unknown scenario {text_path!r}; built in: {', '.join(names)} "
                "(or give a path to a .yaml file)"
            )
        root = resources.files("cityos").joinpath("data/twin/scenarios")
        text = root.joinpath(f"{text_path}.yaml").read_text("utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{text_path}: not valid YAML: {exc}") from exc
    return scenario_from_dict(doc)
