"""Request and response bodies of the ingestion API (pydantic); rules beyond shape are in
``cityos.ingest.devices``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cityos.config import DEFAULT_TENANT
from cityos.ingest.models import Device, from_micros

DEVICE_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AttributeMappingModel(_Schema):
    """One measure's mapping: the attribute it fills, its value type and unit."""

    name: str = Field(min_length=1, max_length=128, examples=["pm25"])
    type: Literal["Number", "Integer", "Text", "Boolean", "Point"] = "Number"
    unit_code: str | None = Field(
        default=None, alias="unitCode", min_length=1, max_length=8, examples=["GQ"]
    )


class DeviceCreate(_Schema):
    """A device to provision (IoT-Agent style)."""

    device_id: str = Field(pattern=DEVICE_ID_PATTERN, examples=["pm-hansol-01"])
    entity_type: str = Field(min_length=1, max_length=128, examples=["AirQualityObserved"])
    entity_id: str | None = Field(
        default=None,
        max_length=256,
        description="default: urn:ngsi-ld:<entity_type>:<device_id>",
        examples=["urn:ngsi-ld:AirQualityObserved:hansol-01"],
    )
    attributes: dict[str, AttributeMappingModel] = Field(
        min_length=1,
        description="measure name (object id) in the payload -> attribute mapping",
        examples=[{"pm25": {"name": "pm25", "type": "Number", "unitCode": "GQ"}}],
    )
    static_attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="attributes the entity gets once, e.g. location (GeoJSON) or areaServed",
        examples=[{"location": {"type": "Point", "coordinates": [127.257, 36.48]}}],
    )
    transport: Literal["mqtt", "http"] = "mqtt"
    tenant: str = Field(default=DEFAULT_TENANT, min_length=1, max_length=256)


class DeviceRead(_Schema):
    """A provisioned device as listed: never its API key, only the key's first characters."""

    device_id: str
    tenant: str
    entity_id: str
    entity_type: str
    context: str | None
    attributes: dict[str, dict[str, Any]]
    static_attributes: dict[str, Any]
    transport: str
    apikey_prefix: str
    created_at: datetime
    modified_at: datetime

    @classmethod
    def of(cls, device: Device) -> DeviceRead:
        """Return the listing view of a device."""
        return cls(
            device_id=device.device_id,
            tenant=device.tenant,
            entity_id=device.entity_id,
            entity_type=device.entity_type,
            context=device.context,
            attributes={k: m.as_json() for k, m in device.attributes.items()},
            static_attributes=device.static_attributes,
            transport=device.transport,
            apikey_prefix=device.apikey_prefix,
            created_at=from_micros(device.created_at),
            modified_at=from_micros(device.modified_at),
        )


class DeviceCreated(DeviceRead):
    """A device just provisioned: ``apikey`` is shown this once and cannot be recovered."""

    apikey: str
    mqtt_topic: str
    http_url: str


class DeadLetterRead(_Schema):
    """A message the agent refused, with why and its first bytes."""

    id: int
    received_at: datetime
    transport: str
    reason: str
    detail: str
    device_id: str | None
    topic: str | None
    payload: str  # the first bytes, decoded as UTF-8 with replacement characters
    payload_size: int
