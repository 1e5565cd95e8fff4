"""Grammar of ``q``: real query strings, precise errors, round trips and fuzzing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.hub.errors import InvalidRequest
from cityos.hub.query import (
    And,
    AttrPath,
    Bool,
    Compare,
    Exists,
    Match,
    Num,
    Or,
    QuerySyntaxError,
    Range,
    Str,
    ValueList,
    parse_q,
)
from cityos.hub.query.qlang import MAX_DEPTH, MAX_LENGTH
from tests.hub.query.entities import random_q

#: q strings from GS CIM 009 4.9 and the ETSI ngsi-ld-test-suite (QueryEntities 019_*).
VALID = [
    "speed>50",
    "speed>100",
    'speed>20;brandName=="Mercedes"',
    'speed>20;brandName=="Mercedes";color=="red"',
    'name=="Eiffel Tower"',
    'name=="Pisa Tower";almostFull==false',
    '(name=="Pisa Tower"|name=="Eiffel Tower");almostFull==false',
    "airQualityLevel==4",
    "airQualityLevel>=4;airQualityLevel<7",
    "locatedIn==urn:ngsi-ld:City:Pisa",
    "locatedIn==urn:ngsi-ld:City:Pisa|locatedIn==urn:ngsi-ld:City:Paris",
    "airQualityLevel==4..5",
    "airQualityLevel!=4..5",
    'name=="Eiffel Tower","Pisa Tower"',
    'name!="Eiffel Tower","Big Ben"',
    'name!~="^Eiffel"',
    'address[city]=="Berlin"',
    "address[city]",
    'color[en]=="red"',
    'color[*]!="red"',
    "category==commercial",
    "!heading;speed>25",
    "speed>25|heading>100",
    'speed>25|name~="^m"',
    'route=="550","551"',
    'departure>"2026-02-15T00:00:00Z"',
    "active==true",
    '(speed>25|route=="551");active==true',
    "brandName~=(?i)mercedes.*",
    "temperature.observedAt>=2018-12-04T12:00:00Z",
    "temperature.observedAt==2018-12-04T12:00:00Z..2018-12-05T00:00:00+01:00",
    'temperature.reliability.unitCode=="C62"',
    "sensor.location[coordinates]",
    "schema:name==x",
    "day==2018-12-04",
    "opening<=08:30:00Z",
    "x==-1.5e3",
    'a[b.c.d]=="v"',
]


@pytest.mark.parametrize("text", VALID)
def test_valid_queries_parse_and_print_back(text: str) -> None:
    expr = parse_q(text)
    assert parse_q(str(expr)) == expr


def test_tree_shape() -> None:
    expr = parse_q('(a==1|b.c.observedAt>"x");!d;e[f.g]~="^h";i==1..2;j!=true,"k",l')
    assert expr == And(
        (
            Or(
                (
                    Compare(AttrPath("a"), "==", Num(1)),
                    Compare(AttrPath("b", ("c", "observedAt")), ">", Str("x")),
                )
            ),
            Exists(AttrPath("d"), negated=True),
            Match(AttrPath("e", trail=("f", "g")), "^h"),
            Compare(AttrPath("i"), "==", Range(Num(1), Num(2))),
            Compare(AttrPath("j"), "!=", ValueList((Bool(True), Str("k"), Str("l", quoted=False)))),
        )
    )


def test_and_binds_tighter_than_or() -> None:
    assert parse_q("a;b|c;d") == Or(
        (And((Exists(AttrPath("a")), Exists(AttrPath("b")))),
         And((Exists(AttrPath("c")), Exists(AttrPath("d")))))
    )  # fmt: skip


def test_string_escapes_and_quoted_regex() -> None:
    assert parse_q(r'a=="x\"y\\z\u00e9\n"') == Compare(AttrPath("a"), "==", Str('x"y\\zé\n'))
    assert parse_q(r'a~="\d+\"q"') == Match(AttrPath("a"), '\\d+"q')


def test_expanded_and_attribute_names() -> None:
    expr = parse_q('speed>5;temp.observedAt>"x";temp.rel.unitCode=="C";addr[city.name]')
    full = expr.expanded(lambda term: "https://ex.org/" + term)
    assert full.attribute_names() == ["https://ex.org/speed", "https://ex.org/temp",
                                      "https://ex.org/addr"]  # fmt: skip
    terms = full.items  # type: ignore[attr-defined]
    assert terms[2].path == AttrPath("https://ex.org/temp", ("https://ex.org/rel", "unitCode"))
    assert terms[3].path.trail == ("city", "name")
    assert terms[1].value.vocab == "https://ex.org/x"


INVALID = [
    ("", "empty"),
    ("speed>", "expected a value"),
    ("speed 50", "expected an operator"),
    ("(speed>5", "never closed"),
    ("speed>5)", "unbalanced ')'"),
    ("speed>5;", "expected an attribute name"),
    ("a>true", "true/false"),
    ("a>4..5", "a range needs == or !="),
    ("a<1,2", "a list of values needs"),
    ("a==1..b", "range bounds"),
    ("a==1..2,3", "a range cannot be part of a list"),
    ('a==1.."b"', "both range bounds"),
    ('a~="("', "invalid regular expression"),
    ('a~="[[a]"', "invalid regular expression"),
    ("a~=", "empty"),
    ("a{b}==1", "linked-entity"),
    ("a>abc", "needs a number"),
    ('a=="x', "unterminated"),
    (r'a=="\q"', "invalid escape"),
    ("a==Eiffel Tower", "quote them"),
    ("x==1e999", "out of range"),
    ("a.observedAt.b", "must end the attribute path"),
    ("a[]", "expected a key"),
    ("a[b", "expected '.' or ']'"),
    ("a==" + "9" * 70, "more than 64"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_queries_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=r"Invalid q (at character \d+|at the end)") as info:
        parse_q(text)
    assert message in info.value.detail
    assert "e.g. q=" in info.value.detail
    assert isinstance(info.value, QuerySyntaxError)
    assert 0 <= info.value.position <= len(text)


def test_position_points_at_the_fault() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_q("speed>5;brand=?")
    assert info.value.position == 13
    assert "character 14" in info.value.detail


def test_pathological_input_is_refused_cleanly() -> None:
    with pytest.raises(InvalidRequest, match="longer than"):
        parse_q("a" * (MAX_LENGTH + 1))
    with pytest.raises(InvalidRequest, match="nest deeper"):
        parse_q("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(InvalidRequest):
        parse_q("(" * 5000)
    assert parse_q("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH) == Exists(AttrPath("a"))
    assert len(parse_q(";".join(["a==1"] * 1500)).items) == 1500  # type: ignore[attr-defined]


ALPHABET = st.sampled_from(list('ab.[]()!=<>~;|,"\\-0123456789eE:TZ*+ #{}ü?^$') + ["..", "true"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(ALPHABET, max_size=30).map("".join) | st.text(max_size=40))
def test_any_text_parses_or_raises_invalid_request(text: str) -> None:
    try:
        expr = parse_q(text)
    except InvalidRequest:
        return
    assert parse_q(str(expr)) == expr


@settings(max_examples=500, deadline=None)
@given(st.randoms(use_true_random=False))
def test_random_queries_round_trip(rng: random.Random) -> None:
    expr = parse_q(random_q(rng))
    printed = str(expr)
    assert parse_q(printed) == expr
    assert str(parse_q(printed)) == printed


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), st.integers(-(10**20), 10**20), st.floats(allow_nan=False,
       allow_infinity=False))  # fmt: skip
def test_literals_round_trip(text: str, whole: int, real: float) -> None:
    for value in (Str(text), Num(whole), Num(real)):
        expr = Compare(AttrPath("a"), "==", value)
        assert parse_q(str(expr)) == expr
    pattern = Match(AttrPath("a"), text.replace("\\", "") or "x")
    try:
        reparsed = parse_q(str(pattern))
    except InvalidRequest as exc:
        reason = exc.detail
    else:
        reason = "round trip"
        assert reparsed == pattern
    assert reason == "round trip" or "regular expression" in reason
