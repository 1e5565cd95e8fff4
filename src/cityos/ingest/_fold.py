"""Fold a batch's readings into entities: the latest observedAt is current, the rest history.

Several readings of one attribute in a batch are folded into one entity write; every
reading the current value supersedes (or that is older than it) becomes a history row for
``Transaction.extra_instances``, so the temporal store keeps all of them.
"""

from __future__ import annotations

from typing import Any

from cityos.hub.store.base import Entity
from cityos.hub.temporal._times import text_micros
from cityos.hub.temporal.record import Row, numeric
from cityos.ingest.measurements import Reading


def _observed_us(instance: dict[str, Any]) -> int:
    stamp = instance.get("observedAt") or instance.get("modifiedAt")
    return text_micros(stamp) if isinstance(stamp, str) else 0


def fold(
    entity: Entity,
    found: list[Reading],
    now: str,
    now_us: int,
    latest: dict[tuple[str, str], int],
    extra: list[Row],
) -> None:
    """Fold readings into an entity's attributes; superseded ones go to ``extra``.

    ``latest`` remembers, per (entity, attribute), the observedAt of the current value, so
    a batch parses no timestamp twice.
    """
    attrs = entity["attrs"]
    eid = entity["id"]
    for iri, reading, observed_us in found:
        inst = dict(reading)
        inst["modifiedAt"] = now
        current = attrs.get(iri)
        default = None
        others = []
        for candidate in current or ():
            if "datasetId" in candidate:
                others.append(candidate)
            else:
                default = candidate
        key = (eid, iri)
        if default is None:
            inst["createdAt"] = now
            attrs[iri] = [*others, inst]
            latest[key] = observed_us
            continue
        inst["createdAt"] = default.get("createdAt", now)
        current_us = latest.get(key)
        if current_us is None:
            current_us = _observed_us(default)
        if observed_us >= current_us:
            if default.get("modifiedAt") == now:  # a reading of this batch, now superseded
                extra.append(_row(eid, iri, default, current_us, now_us))
            attrs[iri] = [*others, inst]
            latest[key] = observed_us
        else:  # older than the current value: history only
            extra.append(_row(eid, iri, inst, observed_us, now_us))


def _row(eid: str, iri: str, inst: dict[str, Any], observed_us: int, now_us: int) -> Row:
    """Return the temporal history row of a reading (``cityos.hub.temporal.record.Row``)."""
    return (
        eid,
        iri,
        "",
        inst.get("type", "Property"),
        observed_us,
        observed_us,
        now_us,
        now_us,
        numeric(inst),
        inst,
    )
