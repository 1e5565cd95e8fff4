"""The hub's memory: NGSI-LD temporal representation of entities (GS CIM 009 v1.8, 5.7).

``record`` keeps every attribute instance a write makes, in the write's own transaction;
``partitions`` makes PostgreSQL's monthly partitions. Queries, provision and retention live
in the other modules of this package.
"""

from __future__ import annotations

from cityos.hub.temporal.record import TemporalRecorder, instance_id, instance_pk

__all__ = ["TemporalRecorder", "instance_id", "instance_pk"]
