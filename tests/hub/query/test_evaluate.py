"""Semantics of ``q`` on hand-built internal entities (GS CIM 009 v1.8, 4.9)."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.hub.query import compile_predicate, matches, parse_q
from tests.hub.query.entities import NS, expand

TOWER: dict[str, Any] = {
    "id": "urn:ngsi-ld:Building:pisa",
    "type": [NS + "Building"],
    "attrs": {
        NS + "name": [{"type": "Property", "value": "Pisa Tower"}],
        NS + "speed": [
            {"type": "Property", "value": 30, "observedAt": "2026-03-01T12:00:00Z",
             "unitCode": "KMH", NS + "reliability": {"type": "Property", "value": 0.9}},
            {"type": "Property", "value": 80, "datasetId": "urn:ngsi-ld:Dataset:gps"},
        ],
        NS + "route": [{"type": "Property", "value": "550"}],
        NS + "tags": [{"type": "Property", "value": ["a", "b"]}],
        NS + "address": [{"type": "Property", "value": {"city": "Berlin", "zip": {"code": 10}}}],
        NS + "locatedIn": [{"type": "Relationship", "object": "urn:ngsi-ld:City:Pisa"}],
        NS + "color": [{"type": "LanguageProperty", "languageMap": {"en": "red", "fr": "rouge"}}],
        NS + "category": [{"type": "VocabProperty", "vocab": NS + "commercial"}],
        NS + "readings": [{"type": "ListProperty", "valueList": [1, 2, 3]}],
        NS + "path": [{"type": "ListRelationship", "objectList": ["urn:a", "urn:b"]}],
        NS + "location": [{"type": "GeoProperty",
                           "value": {"type": "Point", "coordinates": [127.26, 36.5]}}],
        NS + "departure": [{"type": "Property", "value": "2026-03-01T13:00:00+01:00"}],
        NS + "active": [{"type": "Property", "value": True}],
        NS + "seen": [{"type": "Property", "value": "2026-03-01T12:00:00.000Z"}],
    },
}  # fmt: skip

CASES = [
    ('name=="Pisa Tower"', True),
    ('name=="Eiffel Tower"', False),
    ('name=="Eiffel Tower","Pisa Tower"', True),
    ('name!="Eiffel Tower","Big Ben"', True),
    ('name!="Pisa Tower","Big Ben"', False),
    ('name~="^Pisa"', True),
    ('name~="(?i)^pisa"', True),
    ('name!~="^Eiffel"', True),
    ('name!~="Tower$"', False),
    ('name>"P"', True),
    ('name>"Q"', False),
    # several instances (datasetId): any instance may satisfy the term
    ("speed>50", True),
    ("speed==30;speed==80", True),
    ("speed==10..40", True),
    ("speed!=10..40", True),
    ("speed==81..99", False),
    ("speed!=30", True),
    # datatype mismatch: not matching, but unequal
    ('speed=="30"', False),
    ('speed!="thirty"', True),
    ("route>100", False),
    ('route>"200"', True),
    ('speed~="3.*"', False),
    # arrays: any element equals; != means no element equals
    ('tags=="a"', True),
    ('tags=="b","z"', True),
    ('tags=="x","z"', False),
    ('tags!="c"', True),
    ('tags!="a"', False),
    # compound values and the trailing path
    ('address[city]=="Berlin"', True),
    ('address[zip]=="Berlin"', False),
    ('address[postcode]!="Berlin"', False),
    ("address[city]", True),
    ("address[postcode]", False),
    ("address[zip.code]==10", True),
    ('location[type]=="Point"', True),
    # relationships: only == and != apply
    ("locatedIn==urn:ngsi-ld:City:Pisa", True),
    ('locatedIn=="urn:ngsi-ld:City:Pisa"', True),
    ("locatedIn!=urn:ngsi-ld:City:Paris", True),
    ('locatedIn>"urn:a"', False),
    ('locatedIn~="Pisa"', False),
    ("path==urn:b", True),
    ("path!=urn:b", False),
    # language maps
    ('color[en]=="red"', True),
    ('color[en]=="rouge"', False),
    ('color[*]=="rouge"', True),
    ('color=="rouge"', True),
    ('color[*]!="red"', False),
    ("color[de]", False),
    # vocab: compared with the expanded literal
    ("category==commercial", True),
    ('category=="commercial"', True),
    ("category==residential", False),
    # list property
    ("readings==2", True),
    ("readings>2", True),
    ("readings>3", False),
    # DateTime as instants, whatever the spelling
    ("departure==2026-03-01T12:00:00Z", True),
    ('departure>"2026-02-15T00:00:00Z"', True),
    ("seen==2026-03-01T12:00:00Z", True),
    ("seen<2026-03-01T12:00:00.000001Z", True),
    ("speed.observedAt==2026-03-01T13:00:00+01:00", True),
    ("speed.observedAt>2026-03-01T12:00:00Z", False),
    # sub-attributes and metadata
    ("speed.reliability>0.5", True),
    ("speed.reliability<0.5", False),
    ('speed.unitCode=="KMH"', True),
    ("speed.datasetId==urn:ngsi-ld:Dataset:gps", True),
    ("speed.missing", False),
    # booleans
    ("active==true", True),
    ("active==false", False),
    ("active!=false", True),
    ("active==1", False),
    # existence and logic
    ("speed", True),
    ("!speed", False),
    ("!heading", True),
    ("heading!=5", False),
    ("!heading;speed>25", True),
    ('(speed>100|route=="551");active==true', False),
    ('(speed>100|route=="550");active==true', True),
    ("heading>1|speed>1", True),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_semantics(text: str, expected: bool) -> None:
    assert matches(parse_q(text).expanded(expand), TOWER) is expected


def test_entity_without_attrs_only_matches_absence() -> None:
    bare = {"id": "urn:x", "type": [NS + "T"], "attrs": {}}
    assert matches(parse_q("!speed").expanded(expand), bare)
    assert not matches(parse_q("speed!=5").expanded(expand), bare)


def test_compiled_predicate_is_reused() -> None:
    expr = parse_q("speed>50").expanded(expand)
    assert compile_predicate(expr) is compile_predicate(expr)
    entities = [TOWER, {"attrs": {NS + "speed": [{"type": "Property", "value": 1}]}}] * 500
    assert sum(map(compile_predicate(expr), entities)) == 500
