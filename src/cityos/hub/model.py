"""Read NGSI-LD entities from requests into the internal form, checking every rule.

The internal form (docs/dev/internal-model.md) is the normalized representation with user
terms expanded to IRIs. Both normalized and concise input (GS CIM 009 v1.8, 4.5) are read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from cityos.hub._time import check_datetime
from cityos.hub.errors import BadRequestData, HubError
from cityos.hub.geo import validate_geojson_geometry

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
NULL_URI = "urn:ngsi-ld:null"
GEO_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)
ATTRIBUTE_TYPES = frozenset(
    {
        "Property",
        "Relationship",
        "GeoProperty",
        "LanguageProperty",
        "VocabProperty",
        "ListProperty",
        "ListRelationship",
        "JsonProperty",
    }
)
# Keys inside an attribute instance that are NGSI-LD keywords, never sub-attributes.
INSTANCE_KEYWORDS = frozenset(
    {
        "type",
        "value",
        "object",
        "objectType",
        "languageMap",
        "vocab",
        "valueList",
        "objectList",
        "json",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "lang",
    }
)
ENTITY_KEYWORDS = frozenset(
    {"id", "@id", "type", "@type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt"}
)
# GeoProperties defined by the core context: they must hold geometries.
CORE_GEOPROPERTIES = frozenset(
    {NGSI_LD + "location", NGSI_LD + "observationSpace", NGSI_LD + "operationSpace"}
)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
# The same pattern for ASCII text, with ``\s`` spelled out as the ASCII characters it
# matches (str.isspace: \t \n \v \f \r, \x1c-\x1f and space): a set of single characters
# the regular expression engine tests as a bitmap instead of a Unicode category lookup per
# character (~15 % fewer instructions per id). tests/hub/test_model_uri.py checks both agree.
_URI_ASCII = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\t\n\x0b\x0c\r\x1c-\x20<>\"{}|\\^`]+$")
_BAD_NAME = re.compile(r"[\s<>\"'=;()\[\]{}]")


class Expander(Protocol):
    """What model needs of a JSON-LD active context."""

    def expand(self, term: str) -> str: ...  # noqa: D102

    def expand_type(self, term: str) -> str: ...  # noqa: D102

    def expand_vocab_value(self, value: str) -> str: ...  # noqa: D102


# Characters that render as nothing (or reorder text) although they are not spaces: an id
# holding one looks like another id. Hangul fillers and the Braille blank are letters to
# Unicode, so they are named; the rest are Unicode categories (controls, format characters
# such as U+202E and U+200B, surrogates, private use, unassigned and noncharacters).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_INVISIBLE_LETTERS = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800})


def _invisible(char: str) -> bool:
    code = ord(char)
    return (
        code in _INVISIBLE_LETTERS
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF  # variation selectors supplement
        or unicodedata.category(char) in _INVISIBLE_CATEGORIES
    )


def is_uri(value: object) -> bool:
    """Return True for an absolute URI (a scheme followed by ``:``), such as a URN.

    Non-ASCII letters are allowed (IRIs, RFC 3987), invisible or reordering characters not.
    """
    if not isinstance(value, str):
        return False
    if value.isascii():
        return _URI_ASCII.match(value) is not None
    if not _URI.match(value):
        return False
    return not any(_invisible(c) for c in value if not c.isascii())


def check_entity_id(value: object) -> str:
    """Return ``value`` if it is a valid entity id, else raise BadRequestData."""
    if not is_uri(value):
        raise BadRequestData(
            f"entity id must be an absolute URI such as urn:ngsi-ld:Vehicle:A123 (got {value!r})"
            " / 엔터티 id는 urn:ngsi-ld:Vehicle:A123 같은 절대 URI여야 합니다 (받은 값: "
            f"{value!r})"
        )
    assert isinstance(value, str)
    return value


@lru_cache(maxsize=8192)
def _name_ok(name: str) -> bool:
    return (
        bool(name)
        and not name.startswith("@")
        and not _BAD_NAME.search(name)
        and (len(name) <= 512)
    )


def check_attribute_name(name: str) -> None:
    """Raise BadRequestData unless ``name`` is usable as an attribute name."""
    if not _name_ok(name):
        raise BadRequestData(
            f"attribute name {name!r} is not valid: use letters, digits, _ or a full IRI, "
            "without spaces or any of < > \" ' = ; ( ) [ ] { }"
            f" / 속성 이름 {name!r}이(가) 올바르지 않습니다: 글자, 숫자, _ 또는 전체 IRI를 "
            "쓰고, 공백이나 < > \" ' = ; ( ) [ ] { }는 쓰지 마세요"
        )


def expand_types(value: object, ctx: Expander) -> list[str]:
    """Return the expanded entity types of a ``type`` member (a string or a list)."""
    raw = value if isinstance(value, list) else [value]
    if not raw or not all(isinstance(t, str) and t for t in raw):
        raise BadRequestData(
            f"entity type must be a non-empty string or a list of them (got {value!r})"
            " / 엔터티 type은 비어 있지 않은 문자열이나 그 목록이어야 합니다 (받은 값: "
            f"{value!r})"
        )
    types: list[str] = []
    for term in raw:
        assert isinstance(term, str)
        check_attribute_name(term)
        iri = ctx.expand_type(term)
        if iri.startswith("@"):  # e.g. "type", which the core context maps to @type
            raise BadRequestData(
                f"entity type {term!r} is a JSON-LD keyword, not a type"
                f" / 엔터티 type {term!r}은(는) JSON-LD 키워드이며 유형이 아닙니다"
            )
        if iri not in types:
            types.append(iri)
    return types


def _infer_kind(value: Mapping[str, Any]) -> str:
    """Return the attribute type a concise attribute object stands for (GS CIM 009, 4.5.4)."""
    if "object" in value:
        return "Relationship"
    if "languageMap" in value:
        return "LanguageProperty"
    if "vocab" in value:
        return "VocabProperty"
    if "valueList" in value:
        return "ListProperty"
    if "objectList" in value:
        return "ListRelationship"
    if "json" in value:
        return "JsonProperty"
    return "Property"


def _as_instance(raw: object, name: str) -> dict[str, Any]:
    """Return a normalized attribute instance from normalized or concise input."""
    if isinstance(raw, Mapping):
        declared = raw.get("type")
        if not isinstance(declared, str | None):  # e.g. a list: never an attribute type
            declared = repr(declared)
        if declared in ATTRIBUTE_TYPES:
            return dict(raw)
        if declared in GEO_TYPES and "coordinates" in raw or "geometries" in raw:
            return {"type": "GeoProperty", "value": dict(raw)}
        if "type" in raw:
            raise BadRequestData(
                f"attribute {name!r} has unknown type {raw.get('type')!r}; use one of "
                + ", ".join(sorted(ATTRIBUTE_TYPES))
                + f" / 속성 {name!r}의 유형 {raw.get('type')!r}을(를) 알 수 없습니다. 다음 중 "
                "하나를 쓰세요: " + ", ".join(sorted(ATTRIBUTE_TYPES))
            )
        kind = _infer_kind(raw)
        if kind == "Property" and "value" not in raw:
            raise BadRequestData(
                f"attribute {name!r} is a JSON object without 'type' or 'value'; wrap a "
                'compound value as {"type": "Property", "value": {...}}'
                f" / 속성 {name!r}은(는) 'type'도 'value'도 없는 JSON 객체입니다. 복합 값은 "
                '{"type": "Property", "value": {...}}로 감싸세요'
            )
        return {"type": kind, **raw}
    if raw is None:
        raise BadRequestData(
            f"attribute {name!r} has a null value; give a value or omit it"
            f" / 속성 {name!r}의 값이 null입니다. 값을 주거나 속성을 빼세요"
        )
    return {"type": "Property", "value": raw}


def _check_uri_list(values: object, what: str) -> None:
    items = values if isinstance(values, list) else [values]
    if not items or not all(is_uri(v) for v in items):
        raise BadRequestData(
            f"{what} must be a URI or a non-empty list of URIs (got {values!r})"
            f" / {what}은(는) URI이거나 URI의 비어 있지 않은 목록이어야 합니다 (받은 값: "
            f"{values!r})"
        )


# Each attribute type holds its value in one member (GS CIM 009 v1.8, 4.5.2-4.5.24); the
# value members of the other types, and the output-only previous* members, are errors.
VALUE_MEMBER = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
    "JsonProperty": "json",
}
_OUTPUT_ONLY = ("previousValue", "previousObject", "previousLanguageMap", "previousVocab")
_NO_UNIT = frozenset({"Relationship", "ListRelationship", "JsonProperty"})


# per attribute type, the value members of the other types
_FOREIGN = {
    kind: tuple(sorted(set(VALUE_MEMBER.values()) - {own})) for kind, own in VALUE_MEMBER.items()
}
# members read by expand_instance itself, not sub-attributes: observedAt, unitCode and
# datasetId are checked one by one, deletedAt and lang are refused on input
_NOT_SUB_ATTRIBUTES = INSTANCE_KEYWORDS - {
    "observedAt",
    "unitCode",
    "datasetId",
    "deletedAt",
    "lang",
}


def _check_members(inst: Mapping[str, Any], name: str) -> None:
    """Raise BadRequestData when an instance mixes members of different attribute types."""
    kind = inst["type"]
    own = VALUE_MEMBER[kind]
    foreign = [m for m in _FOREIGN[kind] if m in inst]
    if foreign:
        raise BadRequestData(
            f"{kind} {name!r} holds its value in {own!r}; it cannot have {', '.join(foreign)}"
            f" / {kind} {name!r}은(는) 값을 {own!r}에 담으므로 {', '.join(foreign)}을(를) "
            "가질 수 없습니다"
        )
    output_only = [m for m in _OUTPUT_ONLY if m in inst]
    if output_only:
        raise BadRequestData(
            f"{name!r}: {', '.join(output_only)} is only ever output"
            f" / {name!r}: {', '.join(output_only)}은(는) 출력 전용입니다"
        )
    if "unitCode" in inst and kind in _NO_UNIT:
        raise BadRequestData(
            f"{kind} {name!r} cannot have a unitCode"
            f" / {kind} {name!r}에는 unitCode를 줄 수 없습니다"
        )
    if inst.get(own) == NULL_URI:
        raise BadRequestData(
            f"{name!r} is NGSI-LD Null ({NULL_URI}): that deletes an attribute, "
            "it cannot create or hold one"
            f" / {name!r}은(는) NGSI-LD Null({NULL_URI})입니다: 속성을 삭제할 때만 쓰며, "
            "속성을 만들거나 담을 수 없습니다"
        )


def expand_instance(
    raw: object, name: str, iri: str, ctx: Expander, *, now: str, depth: int = 0
) -> dict[str, Any]:
    """Return one attribute instance in internal form, validated, with sub-attributes expanded."""
    if depth > 8:
        raise BadRequestData(
            f"attribute {name!r} nests sub-attributes more than 8 levels deep"
            f" / 속성 {name!r}의 하위 속성 중첩이 8단계보다 깊습니다"
        )
    inst = _as_instance(raw, name)
    kind = inst["type"]
    _check_members(inst, name)
    out: dict[str, Any] = {"type": kind}
    if kind == "Property":
        if "value" not in inst or inst["value"] is None:
            raise BadRequestData(
                f"Property {name!r} needs a non-null 'value'"
                f" / Property {name!r}에는 null이 아닌 'value'가 필요합니다"
            )
        out["value"] = inst["value"]
    elif kind == "Relationship":
        if "object" not in inst:
            raise BadRequestData(
                f"Relationship {name!r} needs an 'object' (a URI)"
                f" / Relationship {name!r}에는 'object'(URI)가 필요합니다"
            )
        _check_uri_list(inst["object"], f"Relationship {name!r} object")
        out["object"] = inst["object"]
        if "objectType" in inst:
            out["objectType"] = inst["objectType"]
    elif kind == "GeoProperty":
        if "value" not in inst:
            raise BadRequestData(
                f"GeoProperty {name!r} needs a GeoJSON geometry 'value'"
                f" / GeoProperty {name!r}에는 GeoJSON 도형 'value'가 필요합니다"
            )
        validate_geojson_geometry(inst["value"])
        out["value"] = inst["value"]
    elif kind == "LanguageProperty":
        lmap = inst.get("languageMap")
        if (
            not isinstance(lmap, Mapping)
            or not lmap
            or not all(
                isinstance(k, str)
                and (
                    isinstance(v, str)
                    or (isinstance(v, list) and all(isinstance(s, str) for s in v))
                )
                for k, v in lmap.items()
            )
        ):
            raise BadRequestData(
                f"LanguageProperty {name!r} needs a 'languageMap' of language tags to strings, "
                'e.g. {"ko": "세종", "en": "Sejong"}'
            )
        out["languageMap"] = dict(lmap)
    elif kind == "VocabProperty":
        vocab = inst.get("vocab")
        items = vocab if isinstance(vocab, list) else [vocab]
        if not items or not all(isinstance(v, str) and v for v in items):
            raise BadRequestData(
                f"VocabProperty {name!r} needs 'vocab': a term or list of terms"
                f" / VocabProperty {name!r}에는 'vocab'(용어나 용어 목록)이 필요합니다"
            )
        expanded = [ctx.expand_vocab_value(str(v)) for v in items]
        out["vocab"] = expanded if isinstance(vocab, list) else expanded[0]
    elif kind == "ListProperty":
        if not isinstance(inst.get("valueList"), list):
            raise BadRequestData(
                f"ListProperty {name!r} needs 'valueList': a JSON array"
                f" / ListProperty {name!r}에는 'valueList'(JSON 배열)가 필요합니다"
            )
        out["valueList"] = inst["valueList"]
    elif kind == "ListRelationship":
        objects = inst.get("objectList")
        if not isinstance(objects, list):
            raise BadRequestData(
                f"ListRelationship {name!r} needs 'objectList': a JSON array"
                f" / ListRelationship {name!r}에는 'objectList'(JSON 배열)가 필요합니다"
            )
        flat = [o.get("object") if isinstance(o, Mapping) else o for o in objects]
        if not all(is_uri(o) for o in flat):
            raise BadRequestData(
                f"ListRelationship {name!r} objectList must hold only URIs"
                f" / ListRelationship {name!r}의 objectList에는 URI만 담을 수 있습니다"
            )
        out["objectList"] = flat
    elif kind == "JsonProperty":
        if "json" not in inst:
            raise BadRequestData(
                f"JsonProperty {name!r} needs a 'json' member"
                f" / JsonProperty {name!r}에는 'json' 멤버가 필요합니다"
            )
        out["json"] = inst["json"]
    if iri in CORE_GEOPROPERTIES and kind != "GeoProperty":
        raise BadRequestData(
            f"{name!r} is reserved for a GeoProperty (a GeoJSON geometry)"
            f" / {name!r}은(는) GeoProperty(GeoJSON 도형)용으로 예약되어 있습니다"
        )
    for key, sub in inst.items():
        if key in _NOT_SUB_ATTRIBUTES:
            continue
        if key == "observedAt":
            check_datetime(sub, field=f"{name}.observedAt")
            out["observedAt"] = sub
        elif key == "unitCode":
            if not isinstance(sub, str) or not sub:
                raise BadRequestData(
                    f"{name}.unitCode must be a UN/CEFACT code such as 'CEL'"
                    f" / {name}.unitCode는 'CEL' 같은 UN/CEFACT 코드여야 합니다"
                )
            out["unitCode"] = sub
        elif key == "datasetId":
            if not is_uri(sub):
                raise BadRequestData(
                    f"{name}.datasetId must be a URI (got {sub!r})"
                    f" / {name}.datasetId는 URI여야 합니다 (받은 값: {sub!r})"
                )
            out["datasetId"] = sub
        elif key in ("@context", "deletedAt", "lang"):
            raise BadRequestData(
                f"{name}.{key} is not allowed inside an attribute"
                f" / {name}.{key}은(는) 속성 안에 둘 수 없습니다"
            )
        else:
            check_attribute_name(key)
            sub_iri = ctx.expand(key)
            out[sub_iri] = expand_instance(sub, key, sub_iri, ctx, now=now, depth=depth + 1)
    out["createdAt"] = now
    out["modifiedAt"] = now
    return out


class ExpandCache:
    """What one request already checked and expanded under one context, to reuse per entity.

    A batch of sensor readings repeats the same attribute names, entity types and
    observedAt values in every entity: each is checked and expanded once, then looked up.
    The answers depend on the context, so a cache belongs to one context (``ctx``) and one
    request: it is made for a batch and dropped with it, never shared or kept.
    """

    __slots__ = ("ctx", "names", "times", "types")

    def __init__(self, ctx: Expander) -> None:
        self.ctx = ctx
        self.names: dict[str, str] = {}  # attribute name (checked) -> IRI
        self.types: dict[str, str] = {}  # entity type term (checked) -> IRI
        self.times: set[str] = set()  # observedAt values that passed check_datetime


_ABSENT: Any = object()


def _fast_instance(
    raw: dict[str, Any], name: str, iri: str, now: str, times: set[str] | None = None
) -> dict[str, Any] | None:
    """Return the common simple shapes sensors send, or None for the general path.

    A Property with value/unitCode/observedAt, a Relationship to one URI, or a GeoProperty
    Point pass exactly the checks of ``expand_instance`` here, in a fraction of the time
    (batch upserts are dominated by these shapes); anything else, including every error,
    goes through the general path so its message stays the same. ``times`` holds
    observedAt values already checked in this request (see ExpandCache).
    """
    # Members are read by subscript (in ``try``, free unless missing) or after an ``in``
    # test: ~120 instructions each where ``dict.get``, a method call, costs ~300.
    try:
        kind = raw["type"]
    except KeyError:
        return None
    size = len(raw)
    if kind == "Property":
        try:
            value = raw["value"]
        except KeyError:
            return None
        if value is None or (isinstance(value, str) and value == NULL_URI):
            return None  # null: an error of the general path
        if iri in CORE_GEOPROPERTIES:
            return None
        if size == 2:
            return {"type": "Property", "value": value, "createdAt": now, "modifiedAt": now}
        # any other member (a sub-attribute, datasetId, …) takes the general path
        if size == 4:
            try:
                unit = raw["unitCode"]
                observed = raw["observedAt"]
            except KeyError:
                return None
        elif size != 3:
            return None
        elif "unitCode" in raw:
            unit, observed = raw["unitCode"], _ABSENT
        elif "observedAt" in raw:
            unit, observed = _ABSENT, raw["observedAt"]
        else:
            return None
        if unit is not _ABSENT and (not isinstance(unit, str) or not unit):
            return None
        if observed is not _ABSENT and (
            times is None or type(observed) is not str or observed not in times
        ):
            check_datetime(observed, field=f"{name}.observedAt")
            if times is not None:
                times.add(observed)
        # the key order is this path's own (unitCode before observedAt), as stored so far
        if observed is _ABSENT:
            return {
                "type": "Property",
                "value": value,
                "unitCode": unit,
                "createdAt": now,
                "modifiedAt": now,
            }
        if unit is _ABSENT:
            return {
                "type": "Property",
                "value": value,
                "observedAt": observed,
                "createdAt": now,
                "modifiedAt": now,
            }
        return {
            "type": "Property",
            "value": value,
            "unitCode": unit,
            "observedAt": observed,
            "createdAt": now,
            "modifiedAt": now,
        }
    if size != 2:
        return None
    if kind == "Relationship":
        if iri in CORE_GEOPROPERTIES:  # reserved for a GeoProperty: the general path's error
            return None
        try:
            target = raw["object"]
        except KeyError:
            return None
        if not isinstance(target, str) or target == NULL_URI or not is_uri(target):
            return None
        return {"type": "Relationship", "object": target, "createdAt": now, "modifiedAt": now}
    if kind == "GeoProperty":
        try:
            value = raw["value"]
        except KeyError:
            return None
        if not isinstance(value, dict) or value.get("type") != "Point":
            return None
        validate_geojson_geometry(value)
        return {"type": "GeoProperty", "value": value, "createdAt": now, "modifiedAt": now}
    return None


def _expand_instances(
    raw: object, name: str, iri: str, ctx: Expander, now: str
) -> list[dict[str, Any]]:
    """Return an attribute's instances by the general path (several when datasetIds differ)."""
    raws = (
        raw
        if isinstance(raw, list)
        and raw
        and all(
            isinstance(r, Mapping) and ("type" in r or "value" in r or "object" in r) for r in raw
        )
        else [raw]
    )
    instances = [expand_instance(r, name, iri, ctx, now=now) for r in raws]
    seen: set[str | None] = set()
    for inst in instances:
        key = inst.get("datasetId")
        if key in seen:
            which = f"datasetId {key!r}" if key else "no datasetId (the default instance)"
            raise BadRequestData(
                f"attribute {name!r} has two instances with {which}"
                f" / 속성 {name!r}에 {f'datasetId {key!r}' if key else 'datasetId가 없는(기본)'} "
                "인스턴스가 둘 있습니다"
            )
        seen.add(key)
    return instances


