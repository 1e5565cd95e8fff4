"""Write temporal history out (GS CIM 009 v1.8, 4.5.7 normalized, 4.5.9 simplified, 4.5.19).

* normalized: each attribute is an array of its instances, oldest first, each with its
  ``instanceId`` and (UTC) ``observedAt``; ``sysAttrs`` adds createdAt/modifiedAt;
* temporalValues (simplified): per attribute ``{"type", "values": [[value, time], …]}``
  (``objects`` for Relationships, ``languageMaps``, ``vocabs``, ``valueLists``, …);
* aggregatedValues: per attribute ``{"type", "<method>": [[value, start, end], …]}``.

An attribute with several datasetIds is one array (normalized) or a list of one object per
datasetId (the other two).
"""

from __future__ import annotations

from typing import Any

from cityos.hub.render import Compactor, RenderOptions, render_instance
from cityos.hub.temporal._times import iso
from cityos.hub.temporal.aggregate import Periods
from cityos.hub.temporal.params import TemporalParams
from cityos.hub.temporal.query import Instance, Series, TemporalEntity
from cityos.hub.temporal.record import instance_id

VALUES_KEY = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
    "JsonProperty": "jsons",
}


def _full_instance(inst: Instance) -> dict[str, Any]:
    body = dict(inst.instance)  # observedAt as the writer gave it, like /entities answers
    if inst.observed_at is not None and "observedAt" not in body:
        body["observedAt"] = iso(inst.observed_at)
    body["createdAt"] = iso(inst.created_at)
    body["modifiedAt"] = iso(inst.modified_at)
    body["instanceId"] = instance_id(inst.pk)
    return body


def _head(entity: TemporalEntity, ctx: Compactor) -> dict[str, Any]:
    types = [ctx.compact(t) for t in entity.types]
    return {"id": entity.id, "type": types[0] if len(types) == 1 else types}


def _by_attr(entity: TemporalEntity) -> dict[str, list[Series]]:
    grouped: dict[str, list[Series]] = {}
    for series in entity.series:
        grouped.setdefault(series.attr, []).append(series)
    return grouped


def render_history(
    entity: TemporalEntity,
    ctx: Compactor,
    params: TemporalParams,
    *,
    lang: str | None,
    keep_empty: bool = False,
) -> dict[str, Any]:
    """Return one entity's instances in the normalized or simplified representation.

    ``keep_empty``: list an attribute without instances on this page (a page cut by
    Content-Range) as empty, so clients see it continues on the next page.
    """
    out = _head(entity, ctx)
    opts = RenderOptions(format="normalized", sys_attrs=params.sys_attrs, lang=lang)
    plain = RenderOptions(format="keyValues", lang=lang)
    time_key = params.window.timeproperty
    for attr, group in _by_attr(entity).items():
        if params.representation == "normalized":
            merged = sorted(
                (i for s in group for i in entity.instances.get(s.pk, [])),
                key=lambda i: (i.at, i.pk),
            )
            if merged or keep_empty:
                rendered = []
                for inst in merged:
                    one = render_instance(_full_instance(inst), ctx, opts)
                    if time_key != "observedAt" and not params.sys_attrs:
                        one[time_key] = iso(inst.at)
                    rendered.append(one)
                out[ctx.compact(attr)] = rendered
            continue
        objects = []
        for series in group:
            found = entity.instances.get(series.pk, [])
            if not found and not keep_empty:
                continue
            kind = found[-1].kind if found else "Property"
            key = VALUES_KEY.get(kind, "values")
            if kind == "LanguageProperty" and lang:
                kind, key = "Property", "values"
            pairs = []
            for inst in found:
                if inst.kind == "LanguageProperty" and not lang:
                    value = inst.instance.get("languageMap")
                else:
                    value = render_instance(_full_instance(inst), ctx, plain)
                stamp = inst.instance.get("observedAt") if time_key == "observedAt" else None
                pairs.append([value, stamp if isinstance(stamp, str) else iso(inst.at)])
            obj: dict[str, Any] = {"type": kind}
            if series.dataset_id:
                obj["datasetId"] = series.dataset_id
            obj[key] = pairs
            objects.append(obj)
        if objects:
            out[ctx.compact(attr)] = objects[0] if len(objects) == 1 else objects
    return out


def render_aggregated(
    entity: TemporalEntity,
    ctx: Compactor,
    params: TemporalParams,
    periods: dict[int, Periods],
) -> dict[str, Any]:
    """Return one entity's aggregated temporal representation."""
    assert params.aggregation is not None
    out = _head(entity, ctx)
    for attr, group in _by_attr(entity).items():
        objects = []
        for series in group:
            found = periods.get(series.pk)
            if found is None or not len(found):
                continue
            if params.last_n is not None:
                found = found.last(params.last_n)
            obj: dict[str, Any] = {"type": found.kind}
            if series.dataset_id:
                obj["datasetId"] = series.dataset_id
            for method in params.aggregation.methods:
                obj[method] = found.values(method)
            objects.append(obj)
        if objects:
            out[ctx.compact(attr)] = objects[0] if len(objects) == 1 else objects
    return out
