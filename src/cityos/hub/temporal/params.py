"""Read the temporal query parameters (GS CIM 009 v1.8, 6.18.3.2, 6.19.3.1; 4.11, 4.5.19).

``timerel`` picks a time interval on the ``timeproperty`` (4.11: ``before`` uses timeAt as
an exclusive bound, ``after`` as an inclusive one, ``between`` includes its lower and excludes
its upper bound): ``before`` is t < timeAt, ``after`` is t ≥ timeAt and ``between`` is
timeAt ≤ t < endTimeAt, so consecutive ``between`` windows neither overlap nor leave gaps.
Every refusal is a BadRequestData in English and Korean that says how to fix the request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityos.hub._time import parse_datetime
from cityos.hub.errors import BadRequestData, InvalidRequest
from cityos.hub.model import is_uri
from cityos.hub.temporal._times import to_micros

TIMERELS = ("before", "after", "between")
TIME_COLUMNS = {"observedAt": "ts", "createdAt": "created_at", "modifiedAt": "modified_at"}
AGGREGATION_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
TEMPORAL_OPTIONS = frozenset({"temporalValues", "aggregatedValues", "sysAttrs"})
TEMPORAL_FORMATS = ("normalized", "temporalValues", "aggregatedValues", "simplified", "keyValues")
_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d{1,6})?)S)?)?"
)
_CALENDAR = re.compile(r"P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T.*)?")
_MICROS = {
    "weeks": 604_800_000_000,
    "days": 86_400_000_000,
    "hours": 3_600_000_000,
    "minutes": 60_000_000,
}


def bad(english: str, korean: str) -> BadRequestData:
    """Return a BadRequestData with the message in English and Korean."""
    return BadRequestData(f"{english} / {korean}")


def invalid(english: str, korean: str) -> InvalidRequest:
    """Return an InvalidRequest (an unknown option or format, as on /entities), bilingual."""
    return InvalidRequest(f"{english} / {korean}")


@dataclass(frozen=True)
class TimeWindow:
    """Which instances a temporal query looks at: start to end on one time property [µs]."""

    timerel: str | None = None
    start: int | None = None  # inclusive lower bound
    end: int | None = None  # exclusive upper bound
    timeproperty: str = "observedAt"

    @property
    def column(self) -> str:
        """Return the history column of the time property."""
        return TIME_COLUMNS[self.timeproperty]


@dataclass(frozen=True)
class Aggregation:
    """What ``options=aggregatedValues`` asks for: methods and a period [µs] (None: whole)."""

    methods: tuple[str, ...]
    period: int | None


@dataclass(frozen=True)
class TemporalParams:
    """Everything about time in one temporal query or retrieval."""

    window: TimeWindow
    last_n: int | None = None
    representation: str = "normalized"  # normalized, temporalValues, aggregatedValues
    aggregation: Aggregation | None = None
    sys_attrs: bool = False
    # the datasetIds whose instances to return ("" is the default instance); None: all
    datasets: tuple[str, ...] | None = None


def parse_datasets(text: object) -> tuple[str, ...] | None:
    """Return the datasetIds a ``datasetId`` parameter keeps (4.5.5; ``@none``: the default
    instance, stored as "")."""
    if text is None:
        return None
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    if not names:
        raise bad(
            "datasetId must name at least one datasetId (or @none for the default instance)",
            "datasetId에는 datasetId를 하나 이상 쓰세요(기본 인스턴스는 @none)",
        )
    for name in names:
        if name != "@none" and not is_uri(name):
            raise bad(
                f"datasetId {name!r} is not a URI (nor @none)",
                f"datasetId {name!r}은(는) URI가 아닙니다(@none도 아님)",
            )
    return tuple(dict.fromkeys("" if n == "@none" else n for n in names))


def parse_duration(text: str) -> int:
    """Return an ISO 8601 duration of weeks, days, hours, minutes, seconds in µs."""
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        if _CALENDAR.fullmatch(text) and ("Y" in text.split("T")[0] or "M" in text.split("T")[0]):
            raise bad(
                f"aggrPeriodDuration {text!r}: months and years have no fixed length; use "
                "weeks, days, hours, minutes or seconds (e.g. P30D, PT1H)",
                f"aggrPeriodDuration {text!r}: 월·연 단위는 길이가 일정하지 않습니다. "
                "주·일·시·분·초(예: P30D, PT1H)를 쓰세요",
            )
        raise bad(
            f"aggrPeriodDuration {text!r} is not an ISO 8601 duration such as PT1H, PT15M or P1D",
            f"aggrPeriodDuration {text!r}은(는) ISO 8601 기간(예: PT1H, PT15M, P1D)이 아닙니다",
        )
    micros = 0
    for name, size in _MICROS.items():
        if match.group(name):
            micros += int(match.group(name)) * size
    if match.group("seconds"):
        whole, _, fraction = match.group("seconds").partition(".")
        micros += int(whole) * 1_000_000 + int(fraction.ljust(6, "0") or 0)
    return micros


def _instant(params: Mapping[str, Any], name: str) -> int:
    raw = params.get(name)
    try:
        return to_micros(parse_datetime(raw, field=name))
    except BadRequestData:
        raise bad(
            f"{name} must be a date-time with a time zone, e.g. 2026-11-25T09:00:00Z (got {raw!r})",
            f"{name}은(는) 시간대가 있는 날짜-시간이어야 합니다. 예: 2026-11-25T09:00:00Z",
        ) from None


def parse_window(params: Mapping[str, Any]) -> TimeWindow:
    """Return the time window of ``timerel``, ``timeAt``, ``endTimeAt`` and ``timeproperty``."""
    prop = params.get("timeproperty") or "observedAt"
    if prop not in TIME_COLUMNS:
        raise bad(
            f"timeproperty {prop!r} is unknown; use observedAt, createdAt or modifiedAt",
            f"timeproperty {prop!r}을(를) 알 수 없습니다. observedAt, createdAt, modifiedAt 중 "
            "하나를 쓰세요",
        )
    timerel = params.get("timerel")
    if timerel is None:
        if params.get("timeAt") is not None or params.get("endTimeAt") is not None:
            raise bad(
                "timeAt and endTimeAt need timerel (before, after or between)",
                "timeAt과 endTimeAt에는 timerel(before, after, between)이 필요합니다",
            )
        return TimeWindow(timeproperty=prop)
    if timerel not in TIMERELS:
        raise bad(
            f"timerel {timerel!r} is unknown; use before, after or between",
            f"timerel {timerel!r}을(를) 알 수 없습니다. before, after, between 중 하나를 쓰세요",
        )
    if params.get("timeAt") is None:
        raise bad(
            f"timerel={timerel} needs timeAt, e.g. timeAt=2026-11-25T00:00:00Z",
            f"timerel={timerel}에는 timeAt이 필요합니다. 예: timeAt=2026-11-25T00:00:00Z",
        )
    time_at = _instant(params, "timeAt")
    if timerel == "before":
        return TimeWindow(timerel, None, time_at, prop)
    if timerel == "after":
        if params.get("endTimeAt") is not None:
            raise bad(
                "endTimeAt goes with timerel=between only",
                "endTimeAt은 timerel=between에서만 쓸 수 있습니다",
            )
        return TimeWindow(timerel, time_at, None, prop)
    if params.get("endTimeAt") is None:
        raise bad(
            "timerel=between needs endTimeAt as well as timeAt",
            "timerel=between에는 timeAt과 함께 endTimeAt이 필요합니다",
        )
    end = _instant(params, "endTimeAt")
    if end <= time_at:
        raise bad(
            "endTimeAt must be later than timeAt",
            "endTimeAt은 timeAt보다 뒤여야 합니다",
        )
    return TimeWindow(timerel, time_at, end, prop)


def _positive(params: Mapping[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"\d{1,9}", raw) or int(raw) < 1:
        raise bad(
            f"{name} must be a positive integer (got {raw!r})",
            f"{name}은(는) 양의 정수여야 합니다 (받은 값 {raw!r})",
        )
    return int(raw)


def parse_temporal_params(params: Mapping[str, Any], options: set[str]) -> TemporalParams:
    """Return the temporal part of a request: window, lastN, representation, aggregation."""
    window = parse_window(params)
    last_n = _positive(params, "lastN")
    temporal_options = options & TEMPORAL_OPTIONS
    fmt = params.get("format")
    if "temporalValues" in options and "aggregatedValues" in options and fmt is None:
        raise bad(
            "options temporalValues and aggregatedValues exclude each other; give one",
            "options의 temporalValues와 aggregatedValues는 함께 쓸 수 없습니다",
        )
    if fmt is not None and fmt not in TEMPORAL_FORMATS:
        raise invalid(
            f"format {fmt!r} is unknown; use {', '.join(TEMPORAL_FORMATS)}",
            f"format {fmt!r}을(를) 알 수 없습니다. {', '.join(TEMPORAL_FORMATS)} 중에서 쓰세요",
        )
    representation = "normalized"
    if fmt is not None:  # format takes precedence over options (6.3.12)
        representation = {"simplified": "temporalValues", "keyValues": "temporalValues"}.get(
            fmt, fmt
        )
    elif "temporalValues" in temporal_options:
        representation = "temporalValues"
    elif "aggregatedValues" in temporal_options:
        representation = "aggregatedValues"
    aggregation = None
    methods_text = params.get("aggrMethods")
    period_text = params.get("aggrPeriodDuration")
    if representation == "aggregatedValues":
        if not methods_text:
            raise bad(
                "options=aggregatedValues needs aggrMethods, e.g. aggrMethods=avg,max",
                "options=aggregatedValues에는 aggrMethods가 필요합니다. 예: aggrMethods=avg,max",
            )
        methods = tuple(m.strip() for m in str(methods_text).split(",") if m.strip())
        unknown = [m for m in methods if m not in AGGREGATION_METHODS]
        if unknown or not methods:
            raise bad(
                f"aggrMethods {', '.join(unknown) or '(empty)'} unknown; use "
                f"{', '.join(AGGREGATION_METHODS)}",
                f"aggrMethods {', '.join(unknown) or '(비어 있음)'}을(를) 알 수 없습니다. "
                f"{', '.join(AGGREGATION_METHODS)} 중에서 고르세요",
            )
        period = parse_duration(str(period_text)) if period_text else 0
        aggregation = Aggregation(tuple(dict.fromkeys(methods)), period or None)
    elif (methods_text is not None or period_text is not None) and fmt is None:
        raise bad(
            "aggrMethods and aggrPeriodDuration need options=aggregatedValues",
            "aggrMethods와 aggrPeriodDuration에는 options=aggregatedValues가 필요합니다",
        )
    return TemporalParams(
        window=window,
        last_n=last_n,
        representation=representation,
        aggregation=aggregation,
        sys_attrs="sysAttrs" in options,
        datasets=parse_datasets(params.get("datasetId")),
    )
