"""Scopes and ``scopeQ`` (GS CIM 009 v1.8, 4.18-4.19; ETSI test suite 019_01_06, 019_34)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.hub.errors import BadRequestData, InvalidRequest
from cityos.hub.query import parse_scope_q, scope_matches, validate_scope

PARK = ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]
OTHER = ["/Madrid/Gardens/ParqueNorte"]


@pytest.mark.parametrize(
    ("query", "park", "other"),
    [
        ("/Madrid/Gardens/ParqueNorte", True, True),
        ("/Madrid/+/ParqueNorte", True, True),
        ("/Madrid/+", False, False),
        ("/CompanyA/#", True, False),
        ("/Madrid/Gardens/ParqueNorte/#", True, True),
        ("/#", True, True),
        ("/Madrid", False, False),
        ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", True, False),
        ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", True, True),
        ("(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)", True, False),
        ("(/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC)|/Madrid/#", True, True),
        ("/CompanyA/OrganizationB/UnitC|/Nowhere/AtAll", True, False),
        ("(/Madrid/Gardens/ParqueNorte;/Nowhere/AtAll)", False, False),
        ("/+/+/+;/Madrid/#", True, True),
    ],
)
def test_scope_queries(query: str, park: bool, other: bool) -> None:
    expr = parse_scope_q(query)
    assert scope_matches(expr, PARK) is park
    assert scope_matches(expr, OTHER) is other
    assert parse_scope_q(str(expr)) == expr


def test_entity_without_scope_never_matches() -> None:
    assert not scope_matches(parse_scope_q("/#"), [])


@pytest.mark.parametrize(
    "query", ["", "Madrid", "/", "//a", "/a/#/b", "/a+", "(/a", "/a)", "/a;", "/a b", "(" * 40]
)
def test_bad_scope_queries(query: str) -> None:
    with pytest.raises(InvalidRequest, match="Invalid scopeQ"):
        parse_scope_q(query)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(list("/#+;|,()aB1 ü")), max_size=25).map("".join))
def test_any_scope_query_parses_or_raises_invalid_request(text: str) -> None:
    try:
        expr = parse_scope_q(text)
    except InvalidRequest:
        return
    assert parse_scope_q(str(expr)) == expr


@pytest.mark.parametrize("scope", ["/Sejong", "/Sejong/Jochiwon", "/세종/조치원", "/a-b_c.d/e:f"])
def test_valid_scopes(scope: str) -> None:
    assert validate_scope(scope) == scope


@pytest.mark.parametrize(
    "scope",
    ["", "/", "Sejong", "/a/", "/a//b", "/a/#", "/a/+", "/a b", "/a;b", 5, "/" + "a" * 2000],
)
def test_invalid_scopes(scope: object) -> None:
    with pytest.raises(BadRequestData, match="Invalid scope"):
        validate_scope(scope)
