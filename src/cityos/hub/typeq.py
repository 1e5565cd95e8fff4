"""Entity type selections: ``type=A,B`` lists and v1.8 type expressions ``(A;B)|C``.

A selection is kept in disjunctive normal form: a tuple of AND-groups, any of which may
match; an entity matches an AND-group when it has every type in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cityos.hub.errors import InvalidRequest

_TOKEN = re.compile(r"\s*(?:(?P<op>[(),;|])|(?P<name>[^\s(),;|]+))")
_MAX_LEN = 4096


@dataclass(frozen=True, slots=True)
class TypeSelection:
    """Types an entity must have: any one of ``groups``, each a set of types all required."""

    groups: tuple[frozenset[str], ...]

    def matches(self, types: list[str]) -> bool:
        """Return True if an entity with ``types`` is selected."""
        have = set(types)
        return any(group <= have for group in self.groups)

    def all_types(self) -> set[str]:
        """Return every type named anywhere in the selection."""
        return set().union(*self.groups)


def parse_type_selection(text: str, expand: Callable[[str], str]) -> TypeSelection:
    """Parse a ``type`` parameter into DNF, expanding each type name; raise InvalidRequest."""
    if not text or len(text) > _MAX_LEN:
        raise InvalidRequest(
            "type must be a type name, a comma list, or an expression like (A;B)|C"
            " / type은 유형 이름, 쉼표로 구분한 목록 또는 (A;B)|C 같은 식이어야 합니다"
        )
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise InvalidRequest(
                f"type: unexpected character at position {pos} in {text!r}"
                f" / type: {text!r}의 위치 {pos}에 예상하지 못한 문자가 있습니다"
            )
        tokens.append(match.group("op") or expand(match.group("name")))
        pos = match.end()
    groups, rest = _parse_or(tokens, 0, text)
    if rest != len(tokens):
        raise InvalidRequest(
            f"type: unexpected {tokens[rest]!r} in {text!r}"
            f" / type: {text!r}에 예상하지 못한 {tokens[rest]!r}이(가) 있습니다"
        )
    return TypeSelection(tuple(dict.fromkeys(groups)))


def _parse_or(tokens: list[str], i: int, text: str) -> tuple[list[frozenset[str]], int]:
    groups, i = _parse_and(tokens, i, text)
    while i < len(tokens) and tokens[i] in (",", "|"):
        more, i = _parse_and(tokens, i + 1, text)
        groups += more
    return groups, i


def _parse_and(tokens: list[str], i: int, text: str) -> tuple[list[frozenset[str]], int]:
    groups, i = _parse_atom(tokens, i, text)
    while i < len(tokens) and tokens[i] == ";":
        right, i = _parse_atom(tokens, i + 1, text)
        groups = [a | b for a in groups for b in right]
        if len(groups) > 256:
            raise InvalidRequest(
                "type: the expression is too complex (over 256 alternatives)"
                " / type: 식이 너무 복잡합니다(대안이 256개를 넘습니다)"
            )
    return groups, i


def _parse_atom(tokens: list[str], i: int, text: str) -> tuple[list[frozenset[str]], int]:
    if i >= len(tokens):
        raise InvalidRequest(
            f"type: expression {text!r} ends too early / type: 식 {text!r}이(가) 너무 일찍 끝납니다"
        )
    token = tokens[i]
    if token == "(":
        groups, i = _parse_or(tokens, i + 1, text)
        if i >= len(tokens) or tokens[i] != ")":
            raise InvalidRequest(
                f"type: missing ')' in {text!r} / type: {text!r}에 ')'가 빠졌습니다"
            )
        return groups, i + 1
    if token in (")", ",", ";", "|"):
        raise InvalidRequest(
            f"type: unexpected {token!r} in {text!r}"
            f" / type: {text!r}에 예상하지 못한 {token!r}이(가) 있습니다"
        )
    return [frozenset([token])], i + 1
