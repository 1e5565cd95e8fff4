"""Device provisioning: create, list, read and delete devices (keyword-only service verbs).

A device's API key (``secrets.token_urlsafe(24)``, 32 characters) is returned once at
creation; only its SHA-256 digest and first 6 characters are stored. Mappings are checked
against the entity type's Smart Data Model (``cityos.ingest.smartdata``): every attribute
must exist in the model, and its value type must suit the model's JSON type.
"""

from __future__ import annotations

import difflib
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cityos.hub.errors import HubError
from cityos.hub.model import GEO_TYPES, Expander, expand_entity
from cityos.ingest import smartdata
from cityos.ingest.errors import DeviceExists, DeviceNotFound, InvalidDevice
from cityos.ingest.models import AttributeMapping, Device, ingest_devices, micros_now
from cityos.ingest.schemas import DeviceCreate

APIKEY_PREFIX_LENGTH = 6


def apikey_digest(apikey: str) -> str:
    """Return the SHA-256 hex digest a device key is stored under (keys are 192-bit random)."""
    return hashlib.sha256(apikey.encode()).hexdigest()


def _invalid(detail: str, detail_ko: str) -> InvalidDevice:
    return InvalidDevice(detail, detail_ko)


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def static_fragment(static: Mapping[str, Any]) -> dict[str, Any]:
    """Return static attributes as normalized NGSI-LD attributes.

    Geometries become GeoProperties; a ``ref...`` attribute whose value is one URN (the Smart
    Data Models' naming of relationships, e.g. ``refParkingSite``) becomes a Relationship.
    """
    fragment: dict[str, Any] = {}
    for name, value in static.items():
        if name.startswith("ref") and isinstance(value, str) and value.startswith("urn:"):
            fragment[name] = {"type": "Relationship", "object": value}
            continue
        is_geo = isinstance(value, Mapping) and value.get("type") in GEO_TYPES
        fragment[name] = {"type": "GeoProperty" if is_geo else "Property", "value": value}
    return fragment


def check_device(body: DeviceCreate, ctx: Expander) -> tuple[str, dict[str, AttributeMapping]]:
    """Check a device description against its Smart Data Model; return entity id and mappings.

    Raises InvalidDevice saying which model, attribute or value is wrong and how to fix it.
    """
    model = body.entity_type
    if not smartdata.is_model(model):
        known = ", ".join(smartdata.models())
        hint = _suggest(model, smartdata.models())
        raise _invalid(
            f"entity_type {model!r} is not a Smart Data Model CityOS knows{hint}; "
            f"use one of: {known}",
            f"entity_type {model!r}은(는) CityOS가 아는 Smart Data Model이 아닙니다. "
            f"다음 중 하나를 쓰세요: {known}",
        )
    names = smartdata.attribute_names(model)
    mappings: dict[str, AttributeMapping] = {}
    used: dict[str, str] = {}
    for object_id, mapping in body.attributes.items():
        if not smartdata.has_attribute(model, mapping.name):
            raise _invalid(
                f"attribute {mapping.name!r} (measure {object_id!r}) is not in the {model} "
                f"model{_suggest(mapping.name, names)}; its attributes are: {', '.join(names)}",
                f"속성 {mapping.name!r}(측정 {object_id!r})은(는) {model} 모델에 없습니다. "
                f"모델의 속성: {', '.join(names)}",
            )
        if not smartdata.fits(model, mapping.name, mapping.type):
            kind = smartdata.schema_type(model, mapping.name)
            raise _invalid(
                f"attribute {mapping.name!r} of {model} holds a JSON {kind}; value type "
                f"{mapping.type!r} does not fit it",
                f"{model}의 속성 {mapping.name!r}은(는) JSON {kind} 값입니다. 값 유형 "
                f"{mapping.type!r}은(는) 맞지 않습니다",
            )
        if mapping.name in used:
            raise _invalid(
                f"measures {used[mapping.name]!r} and {object_id!r} both map to attribute "
                f"{mapping.name!r}; map each attribute from one measure",
                f"측정 {used[mapping.name]!r}와 {object_id!r}가 모두 속성 {mapping.name!r}에 "
                "연결되어 있습니다. 속성 하나에는 측정 하나만 연결하세요",
            )
        used[mapping.name] = object_id
        mappings[object_id] = AttributeMapping(mapping.name, mapping.type, mapping.unit_code)
    for name in body.static_attributes:
        if not smartdata.has_attribute(model, name):
            raise _invalid(
                f"static attribute {name!r} is not in the {model} model{_suggest(name, names)}",
                f"고정 속성 {name!r}은(는) {model} 모델에 없습니다",
            )
        if name in used:
            raise _invalid(
                f"attribute {name!r} is both static and measured; keep one",
                f"속성 {name!r}이(가) 고정 속성이면서 측정 속성입니다. 하나만 두세요",
            )
    entity_id = body.entity_id or f"urn:ngsi-ld:{model}:{body.device_id}"
    if any(c.isspace() for c in body.tenant):
        raise _invalid("tenant must not contain spaces", "tenant에는 공백을 쓸 수 없습니다")
    try:  # the entity the first measurement creates must be valid NGSI-LD
        expand_entity(
            {"id": entity_id, "type": model, **static_fragment(body.static_attributes)},
            ctx,
            now="2026-01-01T00:00:00.000000Z",
        )
    except HubError as error:  # the hub's detail is "English / 한국어": one half each
        detail, _, detail_ko = error.detail.partition(" / ")
        raise _invalid(
            f"the device's entity would not be valid NGSI-LD: {detail}",
            f"장치의 엔터티가 올바른 NGSI-LD가 아닙니다: {detail_ko}",
        ) from None
    return entity_id, mappings


