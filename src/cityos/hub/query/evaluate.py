"""Evaluate a ``q`` syntax tree on internal entities (docs/dev/internal-model.md).

The tree is compiled once into nested closures; the closure then runs per entity.
Semantics (GS CIM 009 v1.8, 4.9) are described in docs/hub/query-language.md; the SQL
compilers in :mod:`cityos.hub.query.sql` mirror them exactly.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal, TypeAlias

from cityos.hub.query._temporal import parse_temporal
from cityos.hub.query.ast import (
    And,
    AttrPath,
    Bool,
    Compare,
    Exists,
    Match,
    Num,
    Operand,
    Or,
    QExpr,
    Range,
    Str,
    ValueList,
)

Predicate: TypeAlias = Callable[[dict[str, Any]], bool]
ValueTest: TypeAlias = Callable[[Any], bool]
Mode: TypeAlias = Literal["plain", "relationship", "vocab"]
Candidates: TypeAlias = tuple[list[Any] | None, Mode]

_MISSING = object()
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.eq,  # != is "no candidate equals", built from ==
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
#: Which field of an attribute instance holds the compared target, by attribute type.
TARGET_FIELD = {
    "Relationship": "object",
    "ListRelationship": "objectList",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
}
RELATIONSHIPS = frozenset({"Relationship", "ListRelationship"})


def _elements(value: Any) -> list[Any]:
    return value if type(value) is list else [value]


def _navigate(value: Any, trail: tuple[str, ...]) -> Any:
    for key in trail:
        if type(value) is not dict or key not in value:
            return _MISSING
        value = value[key]
    return value


def _candidates_of(path: AttrPath) -> Callable[[dict[str, Any]], Candidates]:
    """Build the function giving an instance's compared values (None: target absent)."""
    keyword, trail = path.keyword, path.trail
    subs = path.sub[:-1] if keyword else path.sub

    def candidates(inst: dict[str, Any]) -> Candidates:
        for name in subs:
            inst = inst.get(name)  # type: ignore[assignment]
            if type(inst) is not dict:
                return None, "plain"
        if keyword is not None:
            value = _navigate(inst.get(keyword, _MISSING), trail)
            return (None if value is _MISSING else _elements(value)), "plain"
        kind = inst.get("type")
        if kind == "LanguageProperty":
            langs = inst.get("languageMap")
            if type(langs) is not dict or len(trail) > 1:
                return None, "plain"
            if not trail or trail[0] == "*":
                return [c for v in langs.values() for c in _elements(v)], "plain"
            return (_elements(langs[trail[0]]) if trail[0] in langs else None), "plain"
        field = TARGET_FIELD.get(kind, "value") if type(kind) is str else "value"
        if field != "value" and trail:
            return None, "plain"
        value = _navigate(inst.get(field, _MISSING), trail)
        mode: Mode = "relationship" if kind in RELATIONSHIPS else "plain"
        if kind == "VocabProperty":
            mode = "vocab"
        return (None if value is _MISSING else _elements(value)), mode

    return candidates


def _scalar_test(lit: Num | Bool | Str, op: str) -> ValueTest:
    fn = _OPS[op]
    if isinstance(lit, Bool):
        flag = lit.value
        return lambda c: type(c) is bool and c == flag
    if isinstance(lit, Num):
        n = lit.value
        return lambda c: (type(c) is int or type(c) is float) and fn(c, n)
    s, when = lit.value, lit.temporal
    if when is None:
        return lambda c: type(c) is str and fn(c, s)

    def temporal(c: Any) -> bool:
        if type(c) is not str:
            return False
        seen = parse_temporal(c)
        if seen is not None and seen.kind == when.kind:
            return fn(seen.ordinal, when.ordinal)
        return fn(c, s)

    return temporal


def _operand_test(value: Operand, op: str) -> ValueTest:
    """Return the per-candidate test; for ``!=`` it is the equality test."""
    if isinstance(value, Range):
        low, high = _scalar_test(value.low, ">="), _scalar_test(value.high, "<=")
        return lambda c: low(c) and high(c)
    if isinstance(value, ValueList):
        tests = [_scalar_test(i, "==") for i in value.items]
        return lambda c: any(t(c) for t in tests)
    return _scalar_test(value, op)


def _vocab_operand(value: Operand) -> Operand:
    if isinstance(value, Str):
        return Str(value.vocab or value.value, value.quoted)
    if isinstance(value, ValueList):
        return ValueList(tuple(_vocab_operand(i) for i in value.items))  # type: ignore[misc]
    return value


def _instance_test(term: Compare | Match | Exists) -> Callable[[dict[str, Any]], bool]:
    candidates = _candidates_of(term.path)
    if isinstance(term, Exists):
        return lambda inst: candidates(inst)[0] is not None
    if isinstance(term, Match):
        search = re.compile(term.pattern).search
        negated = term.negated

        def regex(inst: dict[str, Any]) -> bool:
            cands, mode = candidates(inst)
            if cands is None or mode == "relationship":
                return False
            texts = [c for c in cands if type(c) is str]
            if negated:
                return bool(texts) and not any(search(t) for t in texts)
            return any(search(t) for t in texts)

        return regex
    op = term.op
    plain = _operand_test(term.value, op)
    vocab = _operand_test(_vocab_operand(term.value), op)
    equality = op in ("==", "!=")

    def compare(inst: dict[str, Any]) -> bool:
        cands, mode = candidates(inst)
        if cands is None or (mode == "relationship" and not equality):
            return False
        test = vocab if mode == "vocab" else plain
        hit = any(test(c) for c in cands)
        return not hit if op == "!=" else hit

    return compare


def _term_predicate(term: Compare | Match | Exists) -> Predicate:
    name = term.path.name
    test = _instance_test(term)
    absent = isinstance(term, Exists) and term.negated

    def predicate(entity: dict[str, Any]) -> bool:
        instances = entity.get("attrs", {}).get(name)
        if type(instances) is list:
            for inst in instances:
                if type(inst) is dict and test(inst):
                    return not absent
        return absent

    return predicate


@lru_cache(maxsize=1024)
def compile_predicate(expr: QExpr) -> Predicate:
    """Compile ``expr`` (attribute names already expanded) into an entity predicate."""
    if isinstance(expr, And):
        parts = tuple(compile_predicate(i) for i in expr.items)
        return lambda entity: all(p(entity) for p in parts)
    if isinstance(expr, Or):
        parts = tuple(compile_predicate(i) for i in expr.items)
        return lambda entity: any(p(entity) for p in parts)
    if isinstance(expr, Compare | Match | Exists):
        return _term_predicate(expr)
    raise TypeError(f"not a query node: {expr!r}")


def matches(expr: QExpr, entity: dict[str, Any]) -> bool:
    """Return True if the internal ``entity`` satisfies ``expr``."""
    return compile_predicate(expr)(entity)
