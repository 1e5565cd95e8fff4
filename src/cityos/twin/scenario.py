"""Twin scenarios: what a planner changes, as YAML files checked into frozen dataclasses.

A scenario file has up to six sections (``cars``, ``shuttles``, ``transit``, ``pricing``,
``simulation``, ``targets``) besides its name and titles; every field has a default (today's
Sejong), a unit and an allowed range. Values land in frozen dataclasses that check their
ranges on construction (PyVRP style), and the loader names the wrong field with the allowed
values or range, so a bad file fails before any simulation starts::

    shuttles.fleet_size = -5 is out of range; allowed: 0..100000 [vehicles]
    unknown field 'shuttle' in the scenario (did you mean 'shuttles'?); allowed: cars, ...

Every message is given in English and Korean (``ScenarioError.en``, ``.ko``).

Scenarios ship inside the package (``cityos/data/twin/scenarios``) and are loaded by name
(``load_scenario("baseline")``) or from a path (``load_scenario("my/variant.yaml")``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

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
    "load_reference",
    "load_scenario",
    "scenario_fields",
    "scenario_from_dict",
]


class ScenarioError(ValueError):
    """A scenario file or value is missing, unknown, of the wrong type or out of range.

    Carries the message in English (``en``) and Korean (``ko``); ``str()`` gives both.
    """

    def __init__(self, en: str, ko: str) -> None:
        self.en, self.ko = en, ko
        super().__init__(f"{en}\n{ko}")


def _spec(default: float, lo: float, hi: float, unit: str, doc: str) -> Any:
    """Declare a numeric field with its allowed range [lo, hi], unit and meaning."""
    return field(default=default, metadata={"range": (lo, hi), "unit": unit, "doc": doc})


class _Checked:
    """Mixin: check every numeric field against the range declared in its metadata."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            lo, hi = f.metadata.get("range", (None, None))
            if lo is None:
                continue
            path = f"{self.SECTION}.{f.name}"
            value = getattr(self, f.name)
            is_int = f.type in (int, "int")
            kind_en, kind_ko = ("an integer", "정수") if is_int else ("a number", "숫자")
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (is_int and not float(value).is_integer())
                or value != value  # NaN
            ):
                raise ScenarioError(
                    f"{path} = {value!r} must be {kind_en} in {_fmt(lo)}..{_fmt(hi)} "
                    f"[{f.metadata['unit']}]",
                    f"{path} = {value!r}: {_fmt(lo)}..{_fmt(hi)} 범위의 {kind_ko}여야 합니다 "
                    f"[{f.metadata['unit']}]",
                )
            if not lo <= value <= hi:
                raise ScenarioError(
                    f"{path} = {value!r} is out of range; allowed: "
                    f"{_fmt(lo)}..{_fmt(hi)} [{f.metadata['unit']}]",
                    f"{path} = {value!r} 값이 범위를 벗어났습니다. 허용 범위: "
                    f"{_fmt(lo)}..{_fmt(hi)} [{f.metadata['unit']}]",
                )
            object.__setattr__(self, f.name, int(value) if is_int else float(value))


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class CarParams(_Checked):
    """Private cars: how many households keep."""

    SECTION: ClassVar[str] = "cars"

    ownership_factor: float = _spec(
        1.0, 0.0, 1.5, "-", "household cars kept, as a share of today's (1/3 = cut to a third)"
    )


@dataclass(frozen=True)
class ShuttleParams(_Checked):
    """The shared autonomous shuttle (DRT) fleet and its service promise."""

    SECTION: ClassVar[str] = "shuttles"

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

    SECTION: ClassVar[str] = "transit"

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

    SECTION: ClassVar[str] = "pricing"

    parking_factor: float = _spec(1.0, 0.0, 20.0, "-", "parking charges x this")
    fuel_krw_per_km: float = _spec(140.0, 0, 1000, "KRW/km", "fuel (or road charge) per km")