def device_of(row: Any) -> Device:
    """Return the device a table row describes."""
    raw = orjson.loads(row["attributes"])
    return Device(
        device_id=row["device_id"],
        tenant=row["tenant"],
        entity_id=row["entity_id"],
        entity_type=row["entity_type"],
        context=row["context"],
        attributes={
            k: AttributeMapping(m["name"], m["type"], m.get("unitCode")) for k, m in raw.items()
        },
        static_attributes=orjson.loads(row["static_attributes"]),
        transport=row["transport"],
        apikey_hash=row["apikey_hash"],
        apikey_prefix=row["apikey_prefix"],
        created_at=row["created_at"],
        modified_at=row["modified_at"],
    )


def create_device(
    connection: Connection, *, body: DeviceCreate, ctx: Expander
) -> tuple[Device, str]:
    """Provision a device; return it and its API key (shown once, stored as a digest)."""
    entity_id, mappings = check_device(body, ctx)
    if get_device(connection, device_id=body.device_id) is not None:
        raise DeviceExists(
            f"device {body.device_id!r} already exists; delete it first or choose another id",
            f"장치 {body.device_id!r}이(가) 이미 있습니다. 먼저 삭제하거나 다른 id를 쓰세요",
        )
    apikey = secrets.token_urlsafe(24)
    now = micros_now()
    device = Device(
        device_id=body.device_id,
        tenant=body.tenant,
        entity_id=entity_id,
        entity_type=body.entity_type,
        context=smartdata.context_url(body.entity_type),
        attributes=mappings,
        static_attributes=dict(body.static_attributes),
        transport=body.transport,
        apikey_hash=apikey_digest(apikey),
        apikey_prefix=apikey[:APIKEY_PREFIX_LENGTH],
        created_at=now,
        modified_at=now,
    )
    connection.execute(
        ingest_devices.insert().values(
            device_id=device.device_id,
            apikey_hash=device.apikey_hash,
            apikey_prefix=device.apikey_prefix,
            tenant=device.tenant,
            entity_id=device.entity_id,
            entity_type=device.entity_type,
            context=device.context,
            attributes=orjson.dumps({k: m.as_json() for k, m in mappings.items()}).decode(),
            static_attributes=orjson.dumps(device.static_attributes).decode(),
            transport=device.transport,
            created_at=now,
            modified_at=now,
        )
    )
    return device, apikey


def get_device(connection: Connection, *, device_id: str) -> Device | None:
    """Return the device with this id, or None."""
    row = (
        connection.execute(sa.select(ingest_devices).where(ingest_devices.c.device_id == device_id))
        .mappings()
        .first()
    )
    return None if row is None else device_of(row)


def require_device(connection: Connection, *, device_id: str) -> Device:
    """Return the device with this id, or raise DeviceNotFound."""
    device = get_device(connection, device_id=device_id)
    if device is None:
        raise DeviceNotFound(
            f"no device has id {device_id!r} (list them with GET /ingest/v1/devices)",
            f"id가 {device_id!r}인 장치가 없습니다 (GET /ingest/v1/devices로 목록을 보세요)",
        )
    return device


def list_devices(
    connection: Connection, *, tenant: str | None = None, limit: int = 100, offset: int = 0
) -> list[Device]:
    """Return devices ordered by id, optionally of one tenant, one page."""
    query = sa.select(ingest_devices).order_by(ingest_devices.c.device_id)
    if tenant is not None:
        query = query.where(ingest_devices.c.tenant == tenant)
    rows = connection.execute(query.limit(limit).offset(offset)).mappings()
    return [device_of(row) for row in rows]


def delete_device(connection: Connection, *, device_id: str) -> Device:
    """Delete a device (its entity and history stay in the hub); return what was deleted."""
    device = require_device(connection, device_id=device_id)
    connection.execute(ingest_devices.delete().where(ingest_devices.c.device_id == device_id))
    return device
