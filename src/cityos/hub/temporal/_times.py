"""Instants as integer microseconds since 1970-01-01 UTC, the temporal tables' time unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cityos.hub._time import parse_datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS_PER_HOUR = 3_600_000_000
_ONE_MICRO = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Return ``moment`` (timezone-aware) as microseconds since the epoch [µs]."""
    return (moment - EPOCH) // _ONE_MICRO


def from_micros(micros: int) -> datetime:
    """Return the UTC instant ``micros`` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=micros)


def text_micros(text: str) -> int:
    """Return an NGSI-LD DateTime string as microseconds since the epoch.

    The hub's own stamps (``utc_now``: 27 characters, UTC, ending in Z) are read directly:
    each write has a new one, so caching them would only evict the repeated observedAt
    values that the cache is for; the last one is remembered.
    """
    global _last_stamp
    last = _last_stamp
    if text == last[0]:  # a batch's instances share one stamp
        return last[1]
    if len(text) == 27 and text[26] == "Z" and text[19] == ".":
        try:
            micros = to_micros(datetime.fromisoformat(text))
        except ValueError:
            return _text_micros(text)
        _last_stamp = (text, micros)
        return micros
    return _text_micros(text)


_last_stamp: tuple[str, int] = ("", 0)  # replaced whole, so threads read a consistent pair


@lru_cache(maxsize=8192)
def _text_micros(text: str) -> int:
    return to_micros(parse_datetime(text, field="observedAt"))


@lru_cache(maxsize=65536)
def iso(micros: int) -> str:
    """Return µs since the epoch as an NGSI-LD DateTime in UTC, fraction only if any (cached:
    aggregated answers repeat the same period bounds for every entity)."""
    moment = from_micros(micros)
    if micros % 1_000_000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
