"""Turn decoded measure groups into attribute instances of a device's entity (pure).

Each measure's object id must be in the device's mapping, and its raw value must convert
to the mapping's value type; otherwise the whole message is refused (no half-written data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cityos.hub.errors import HubError
from cityos.hub.geo import validate_geojson_geometry
from cityos.ingest.errors import Refused
from cityos.ingest.models import Device
from cityos.ingest.payloads import Group, micros_of, micros_text

MAX_TEXT_LENGTH = 1024  # characters of one Text measure


@dataclass(frozen=True, slots=True)
class CompiledDevice:
    """A device with its attribute names already expanded to IRIs (one per object id)."""

    device: Device
    iris: dict[str, str]  # object id -> attribute IRI
    entity_template: dict[str, Any]  # the entity its first measurement creates (internal form)


# (attribute IRI, normalized instance without createdAt/modifiedAt, observedAt [µs])
Reading = tuple[str, dict[str, Any], int]


def _mismatch(object_id: str, raw: Any, kind: str) -> Refused:
    shown = repr(raw)[:40]
    return Refused(
        "value_mismatch",
        f"measure {object_id!r} = {shown} is not a {kind} as the device's mapping requires",
        f"측정 {object_id!r} = {shown}은(는) 장치 매핑이 요구하는 {kind} 값이 아닙니다",
    )


def _point(object_id: str, raw: Any) -> dict[str, Any]:
    """Return a GeoJSON Point from a JSON Point object or ``"lon,lat"`` text [deg, WGS 84]."""
    value: Any = raw
    if isinstance(raw, str):
        parts = raw.split(",")
        try:
            value = {"type": "Point", "coordinates": [float(p) for p in parts]}
        except ValueError:
            value = None
        if len(parts) != 2:
            value = None
    if not isinstance(value, dict) or value.get("type") != "Point":
        raise _mismatch(object_id, raw, 'Point (GeoJSON {"type": "Point", ...} or "lon,lat")')
    try:
        validate_geojson_geometry(value)
    except HubError as error:  # the hub's detail is "English / 한국어": one half each
        detail, _, detail_ko = error.detail.partition(" / ")
        raise Refused(
            "value_mismatch",
            f"measure {object_id!r} is not a valid GeoJSON Point: {detail}",
            f"측정 {object_id!r}은(는) 올바른 GeoJSON Point가 아닙니다: {detail_ko}",
        ) from None
    return {"type": "Point", "coordinates": list(value["coordinates"])}


def convert(object_id: str, raw: Any, kind: str) -> Any:
    """Return ``raw`` (a JSON value or UltraLight text) as a value of the mapping's ``kind``.

    ``Point`` takes a GeoJSON Point or ``"lon,lat"`` text (degrees, WGS 84).
    """
    if kind == "Point":
        return _point(object_id, raw)
    if kind in ("Number", "Integer"):
        value: Any = raw
        if isinstance(raw, str):
            try:
                value = int(raw) if raw.lstrip("+-").isdigit() else float(raw)
            except ValueError:
                raise _mismatch(object_id, raw, kind) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(object_id, raw, kind)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _mismatch(object_id, raw, "finite " + kind)
            if kind == "Integer":
                if not value.is_integer():
                    raise _mismatch(object_id, raw, kind)
                value = int(value)
        return value
    if kind == "Boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0"):
            return raw.lower() in ("true", "1")
        raise _mismatch(object_id, raw, kind)
    if not isinstance(raw, str) or len(raw) > MAX_TEXT_LENGTH or "\x00" in raw:
        raise _mismatch(object_id, raw, f"Text (at most {MAX_TEXT_LENGTH} characters)")
    return raw


def readings(compiled: CompiledDevice, groups: list[Group], *, received_at: int) -> list[Reading]:
    """Return the instances a message's groups make (``received_at`` [µs]: default time)."""
    mapping = compiled.device.attributes
    out: list[Reading] = []
    received_text: str | None = None
    for group in groups:
        if group.observed_at is None:
            if received_text is None:
                received_text = micros_text(received_at)
            stamp, stamp_us = received_text, received_at
        else:
            stamp, stamp_us = group.observed_at, micros_of(group.observed_at)
        for object_id, raw in group.measures:
            attr = mapping.get(object_id)
            if attr is None:
                known = ", ".join(sorted(mapping))
                raise Refused(
                    "unknown_attribute",
                    f"device {compiled.device.device_id!r} has no measure {object_id!r}; "
                    f"its measures are: {known}",
                    f"장치 {compiled.device.device_id!r}에는 측정 {object_id!r}이(가) 없습니다. "
                    f"측정 목록: {known}",
                )
            instance: dict[str, Any] = {
                "type": "GeoProperty" if attr.type == "Point" else "Property",
                "value": convert(object_id, raw, attr.type),
                "observedAt": stamp,
            }
            if attr.unit_code is not None and attr.type != "Point":
                instance["unitCode"] = attr.unit_code
            out.append((compiled.iris[object_id], instance, stamp_us))
    return out
