"""Write internal entities out in the representation a client asked for.

Formats (GS CIM 009 v1.8, 4.5): ``normalized`` (every attribute an object with ``type``),
``concise`` (types dropped, bare values where lossless) and ``keyValues`` (attribute name to
value). Names are compacted with the request's @context; ``lang`` picks one language of a
LanguageProperty; ``sysAttrs`` adds createdAt/modifiedAt.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cityos.hub.model import INSTANCE_KEYWORDS

Format = Literal["normalized", "concise", "keyValues"]


class Compactor(Protocol):
    """What rendering needs of a JSON-LD active context."""

    def compact(self, iri: str) -> str: ...  # noqa: D102

    def compact_vocab_value(self, value: str) -> str: ...  # noqa: D102


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to write entities: format, system attributes, language and projection."""

    format: Format = "normalized"
    sys_attrs: bool = False
    lang: str | None = None
    attrs: Collection[str] | None = None  # expanded attribute IRIs to keep (None: all)
    omit: Collection[str] = ()  # expanded attribute IRIs (or "id"/"type") to drop
    pick: Collection[str] | None = None  # expanded IRIs (or "id"/"type") to keep
    # datasetIds of the attribute instances to keep (None in it: the default instance);
    # None keeps every instance (GS CIM 009 v1.8, 6.3.x ``datasetId`` parameter)
    datasets: Collection[str | None] | None = None


def _pick_language(lmap: dict[str, Any], lang: str) -> tuple[str, Any]:
    """Return (tag, text) for the best match of ``lang`` (a tag, list, or ``*``)."""
    wanted = [tag.strip().split(";")[0] for tag in lang.split(",") if tag.strip()]
    for tag in wanted:
        if tag == "*":
            break
        if tag in lmap:
            return tag, lmap[tag]
        for key, text in lmap.items():  # "en" matches "en-GB" and the other way round
            if key.split("-")[0] == tag.split("-")[0]:
                return key, text
    key = "@none" if "@none" in lmap else next(iter(lmap))
    return key, lmap[key]


def _compact_vocab(value: Any, ctx: Compactor) -> Any:
    if isinstance(value, list):
        return [ctx.compact_vocab_value(v) for v in value]
    return ctx.compact_vocab_value(value)


def _plain_value(inst: dict[str, Any], ctx: Compactor, opts: RenderOptions) -> Any:
    """Return the value a keyValues rendering shows for one instance."""
    kind = inst["type"]
    if kind == "Relationship":
        return inst["object"]
    if kind == "LanguageProperty":
        if opts.lang:
            return _pick_language(inst["languageMap"], opts.lang)[1]
        return {"languageMap": inst["languageMap"]}
    if kind == "VocabProperty":
        return _compact_vocab(inst["vocab"], ctx)
    if kind == "ListProperty":
        return inst["valueList"]
    if kind == "ListRelationship":
        return inst["objectList"]
    if kind == "JsonProperty":
        return inst["json"]
    return inst["value"]


# Instance members written as they are in every format but keyValues; the others need a
# look (system times, vocab, objectList, languageMap) or are sub-attributes. Testing these
# first keeps the common instance (type, value, unitCode, observedAt) to one set lookup a
# member.
_AS_IS = INSTANCE_KEYWORDS - {"createdAt", "modifiedAt", "vocab", "objectList", "languageMap"}
_SYSTEM = frozenset({"createdAt", "modifiedAt"})
_PLAIN = _AS_IS | _SYSTEM  # an instance of only these members: copied (render_entity)


def render_instance(inst: dict[str, Any], ctx: Compactor, opts: RenderOptions) -> Any:
    """Return one attribute instance in the requested format."""
    if opts.format == "keyValues":
        return _plain_value(inst, ctx, opts)
    out: dict[str, Any] = {}
    kind = inst["type"]
    for key, val in inst.items():
        if key in _AS_IS:
            out[key] = val
        elif key in _SYSTEM:
            if opts.sys_attrs:
                out[key] = val
        elif key == "vocab":
            out[key] = _compact_vocab(val, ctx)
        elif key == "objectList":
            out[key] = [{"object": o} for o in val] if opts.format == "normalized" else val
        elif key == "languageMap":
            if opts.lang:
                tag, text = _pick_language(val, opts.lang)
                out["type"] = "Property"
                out["value"] = text
                out["lang"] = tag
            else:
                out[key] = val
        else:
            out[ctx.compact(key)] = render_instance(val, ctx, opts)
    if opts.format == "concise":
        out.pop("type", None)
        extra = set(out) - {"value"}
        if (
            kind in ("Property", "GeoProperty")
            and not extra
            and not (isinstance(out.get("value"), dict) and kind == "Property")
        ):
            return out["value"]
    return out


def render_attribute(instances: list[dict[str, Any]], ctx: Compactor, opts: RenderOptions) -> Any:
    """Return an attribute (one instance, or a list when there are several datasetIds)."""
    if len(instances) == 1:
        return render_instance(instances[0], ctx, opts)
    return [render_instance(inst, ctx, opts) for inst in instances]


def _wanted(iri: str, opts: RenderOptions) -> bool:
    if opts.attrs is not None and iri not in opts.attrs:
        return False
    if opts.pick is not None and iri not in opts.pick:
        return False
    return iri not in opts.omit


def render_entity(entity: dict[str, Any], ctx: Compactor, opts: RenderOptions) -> dict[str, Any]:
    """Return an entity compacted with ``ctx`` in the requested format (no @context)."""
    out: dict[str, Any] = {}
    keep_id = (opts.pick is None or "id" in opts.pick) and "id" not in opts.omit
    keep_type = (opts.pick is None or "type" in opts.pick) and "type" not in opts.omit
    if keep_id:
        out["id"] = entity["id"]
    if keep_type:
        types = [ctx.compact(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if "scope" in entity and (opts.pick is None or "scope" in opts.pick):
        scope = entity["scope"]
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if opts.sys_attrs and opts.format != "keyValues":
        out["createdAt"] = entity["createdAt"]
        out["modifiedAt"] = entity["modifiedAt"]
    projected = opts.attrs is not None or opts.pick is not None or bool(opts.omit)
    datasets = opts.datasets
    compact = ctx.compact
    normalized, sys_attrs = opts.format == "normalized", opts.sys_attrs
    for iri, instances in entity["attrs"].items():
        if projected and not _wanted(iri, opts):
            continue
        if datasets is not None:
            instances = [i for i in instances if i.get("datasetId") in datasets]
            if not instances:
                continue
        if normalized and len(instances) == 1 and instances[0].keys() <= _PLAIN:
            # What render_instance returns for the common instance of a GET or a page (type,
            # value, unitCode, observedAt, system times): a copy, without a loop over it.
            plain = instances[0].copy()
            if not sys_attrs:
                plain.pop("createdAt", None)
                plain.pop("modifiedAt", None)
            out[compact(iri)] = plain
        else:
            out[compact(iri)] = render_attribute(instances, ctx, opts)
    return out
