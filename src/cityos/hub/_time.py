"""Timestamps the hub writes (UTC, ISO 8601 with microseconds and Z) and reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from cityos.hub.errors import BadRequestData

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$")


def utc_now() -> str:
    """Return the current instant as an NGSI-LD DateTime string in UTC."""
    # isoformat, not strftime: the same text (YYYY-MM-DDTHH:MM:SS.ffffffZ) in a third of the
    # time; the notifier calls this for every notification it sends
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


@lru_cache(maxsize=4096)
def _parse_utc(text: str) -> datetime | ValueError:
    """Return the instant of a syntactically checked DateTime, or the ValueError."""
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python parses at most microseconds
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        return exc


def check_datetime(value: object, *, field: str) -> None:
    """Raise BadRequestData unless ``value`` is an NGSI-LD DateTime (cached: a batch of
    sensor readings usually repeats a few observedAt values)."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise BadRequestData(
            f"{field} must be an ISO 8601 date-time with a time zone, "
            f"e.g. 2026-11-25T09:00:00Z (got {value!r})"
            f" / {field}은(는) 시간대가 있는 ISO 8601 날짜-시각이어야 합니다. 예: "
            f"2026-11-25T09:00:00Z (받은 값: {value!r})"
        )
    parsed = _parse_utc(value)
    if isinstance(parsed, ValueError):
        raise BadRequestData(
            f"{field} is not a valid date-time: {value!r} ({parsed})"
            f" / {field}이(가) 올바른 날짜-시각이 아닙니다: {value!r} ({parsed})"
        )


def parse_datetime(value: object, *, field: str) -> datetime:
    """Parse an NGSI-LD DateTime (ISO 8601 with a zone) or raise BadRequestData."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise BadRequestData(
            f"{field} must be an ISO 8601 date-time with a time zone, "
            f"e.g. 2026-11-25T09:00:00Z (got {value!r})"
            f" / {field}은(는) 시간대가 있는 ISO 8601 날짜-시각이어야 합니다. 예: "
            f"2026-11-25T09:00:00Z (받은 값: {value!r})"
        )
    text = value
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python parses at most microseconds
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequestData(
            f"{field} is not a valid date-time: {value!r} ({exc})"
            f" / {field}이(가) 올바른 날짜-시각이 아닙니다: {value!r} ({exc})"
        ) from exc
    return parsed.astimezone(UTC)


def normalise_datetime(value: object, *, field: str) -> str:
    """Return an NGSI-LD DateTime re-written in UTC with a Z suffix."""
    return parse_datetime(value, field=field).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