@dataclass(frozen=True)
class SimulationParams(_Checked):
    """How the day is simulated (scale, seed, MSA iterations, road capacity)."""

    SECTION: ClassVar[str] = "simulation"

    scale: float = _spec(
        1.0,
        0.01,
        4.0,
        "-",
        "residents simulated / today's 390,000 (below 1: a sample; above 1: a grown city "
        "on today's roads, zones scaled alike)",
    )
    seed: int = _spec(42, 0, 2**31 - 1, "-", "seed of every random draw")
    msa_iterations: int = _spec(4, 1, 20, "-", "traffic network loadings (MSA)")
    road_capacity_factor: float = _spec(
        2.0,
        0.25,
        10.0,
        "-",
        "link capacity and storage x this; 2 = each drawn link stands for about two real "
        "roads (199 drawn km for Sejong's 402 km)",
    )


@dataclass(frozen=True)
class TargetParams(_Checked):
    """The policy targets a report checks the scenario against its reference."""

    SECTION: ClassVar[str] = "targets"

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
_TOP = ("name", "title_ko", "title_en", "description", "reference", "version")


def _unknown(what: str, key: object, allowed: list[str]) -> ScenarioError:
    """Return the error for an unknown name, with a close match and the allowed names."""
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint_en = f" (did you mean {close[0]!r}?)" if close else ""
    hint_ko = f" ({close[0]!r}을(를) 뜻했나요?)" if close else ""
    names = ", ".join(allowed)
    return ScenarioError(
        f"unknown {what} {key!r}{hint_en}; allowed: {names}",
        f"알 수 없는 {_KO.get(what, what)} {key!r}{hint_ko}. 허용되는 값: {names}",
    )


_KO = {
    "field": "항목",
    "top-level field": "최상위 항목",
    "parameter": "매개변수",
    "scenario": "시나리오",
}


def _bad_name(key: str, value: object) -> ScenarioError:
    return ScenarioError(
        f"{key} = {value!r} must be 1-64 lower-case letters, digits, '-' or '_', "
        "starting with a letter or digit",
        f"{key} = {value!r}: 영문 소문자, 숫자, '-', '_'로 된 1~64자여야 합니다 "
        "(첫 글자는 영문자나 숫자)",
    )


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
            raise _bad_name("name", self.name)
        if self.reference is not None and (
            not isinstance(self.reference, str) or not _NAME.match(self.reference)
        ):
            raise _bad_name("reference", self.reference)
        if self.reference == self.name:
            raise ScenarioError(
                f"reference = {self.reference!r} names the scenario itself; give another "
                "scenario (e.g. baseline) or leave it out",
                f"reference = {self.reference!r}는 시나리오 자신입니다. 다른 시나리오(예: "
                "baseline)를 쓰거나 항목을 지우세요",
            )

    def with_param(self, path: str, value: Any) -> Scenario:
        """Return a copy with one ``section.field`` set (the value is checked)."""
        section, _, name = path.partition(".")
        allowed = scenario_fields()
        if section not in _SECTIONS or name not in allowed.get(section, {}):
            raise _unknown("parameter", path, [f"{s}.{f}" for s, fs in allowed.items() for f in fs])
        part = getattr(self, section)
        new = dataclasses.replace(part, **{name: _coerce(part, name, value)})
        return dataclasses.replace(self, **{section: new})

    def to_dict(self) -> dict[str, Any]:
        """Return the scenario as plain data (the YAML file's shape)."""
        return dataclasses.asdict(self)


def _coerce(part: Any, name: str, value: Any) -> Any:
    """Turn a command-line string into the field's type; leave other values alone."""
    f = {x.name: x for x in dataclasses.fields(part)}[name]
    if not isinstance(value, str):
        return value
    is_int = f.type in (int, "int")
    try:
        return int(value) if is_int else float(value)
    except ValueError:
        lo, hi = f.metadata["range"]
        kind_en, kind_ko = ("an integer", "정수") if is_int else ("a number", "숫자")
        path = f"{part.SECTION}.{name}"
        raise ScenarioError(
            f"{path} = {value!r} must be {kind_en} in {_fmt(lo)}..{_fmt(hi)}",
            f"{path} = {value!r}: {_fmt(lo)}..{_fmt(hi)} 범위의 {kind_ko}여야 합니다",
        ) from None


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
    allowed = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if not isinstance(block, dict):
        raise ScenarioError(
            f"{name} must be a mapping of fields ({', '.join(allowed)}), not {block!r}",
            f"{name}은(는) 항목의 매핑({', '.join(allowed)})이어야 합니다. 받은 값: {block!r}",
        )
    for key in block:
        if key not in allowed:
            raise _unknown("field", f"{name}.{key}", [f"{name}.{a}" for a in allowed])
    return cls(**block)


