"""Recognise ISO 8601 DateTime, Date and Time strings and turn them into instants."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Literal, NamedTuple

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:\d{2})?",
    re.ASCII,
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?Z?", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class TemporalValue(NamedTuple):
    """A DateTime [µs since epoch, UTC], Date [proleptic ordinal] or Time [µs of day]."""

    kind: Literal["datetime", "date", "time"]
    ordinal: int


def _micros(fraction: str | None) -> int:
    return int((fraction or "0")[:6].ljust(6, "0"))


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[4:6])))


@lru_cache(maxsize=8192)
def parse_temporal(text: str) -> TemporalValue | None:
    """Return the instant a DateTime, Date or Time string denotes, or None if it is none."""
    if len(text) > 40:
        return None
    try:
        if m := _DATETIME.fullmatch(text):
            y, mo, d, h, mi, s, frac, zone = m.groups()
            stamp = datetime(
                int(y), int(mo), int(d), int(h), int(mi), int(s or 0), _micros(frac), _zone(zone)
            )
            return TemporalValue("datetime", (stamp - _EPOCH) // _MICRO)
        if m := _DATE.fullmatch(text):
            return TemporalValue("date", date(*map(int, m.groups())).toordinal())
        if m := _TIME.fullmatch(text):
            h, mi, s, frac = m.groups()
            t = time(int(h), int(mi), int(s or 0), _micros(frac))
            seconds = (t.hour * 60 + t.minute) * 60 + t.second
            return TemporalValue("time", seconds * 1_000_000 + t.microsecond)
    except (ValueError, OverflowError):
        return None
    return None


def looks_temporal(text: str) -> bool:
    """Return True if ``text`` has the shape of a DateTime, Date or Time (valid or not)."""
    return bool(_DATETIME.fullmatch(text) or _DATE.fullmatch(text) or _TIME.fullmatch(text))
