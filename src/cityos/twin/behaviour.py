"""Travel-behaviour parameters of the twin, loaded from ``cityos/data/twin/behaviour.yaml``.

Every block of the YAML file carries a ``source`` (a citation or "assumed, because ...");
the loader refuses a block without one. Values land in frozen dataclasses that check their
ranges on construction (PyVRP style), so a bad file fails early with the field's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

ACTIVITIES = "HWESL"  # home, work, education, shop, leisure (index = purpose code)
PERSON_GROUPS = ("worker", "pupil", "university", "adult", "senior", "child")
DEPARTURE_KINDS = (
    "work_out",
    "work_back",
    "school_out",
    "school_back",
    "university_out",
    "university_back",
    "errand_out",
    "evening_out",
)
MODE_NAMES = ("car", "drt", "transit", "bike", "walk")
BIN_MIN = 30  # width of a departure-time bin [min]


class BehaviourError(ValueError):
    """The behaviour parameters are missing, unsourced or out of range."""


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise BehaviourError(msg)


@dataclass(frozen=True)
class DepartureProfile:
    """Departure-time shares per 30-minute bin of the day (48 bins) [-]."""

    shares: NDArray[np.float64]

    def __post_init__(self) -> None:
        _need(self.shares.shape == (1440 // BIN_MIN,), "a departure profile has 48 bins")
        _need(bool(np.all(self.shares >= 0)), "departure shares must be >= 0")
        _need(abs(float(self.shares.sum()) - 1.0) < 1e-6, "departure shares must sum to 1")


@dataclass(frozen=True)
class ActivityParams:
    """Daily activity patterns per person group, and activity durations."""

    patterns: dict[str, dict[str, float]]  # group -> pattern ("HWSH") -> share
    senior_age: int  # [years]
    shop_min: tuple[float, float]  # [min]
    leisure_min: tuple[float, float]  # [min]
    min_work_min: float  # [min]
    min_education_min: float  # [min]
    min_home_gap_min: float  # [min]

    def __post_init__(self) -> None:
        _need(set(self.patterns) == set(PERSON_GROUPS), f"groups must be {PERSON_GROUPS}")
        for group, pats in self.patterns.items():
            _need(abs(sum(pats.values()) - 1.0) < 1e-6, f"{group} pattern shares must sum to 1")
            for pat, share in pats.items():
                _need(share >= 0, f"{group}.{pat}: share must be >= 0")
                _need(
                    pat[0] == "H" and pat[-1] == "H" and set(pat) <= set(ACTIVITIES),
                    f"{group}.{pat}: a pattern starts and ends at home and uses {ACTIVITIES}",
                )
                _need(len(pat) <= 6, f"{group}.{pat}: at most five trips a day")
                _need(
                    all(a != b for a, b in zip(pat, pat[1:], strict=False)),
                    f"{group}.{pat}: consecutive activities must differ",
                )
        _need(50 <= self.senior_age <= 80, "senior_age must be in 50..80 [years]")
        for name in ("shop_min", "leisure_min"):
            lo, hi = getattr(self, name)
            _need(0 < lo <= hi <= 720, f"{name} must be 0 < low <= high <= 720 [min]")
        for name in ("min_work_min", "min_education_min", "min_home_gap_min"):
            _need(0 <= getattr(self, name) <= 720, f"{name} must be in [0, 720] [min]")


@dataclass(frozen=True)
class DestinationParams:
    """Multinomial-logit destination choice for shopping and leisure stops."""

    shop_beta_per_min: float  # [1/min], negative
    leisure_beta_per_min: float  # [1/min], negative
    shop_attraction: dict[str, float]  # zone feature -> weight
    leisure_attraction: dict[str, float]

    def __post_init__(self) -> None:
        for name in ("shop_beta_per_min", "leisure_beta_per_min"):
            _need(-1.0 <= getattr(self, name) < 0, f"{name} must be in [-1, 0) [1/min]")
        for name in ("shop_attraction", "leisure_attraction"):
            weights = getattr(self, name)
            _need(bool(weights), f"{name} needs at least one feature")
            _need(all(w >= 0 for w in weights.values()), f"{name} weights must be >= 0")


@dataclass(frozen=True)
class ModeParams:
    """Tour-based multinomial-logit mode choice with times [min] and costs [KRW]."""

    value_of_time_krw_h: float  # [KRW/h]
    beta_time_per_min: float  # [1/min], negative
    time_weight: dict[str, float]  # mode -> weight on its time [-]
    asc: dict[str, float]  # mode -> alternative-specific constant [-]
    fuel_krw_per_km: float  # [KRW/km]
    parking_krw: dict[str, float]  # activity -> parking charge per stop [KRW]
    transit_fare_krw: dict[str, float]  # adult/youth/child/senior [KRW]
    drt_fare_krw: float  # [KRW]
    drt_wait_min: float  # [min]
    drt_access_min: float  # [min]
    drt_detour: float  # [-]
    bike_age: tuple[int, int]  # [years]
    youth_age: tuple[int, int]  # [years]
    child_age: tuple[int, int]  # [years]

    def __post_init__(self) -> None:
        _need(1_000 <= self.value_of_time_krw_h <= 100_000, "value_of_time in 1e3..1e5 KRW/h")
        _need(-0.5 <= self.beta_time_per_min < 0, "beta_time_per_min must be in [-0.5, 0)")
        for name in ("time_weight", "asc"):
            _need(set(getattr(self, name)) == set(MODE_NAMES), f"{name} needs {MODE_NAMES}")
        _need(all(0 < w <= 5 for w in self.time_weight.values()), "time weights in (0, 5]")
        _need(all(-10 <= a <= 10 for a in self.asc.values()), "asc values in [-10, 10]")
        _need(0 <= self.fuel_krw_per_km <= 1_000, "fuel_krw_per_km in [0, 1000]")
        _need(
            set(self.parking_krw) == {"work", "education", "shop", "leisure"},
            "parking_krw needs work, education, shop, leisure",
        )
        _need(
            set(self.transit_fare_krw) == {"adult", "youth", "child", "senior"},
            "transit_fare_krw needs adult, youth, child, senior",
        )
        for name, table in (("parking_krw", self.parking_krw), ("fare", self.transit_fare_krw)):
            _need(all(0 <= v <= 50_000 for v in table.values()), f"{name} in [0, 50000] KRW")
        _need(0 <= self.drt_fare_krw <= 50_000, "drt_fare_krw in [0, 50000] KRW")
        _need(0 <= self.drt_wait_min <= 120, "drt_wait_min in [0, 120] min")
        _need(0 <= self.drt_access_min <= 30, "drt_access_min in [0, 30] min")
        _need(1 <= self.drt_detour <= 3, "drt_detour in [1, 3]")
        for name in ("bike_age", "youth_age", "child_age"):
            lo, hi = getattr(self, name)
            _need(0 <= lo <= hi <= 120, f"{name} must be 0 <= low <= high <= 120 [years]")

    @property
    def beta_cost_per_krw(self) -> float:
        """Return the cost coefficient, beta_time / value of time [1/KRW]."""
        return self.beta_time_per_min / (self.value_of_time_krw_h / 60.0)


@dataclass(frozen=True)
class Behaviour:
    """All travel-behaviour parameters of the twin."""

    activities: ActivityParams
    departures: dict[str, DepartureProfile]
    destination: DestinationParams
    mode: ModeParams

    def __post_init__(self) -> None:
        _need(set(self.departures) == set(DEPARTURE_KINDS), f"departures: {DEPARTURE_KINDS}")


def _sourced(block: dict[str, Any], where: str) -> dict[str, Any]:
    _need(isinstance(block, dict), f"{where} must be a mapping")
    src = block.get("source")
    _need(isinstance(src, str) and len(src.strip()) > 5, f"{where} needs a source")
    return {k: v for k, v in block.items() if k != "source"}


def _value(block: dict[str, Any], where: str) -> Any:
    return _sourced(block, where)["value"]


def _profile(shares: dict[str, float], where: str) -> DepartureProfile:
    arr = np.zeros(1440 // BIN_MIN)
    for key, share in shares.items():
        hh, mm = (int(x) for x in str(key).split(":"))
        _need(0 <= hh < 24 and mm in (0, 30), f"{where}.{key}: bins start at HH:00 or HH:30")
        arr[(hh * 60 + mm) // BIN_MIN] += float(share)
    return DepartureProfile(arr)


def behaviour_from_dict(doc: dict[str, Any]) -> Behaviour:
    """Return the behaviour parameters of a parsed ``behaviour.yaml`` document."""
    try:
        pats = _sourced(doc["activity_patterns"], "activity_patterns")
        dur = _sourced(doc["durations"], "durations")
        dest = _sourced(doc["destination"], "destination")
        mode = doc["mode"]
        deps = doc["departure"]
        activities = ActivityParams(
            patterns={g: {str(k): float(v) for k, v in pats[g].items()} for g in PERSON_GROUPS},
            senior_age=int(_value(pats["senior_age"], "activity_patterns.senior_age")),
            shop_min=(float(dur["shop_min"][0]), float(dur["shop_min"][1])),
            leisure_min=(float(dur["leisure_min"][0]), float(dur["leisure_min"][1])),
            min_work_min=float(dur["min_work_min"]),
            min_education_min=float(dur["min_education_min"]),
            min_home_gap_min=float(dur["min_home_gap_min"]),
        )
        departures = {
            k: _profile(_sourced(deps[k], f"departure.{k}")["shares"], f"departure.{k}")
            for k in DEPARTURE_KINDS
        }
        destination = DestinationParams(
            shop_beta_per_min=float(dest["shop_beta_per_min"]),
            leisure_beta_per_min=float(dest["leisure_beta_per_min"]),
            shop_attraction={k: float(v) for k, v in dest["shop_attraction"].items()},
            leisure_attraction={k: float(v) for k, v in dest["leisure_attraction"].items()},
        )

        def table(name: str) -> dict[str, float]:
            return {k: float(v) for k, v in _sourced(mode[name], f"mode.{name}").items()}

        def pair(name: str) -> tuple[int, int]:
            lo, hi = _value(mode[name], f"mode.{name}")
            return int(lo), int(hi)

        modes = ModeParams(
            value_of_time_krw_h=float(_value(mode["value_of_time_krw_h"], "mode.vot")),
            beta_time_per_min=float(_value(mode["beta_time_per_min"], "mode.beta_time")),
            time_weight=table("time_weight"),
            asc=table("asc"),
            fuel_krw_per_km=float(_value(mode["fuel_krw_per_km"], "mode.fuel_krw_per_km")),
            parking_krw=table("parking_krw"),
            transit_fare_krw=table("transit_fare_krw"),
            drt_fare_krw=float(_value(mode["drt_fare_krw"], "mode.drt_fare_krw")),
            drt_wait_min=float(_value(mode["drt_wait_min"], "mode.drt_wait_min")),
            drt_access_min=float(_value(mode["drt_access_min"], "mode.drt_access_min")),
            drt_detour=float(_value(mode["drt_detour"], "mode.drt_detour")),
            bike_age=pair("bike_age"),
            youth_age=pair("youth_age"),
            child_age=pair("child_age"),
        )
    except KeyError as exc:
        raise BehaviourError(f"behaviour file lacks {exc.args[0]!r}") from exc
    return Behaviour(activities, departures, destination, modes)


def load_behaviour(path: Path | None = None) -> Behaviour:
    """Load the behaviour parameters from the shipped YAML file, or from ``path``."""
    if path is None:
        text = resources.files("cityos").joinpath("data/twin/behaviour.yaml").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return behaviour_from_dict(yaml.safe_load(text))
