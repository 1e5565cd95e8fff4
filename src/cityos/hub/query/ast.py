"""The immutable syntax tree of an NGSI-LD query (GS CIM 009 v1.8, 4.9).

Every node prints back to canonical ``q`` text with ``str(node)``; parsing that text
gives an equal tree. Attribute names are kept raw until :meth:`QExpr.expanded` maps
them through a JSON-LD expansion callable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal, TypeAlias

from cityos.hub.query._temporal import TemporalValue, parse_temporal

#: Core keywords allowed after a dot; they are data fields, never expanded.
KEYWORDS = frozenset(
    {
        "type",
        "value",
        "object",
        "objectType",
        "languageMap",
        "vocab",
        "valueList",
        "objectList",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
    }
)

CompareOp: TypeAlias = Literal["==", "!=", ">", ">=", "<", "<="]
Expand: TypeAlias = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class AttrPath:
    """An attribute, its dot path (sub-attributes or a keyword) and its ``[..]`` trail."""

    name: str
    sub: tuple[str, ...] = ()
    trail: tuple[str, ...] = ()

    @property
    def keyword(self) -> str | None:
        """Return the core keyword the path ends on, if any."""
        return self.sub[-1] if self.sub and self.sub[-1] in KEYWORDS else None

    def expanded(self, expand: Expand) -> AttrPath:
        """Return a copy with the attribute and sub-attribute names expanded."""
        sub = tuple(s if s in KEYWORDS else expand(s) for s in self.sub)
        return AttrPath(expand(self.name), sub, self.trail)

    def __str__(self) -> str:
        text = ".".join((self.name, *self.sub))
        if self.trail:
            text += "[" + ".".join(self.trail) + "]"
        return text


@dataclass(frozen=True, slots=True)
class Num:
    """A JSON number literal."""

    value: int | float

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True, slots=True)
class Bool:
    """A ``true`` / ``false`` literal."""

    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True, slots=True)
class Str:
    """A string: quoted, or an unquoted URI, term or date/time.

    ``vocab`` is the literal expanded as a vocabulary term (set by ``expanded``); it is
    what a VocabProperty is compared with.
    """

    value: str
    quoted: bool = True
    vocab: str | None = None

    @property
    def temporal(self) -> TemporalValue | None:
        """Return the DateTime, Date or Time the text denotes, if it is one."""
        return parse_temporal(self.value)

    def __str__(self) -> str:
        return json.dumps(self.value, ensure_ascii=False) if self.quoted else self.value


Scalar: TypeAlias = Num | Bool | Str


@dataclass(frozen=True, slots=True)
class Range:
    """A closed interval ``low..high`` (only with ``==`` and ``!=``)."""

    low: Num | Str
    high: Num | Str

    def __str__(self) -> str:
        return f"{self.low}..{self.high}"


@dataclass(frozen=True, slots=True)
class ValueList:
    """Several values ``v1,v2`` meaning any of them (only with ``==`` and ``!=``)."""

    items: tuple[Scalar, ...]

    def __str__(self) -> str:
        return ",".join(str(i) for i in self.items)


Operand: TypeAlias = Scalar | Range | ValueList


class QExpr:
    """Base of every query node: a term or a conjunction / disjunction of nodes."""

    __slots__ = ()

    def expanded(self, expand: Expand) -> QExpr:
        """Return a copy with attribute names (and string values, for vocab) expanded."""
        return expanded(self, expand)

    def attribute_names(self) -> list[str]:
        """Return the distinct top-level attribute names referenced, in order."""
        return attribute_names(self)


@dataclass(frozen=True, slots=True)
class Compare(QExpr):
    """``attr op value``."""

    path: AttrPath
    op: CompareOp
    value: Operand

    def __str__(self) -> str:
        return f"{self.path}{self.op}{self.value}"


@dataclass(frozen=True, slots=True)
class Match(QExpr):
    """``attr~=regex`` or, negated, ``attr!~=regex`` (Python ``re.search`` syntax)."""

    path: AttrPath
    pattern: str
    negated: bool = False

    def __str__(self) -> str:
        quoted = '"' + self.pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{self.path}{'!~=' if self.negated else '~='}{quoted}"


@dataclass(frozen=True, slots=True)
class Exists(QExpr):
    """``attr`` (the attribute exists) or, negated, ``!attr``."""

    path: AttrPath
    negated: bool = False

    def __str__(self) -> str:
        return f"{'!' if self.negated else ''}{self.path}"


@dataclass(frozen=True, slots=True)
class And(QExpr):
    """All of ``items`` hold (``;``)."""

    items: tuple[QExpr, ...]

    def __str__(self) -> str:
        return ";".join(f"({i})" if isinstance(i, Or) else str(i) for i in self.items)


@dataclass(frozen=True, slots=True)
class Or(QExpr):
    """Any of ``items`` holds (``|``)."""

    items: tuple[QExpr, ...]

    def __str__(self) -> str:
        return "|".join(str(i) for i in self.items)


Term: TypeAlias = Compare | Match | Exists


def iter_terms(expr: QExpr) -> Iterator[Term]:
    """Yield the terms of ``expr`` left to right."""
    if isinstance(expr, And | Or):
        for item in expr.items:
            yield from iter_terms(item)
    elif isinstance(expr, Compare | Match | Exists):
        yield expr


def _expand_operand(value: Operand, expand: Expand) -> Operand:
    if isinstance(value, Str):
        expanded = expand(value.value)
        return replace(value, vocab=expanded if expanded != value.value else None)
    if isinstance(value, ValueList):
        return ValueList(tuple(_expand_operand(i, expand) for i in value.items))  # type: ignore[misc]
    return value


def expanded(expr: QExpr, expand: Expand) -> QExpr:
    """Return ``expr`` with attribute names (and string values, for vocab) expanded."""
    if isinstance(expr, And):
        return And(tuple(expanded(i, expand) for i in expr.items))
    if isinstance(expr, Or):
        return Or(tuple(expanded(i, expand) for i in expr.items))
    if isinstance(expr, Compare):
        return Compare(expr.path.expanded(expand), expr.op, _expand_operand(expr.value, expand))
    if isinstance(expr, Match | Exists):
        return replace(expr, path=expr.path.expanded(expand))
    raise TypeError(f"not a query node: {expr!r}")


def attribute_names(expr: QExpr) -> list[str]:
    """Return the distinct top-level attribute names ``expr`` references, in order."""
    return list(dict.fromkeys(t.path.name for t in iter_terms(expr)))
