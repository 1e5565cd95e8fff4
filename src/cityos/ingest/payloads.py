"""Device payload codecs: JSON and UltraLight 2.0 text into groups of raw measures (pure).

- **JSON** (FIWARE IoT Agent JSON): an object of object id -> value, e.g.
  ``{"pm25": 17, "t": 21.3}``, optionally with ``"TimeInstant": "2026-11-25T09:00:00+09:00"``;
  or an array of such objects (several measure groups in one message).
- **UltraLight 2.0** (FIWARE IoT Agent UL): ``key|value`` pairs joined by ``|``, e.g.
  ``t|21.3|pm25|17``; a group may start with a timestamp (``2026-11-25T00:00:00Z|t|21.3``,
  recognised by the odd field count); groups are separated by ``#``.

A timestamp must be ISO 8601 with a time zone; it becomes the measures' ``observedAt`` in
UTC. Without one, the receiving time is used. Errors raise :class:`Refused`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

import orjson

from cityos.ingest.errors import Refused

Format = Literal["json", "ul"]
TIMESTAMP_FIELD = "TimeInstant"  # the FIWARE IoT Agents' name of a measure's own time
MAX_GROUPS = 1000  # measure groups in one message
_OBJECT_ID = re.compile(r"^[A-Za-z0-9_.\-:]{1,64}$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$")


@dataclass(frozen=True, slots=True)
class Group:
    """Measures that share one time: (object id, raw value) pairs, and the time if sent."""

    observed_at: str | None  # UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    measures: tuple[tuple[str, Any], ...]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_text(moment: datetime) -> str:
    """Return an aware datetime as the hub's DateTime text (UTC, microseconds, Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@lru_cache(maxsize=256)
def _second_text(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def micros_text(micros: int) -> str:
    """Return microseconds since the epoch as the hub's DateTime text (fast: cached seconds)."""
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_second_text(seconds)}.{fraction:06d}Z"


@lru_cache(maxsize=4096)
def micros_of(text: str) -> int:
    """Return a DateTime text this module wrote as microseconds since the epoch [µs]."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - _EPOCH) // timedelta(microseconds=1)


def parse_timestamp(text: object) -> str:
    """Return an ISO 8601 timestamp with a zone as UTC text, or raise Refused."""
    if not isinstance(text, str) or not _ISO.match(text):
        raise Refused(
            "bad_timestamp",
            f"the timestamp must be ISO 8601 with a time zone, e.g. 2026-11-25T09:00:00+09:00 "
            f"or 2026-11-25T00:00:00Z (got {str(text)[:40]!r})",
            f"타임스탬프는 시간대가 있는 ISO 8601 형식이어야 합니다 "
            f"(예: 2026-11-25T09:00:00+09:00, 입력: {str(text)[:40]!r})",
        )
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:  # Python parses at most microseconds
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        return utc_text(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise Refused(
            "bad_timestamp",
            f"the timestamp {text[:40]!r} is not a real date and time",
            f"타임스탬프 {text[:40]!r}는 존재하지 않는 날짜·시각입니다",
        ) from None


def _malformed(detail: str, detail_ko: str) -> Refused:
    return Refused("malformed_payload", detail, detail_ko)


def _check_object_id(key: str) -> str:
    if not _OBJECT_ID.match(key):
        raise _malformed(
            f"measure name {key[:40]!r} is not valid: use 1-64 letters, digits, _ . - or :",
            f"측정 이름 {key[:40]!r}가 올바르지 않습니다: 영문자, 숫자, _ . - : 1~64자를 쓰세요",
        )
    return key


def decode_json(payload: bytes) -> list[Group]:
    """Decode a JSON measure object (or array of them) into groups."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _malformed(
            f'the payload is not valid JSON ({exc}); send e.g. {{"pm25": 17, "t": 21.3}}',
            '페이로드가 올바른 JSON이 아닙니다. 예: {"pm25": 17, "t": 21.3}',
        ) from None
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_GROUPS:
        raise _malformed(
            f"send 1 to {MAX_GROUPS} measure objects in one message (got {len(items)})",
            f"한 메시지에 측정 객체를 1~{MAX_GROUPS}개 보내세요 (입력: {len(items)}개)",
        )
    groups = []
    for item in items:
        if not isinstance(item, dict):
            raise _malformed(
                'each measure group must be a JSON object such as {"pm25": 17}',
                '각 측정 묶음은 {"pm25": 17} 같은 JSON 객체여야 합니다',
            )
        stamp = item.get(TIMESTAMP_FIELD)
        measures = tuple((_check_object_id(k), v) for k, v in item.items() if k != TIMESTAMP_FIELD)
        if not measures:
            raise _malformed(
                "the message holds no measure (an empty object)",
                "메시지에 측정값이 없습니다 (빈 객체)",
            )
        groups.append(Group(None if stamp is None else parse_timestamp(stamp), measures))
    return groups


def decode_ul(payload: bytes) -> list[Group]:
    """Decode UltraLight 2.0 text (``k|v|k|v``, optional leading timestamp, ``#`` groups)."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _malformed(
            "the UltraLight payload is not UTF-8 text",
            "UltraLight 페이로드가 UTF-8 텍스트가 아닙니다",
        ) from None
    if not text:
        raise _malformed("the payload is empty", "페이로드가 비어 있습니다")
    chunks = text.split("#")
    if len(chunks) > MAX_GROUPS:
        raise _malformed(
            f"send at most {MAX_GROUPS} measure groups (separated by #) in one message",
            f"한 메시지에 측정 묶음(#로 구분)을 최대 {MAX_GROUPS}개 보내세요",
        )
    groups = []
    for number, chunk in enumerate(chunks, start=1):
        fields = [f.strip() for f in chunk.split("|")]
        stamp = None
        if len(fields) % 2 == 1:
            if len(fields) == 1 or not fields[0]:
                raise _malformed(
                    f"measure group {number} ({chunk[:40]!r}) is not 'key|value' pairs, "
                    "e.g. t|21.3|pm25|17",
                    f"측정 묶음 {number}({chunk[:40]!r})이 'key|value' 쌍이 아닙니다 "
                    "(예: t|21.3|pm25|17)",
                )
            stamp = parse_timestamp(fields[0])
            fields = fields[1:]
        measures = []
        for key, value in zip(fields[::2], fields[1::2], strict=True):
            if not value:
                raise _malformed(
                    f"measure {key[:40]!r} in group {number} has an empty value",
                    f"측정 묶음 {number}의 {key[:40]!r} 값이 비어 있습니다",
                )
            measures.append((_check_object_id(key), value))
        groups.append(Group(stamp, tuple(measures)))
    return groups


def sniff(payload: bytes) -> Format:
    """Return "json" for a payload that starts like JSON, else "ul"."""
    head = payload.lstrip()[:1]
    return "json" if head in (b"{", b"[") else "ul"


def decode(payload: bytes, fmt: Format | None = None) -> list[Group]:
    """Decode a payload in ``fmt`` (sniffed when None) into measure groups."""
    chosen = fmt or sniff(payload)
    return decode_json(payload) if chosen == "json" else decode_ul(payload)