def scenario_from_dict(doc: Any) -> Scenario:
    """Return the checked scenario of a parsed YAML document."""
    if not isinstance(doc, dict):
        raise ScenarioError(
            "a scenario file must be a YAML mapping (name: ..., shuttles: {...}, ...)",
            "시나리오 파일은 YAML 매핑이어야 합니다 (name: ..., shuttles: {...}, ...)",
        )
    allowed = [*_TOP, *_SECTIONS]
    for key in doc:
        if key not in allowed:
            raise _unknown("top-level field", key, allowed)
    if "name" not in doc:
        raise ScenarioError(
            "a scenario needs a name (name: my-scenario)",
            "시나리오에는 name 항목이 필요합니다 (name: my-scenario)",
        )
    if doc.get("version", 1) != 1:
        raise ScenarioError(
            f"version = {doc['version']!r} is not supported; allowed: 1",
            f"version = {doc['version']!r}은(는) 지원하지 않습니다. 허용되는 값: 1",
        )
    for key in ("title_ko", "title_en", "description"):
        if not isinstance(doc.get(key) or "", str):
            raise ScenarioError(f"{key} must be text", f"{key}은(는) 문자열이어야 합니다")
    sections = {name: _section(cls, name, doc.get(name)) for name, cls in _SECTIONS.items()}
    return Scenario(
        name=doc["name"],
        title_ko=doc.get("title_ko") or "",
        title_en=doc.get("title_en") or "",
        description=str(doc.get("description") or "").strip(),
        reference=doc.get("reference"),
        **sections,
    )


def _root() -> Any:
    return resources.files("cityos").joinpath("data/twin/scenarios")


def builtin_scenarios() -> list[str]:
    """Return the names of the scenarios shipped with the package."""
    return sorted(p.name[:-5] for p in _root().iterdir() if p.name.endswith(".yaml"))


def _is_path(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file()


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by name (``"baseline"``) or a scenario file by path."""
    text_path = str(name_or_path)
    if _is_path(text_path):
        path = Path(text_path)
        if not path.is_file():
            raise ScenarioError(
                f"no scenario file {text_path!r}; built-in scenarios: "
                f"{', '.join(builtin_scenarios())}",
                f"시나리오 파일 {text_path!r}이(가) 없습니다. 내장 시나리오: "
                f"{', '.join(builtin_scenarios())}",
            )
        text = path.read_text(encoding="utf-8")
    else:
        names = builtin_scenarios()
        if text_path not in names:
            raise _unknown("scenario", text_path, [*names, "<path>.yaml"])
        text = _root().joinpath(f"{text_path}.yaml").read_text("utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(
            f"{text_path}: not valid YAML: {exc}", f"{text_path}: 올바른 YAML이 아닙니다: {exc}"
        ) from exc
    try:
        return scenario_from_dict(doc)
    except ScenarioError as exc:
        raise ScenarioError(f"{text_path}: {exc.en}", f"{text_path}: {exc.ko}") from None


def load_reference(scenario: Scenario, given_as: str | Path) -> Scenario | None:
    """Load the reference of ``scenario`` (None without one) at the same scale and seed.

    A scenario read from a file finds its reference beside it (``<reference>.yaml`` in the
    same directory) before the built-in scenarios.
    """
    if scenario.reference is None:
        return None
    sibling = Path(str(given_as)).parent / f"{scenario.reference}.yaml"
    ref = load_scenario(
        sibling if _is_path(str(given_as)) and sibling.is_file() else scenario.reference
    )
    sim = scenario.simulation
    return ref.with_param("simulation.scale", sim.scale).with_param("simulation.seed", sim.seed)
