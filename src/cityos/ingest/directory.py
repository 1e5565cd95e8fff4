"""The devices the agent knows, cached per process, and the check of a message's API key.

A device is read from ``ingest_devices`` on first use and trusted for
``CACHE_SECONDS``; an unknown id is remembered as unknown for ``UNKNOWN_SECONDS`` so a
flood of messages from a stranger costs one query per second. Provisioning through this
process's API forgets the entry at once; a change from the CLI or another worker reaches
the agent within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import copy
import hmac
import threading
import time
from typing import Any

from sqlalchemy.engine import Engine

from cityos.hub.context import ContextResolver
from cityos.hub.model import expand_entity
from cityos.ingest import devices
from cityos.ingest.errors import Refused
from cityos.ingest.measurements import CompiledDevice

CACHE_SECONDS = 5.0
UNKNOWN_SECONDS = 1.0


def compile_device(device: devices.Device, resolver: ContextResolver) -> CompiledDevice:
    """Return the device with its attribute names expanded under its @context."""
    ctx = resolver.resolve(device.context)
    template = expand_entity(
        {
            "id": device.entity_id,
            "type": device.entity_type,
            **devices.static_fragment(device.static_attributes),
        },
        ctx,
        now="1970-01-01T00:00:00.000000Z",
    )
    return CompiledDevice(
        device=device,
        iris={oid: ctx.expand(m.name) for oid, m in device.attributes.items()},
        entity_template=template,
    )


def new_entity(compiled: CompiledDevice, now: str) -> dict[str, Any]:
    """Return a fresh copy of the entity a device's first measurement creates."""
    entity = copy.deepcopy(compiled.entity_template)
    entity["createdAt"] = entity["modifiedAt"] = now
    for instances in entity["attrs"].values():
        for inst in instances:
            inst["createdAt"] = inst["modifiedAt"] = now
    return entity


class DeviceDirectory:
    """Device id -> compiled device, read through from the database (thread-safe)."""

    def __init__(self, engine: Engine, resolver: ContextResolver) -> None:
        self._engine = engine
        self._resolver = resolver
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, CompiledDevice | None]] = {}
        # device id -> the key that last matched its digest (spares a SHA-256 per message)
        self._good_keys: dict[str, str] = {}

    def forget(self, device_id: str) -> None:
        """Drop a cached device (after it was changed or deleted in this process)."""
        with self._lock:
            self._entries.pop(device_id, None)
            self._good_keys.pop(device_id, None)

    def lookup(self, device_id: str) -> CompiledDevice | None:
        """Return the device with this id (None if there is none)."""
        now = time.monotonic()
        entry = self._entries.get(device_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        with self._engine.connect() as connection:
            device = devices.get_device(connection, device_id=device_id)
        compiled = None if device is None else compile_device(device, self._resolver)
        ttl = CACHE_SECONDS if compiled is not None else UNKNOWN_SECONDS
        with self._lock:
            if len(self._entries) > 100_000:
                self._entries.clear()
                self._good_keys.clear()
            old = self._entries.get(device_id)
            if old is None or old[1] is None or compiled is None or old[1].device != device:
                self._good_keys.pop(device_id, None)  # a new key (or none) since it was checked
            self._entries[device_id] = (now + ttl, compiled)
        return compiled

    def authenticate(self, device_id: str, apikey: str, transport: str) -> CompiledDevice:
        """Return the device if ``apikey`` is its key and it uses ``transport``; else Refused."""
        compiled = self.lookup(device_id)
        if compiled is None:
            raise Refused(
                "unknown_device",
                f"no device {device_id[:64]!r} is provisioned, or the API key is wrong",
                f"장치 {device_id[:64]!r}이(가) 등록되어 있지 않거나 API 키가 틀렸습니다",
            )
        known = self._good_keys.get(device_id)
        if known is not None and hmac.compare_digest(known, apikey):
            pass
        elif hmac.compare_digest(compiled.device.apikey_hash, devices.apikey_digest(apikey)):
            self._good_keys[device_id] = apikey
        else:
            raise Refused(
                "wrong_apikey",
                f"no device {device_id[:64]!r} is provisioned, or the API key is wrong",
                f"장치 {device_id[:64]!r}이(가) 등록되어 있지 않거나 API 키가 틀렸습니다",
            )
        if compiled.device.transport != transport:
            raise Refused(
                "wrong_transport",
                f"device {device_id!r} is provisioned for {compiled.device.transport.upper()}, "
                f"not {transport.upper()}; send over {compiled.device.transport.upper()} or "
                "provision it again",
                f"장치 {device_id!r}은(는) {compiled.device.transport.upper()}로 등록되어 "
                f"있습니다. {transport.upper()}가 아닌 {compiled.device.transport.upper()}로 "
                "보내거나 다시 등록하세요",
            )
        return compiled