def expand_attribute(
    raw: object, name: str, ctx: Expander, *, now: str
) -> tuple[str, list[dict[str, Any]]]:
    """Return an attribute's IRI and its instances (several when datasetIds differ)."""
    check_attribute_name(name)
    iri = ctx.expand(name)
    if isinstance(raw, dict):
        fast = _fast_instance(raw, name, iri, now)
        if fast is not None:
            return iri, [fast]
    return iri, _expand_instances(raw, name, iri, ctx, now)


def expand_attributes(
    body: Mapping[str, Any], ctx: Expander, *, now: str, cache: ExpandCache | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Return the internal ``attrs`` of every non-keyword member of an entity fragment.

    ``cache`` (made for this ``ctx``) carries names and date-times checked by earlier
    entities of the same request.
    """
    if cache is None:
        names: dict[str, str] = {}
        times: set[str] = set()
    else:
        if cache.ctx is not ctx:  # its names were expanded with that context
            raise ValueError("an ExpandCache serves only the context it was made for")
        names, times = cache.names, cache.times
    attrs: dict[str, list[dict[str, Any]]] = {}
    for name, raw in body.items():
        if name in ENTITY_KEYWORDS:
            continue
        try:
            iri = names[name]  # a subscript: ~180 instructions less than ``get``
        except KeyError:
            check_attribute_name(name)
            iri = names[name] = ctx.expand(name)
        if isinstance(raw, dict):
            fast = _fast_instance(raw, name, iri, now, times)
            if fast is not None:
                attrs[iri] = [fast]
                continue
        attrs[iri] = _expand_instances(raw, name, iri, ctx, now)
    return attrs


def check_scope(value: object) -> list[str]:
    """Return the entity's scopes as a list, checking each is a /path/of/segments."""
    items = value if isinstance(value, list) else [value]
    pattern = re.compile(r"^(/[^/#+\s]+)+$")
    if not all(isinstance(s, str) and pattern.match(s) for s in items):
        raise BadRequestData(
            f"scope must be a path like /Sejong/Hansol or a list of them: {value!r}"
            f" / scope는 /Sejong/Hansol 같은 경로나 그 목록이어야 합니다: {value!r}"
        )
    return [str(s) for s in items]


def expand_entity(
    body: object,
    ctx: Expander,
    *,
    now: str,
    require_id: bool = True,
    cache: ExpandCache | None = None,
    id_checked: bool = False,
) -> dict[str, Any]:
    """Return an entity from a request body in internal form, or raise BadRequestData.

    ``cache`` shares checked names, types and date-times between the entities of one
    request; ``id_checked`` says the caller already passed ``body["id"]`` through
    check_entity_id.
    """
    if not isinstance(body, (dict, Mapping)):  # dict first: no ABC check
        raise BadRequestData(
            "an entity must be a JSON object with at least 'id' and 'type'"
            " / 엔터티는 적어도 'id'와 'type'이 있는 JSON 객체여야 합니다"
        )
    # subscripts in try where a member is nearly always there: ~180 instructions less
    # than ``get`` each (see _fast_instance)
    try:
        entity_id = body["id"]
    except KeyError:
        entity_id = body.get("@id")
    if entity_id is None and require_id:
        raise BadRequestData(
            "the entity has no 'id'; give a URI such as urn:ngsi-ld:Vehicle:A1"
            " / 엔터티에 'id'가 없습니다. urn:ngsi-ld:Vehicle:A1 같은 URI를 주세요"
        )
    if "type" not in body and "@type" not in body:
        raise BadRequestData(
            "the entity has no 'type'; give one such as 'Vehicle'"
            " / 엔터티에 'type'이 없습니다. 'Vehicle' 같은 유형을 주세요"
        )
    if cache is not None and cache.ctx is not ctx:  # expanded with that context
        raise ValueError("an ExpandCache serves only the context it was made for")
    if entity_id is not None and not (id_checked and "id" in body):
        entity_id = check_entity_id(entity_id)
    try:
        raw_type = body["type"]
    except KeyError:
        raw_type = body.get("@type")
    if cache is None or type(raw_type) is not str:
        types = expand_types(raw_type, ctx)
    else:
        try:
            types = [cache.types[raw_type]]
        except KeyError:
            types = expand_types(raw_type, ctx)
            cache.types[raw_type] = types[0]
    entity: dict[str, Any] = {"id": entity_id, "type": types}
    if "scope" in body:
        entity["scope"] = check_scope(body["scope"])
    entity["createdAt"] = now
    entity["modifiedAt"] = now
    entity["attrs"] = expand_attributes(body, ctx, now=now, cache=cache)
    return entity


# What the C expansion (``_native_expand.expand_entity``, used by ``batch._prepare``) calls
# back instead of copying a rare or intricate check, by position: a HubError from any of them
# makes it answer NotImplemented, and the Python path then raises the same error.
NATIVE_HELPERS = (
    check_attribute_name,
    expand_types,
    check_scope,
    check_datetime,
    is_uri,
    validate_geojson_geometry,
    HubError,
)


def default_instance(instances: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the instance without a datasetId, if there is one."""
    for inst in instances:
        if "datasetId" not in inst:
            return inst
    return None
