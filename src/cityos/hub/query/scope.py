"""Scopes and the scope query language ``scopeQ`` (GS CIM 009 v1.8, 4.18 and 4.19).

A scope is a path such as ``/Madrid/Gardens/ParkNorte``. In a query, ``+`` matches one
level, a trailing ``/#`` the scope and all its descendants, ``/#`` alone any scope;
``;`` is AND, ``|`` (or ``,``) is OR, AND binds tighter, parentheses group.
"""

from __future__ import annotations

from dataclasses import dataclass

from cityos.hub.errors import BadRequestData
from cityos.hub.query.qlang import MAX_DEPTH, MAX_LENGTH, QuerySyntaxError

MAX_SCOPE_LENGTH = 1024
SCOPE_EXAMPLE = "e.g. scopeQ=/Madrid/Gardens/#;(/CompanyA/+/UnitC|/Sejong)"


def _is_level_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-.~:@!$&'*="


@dataclass(frozen=True, slots=True)
class ScopePattern:
    """One scope pattern: its levels (``+`` is a wildcard) and whether ``/#`` ends it."""

    levels: tuple[str, ...]
    descendants: bool = False

    def matches(self, scope: str) -> bool:
        """Return True if the scope string ``scope`` is selected by this pattern."""
        parts = scope.split("/")[1:]
        if len(parts) < len(self.levels) or (
            not self.descendants and len(parts) != len(self.levels)
        ):
            return False
        return all(p == "+" or p == s for p, s in zip(self.levels, parts, strict=False))

    def __str__(self) -> str:
        text = "".join("/" + level for level in self.levels)
        return text + "/#" if self.descendants else text


@dataclass(frozen=True, slots=True)
class ScopeAnd:
    """Every item must be matched by some scope of the entity."""

    items: tuple[ScopeExpr, ...]

    def __str__(self) -> str:
        return ";".join(f"({i})" if isinstance(i, ScopeOr) else str(i) for i in self.items)


@dataclass(frozen=True, slots=True)
class ScopeOr:
    """At least one item must be matched."""

    items: tuple[ScopeExpr, ...]

    def __str__(self) -> str:
        return "|".join(str(i) for i in self.items)


ScopeExpr = ScopePattern | ScopeAnd | ScopeOr


class _ScopeParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def fail(self, what: str, what_ko: str) -> QuerySyntaxError:
        near = self.text[self.pos : self.pos + 20]
        where = f"at character {self.pos + 1} (near {near!r})" if near else "at the end"
        where_ko = f"{self.pos + 1}번째 문자({near!r} 근처)" if near else "끝부분"
        return QuerySyntaxError(
            f"Invalid scopeQ {where}: {what}; {SCOPE_EXAMPLE} / "
            f"잘못된 scopeQ({where_ko}): {what_ko}; 예: {SCOPE_EXAMPLE.removeprefix('e.g. ')}",
            position=self.pos,
        )

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def parse(self) -> ScopeExpr:
        if not self.text:
            raise self.fail("the scope query is empty", "scope 질의가 비어 있습니다")
        if len(self.text) > MAX_LENGTH:
            self.pos = 0
            raise self.fail(
                f"the scope query is longer than {MAX_LENGTH} characters",
                f"scope 질의가 {MAX_LENGTH}자보다 깁니다",
            )
        expr = self.disjunction()
        if self.pos < len(self.text):
            raise self.fail(
                "expected ';', '|', ',' or the end", "';', '|', ',' 또는 질의의 끝이 와야 합니다"
            )
        return expr

    def disjunction(self) -> ScopeExpr:
        items = [self.conjunction()]
        while self.peek() in ("|", ","):
            self.pos += 1
            items.append(self.conjunction())
        flat = tuple(x for i in items for x in (i.items if isinstance(i, ScopeOr) else (i,)))
        return flat[0] if len(flat) == 1 else ScopeOr(flat)

    def conjunction(self) -> ScopeExpr:
        items = [self.factor()]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.factor())
        flat = tuple(x for i in items for x in (i.items if isinstance(i, ScopeAnd) else (i,)))
        return flat[0] if len(flat) == 1 else ScopeAnd(flat)

    def factor(self) -> ScopeExpr:
        if self.peek() != "(":
            return self.pattern()
        if self.depth >= MAX_DEPTH:
            raise self.fail(
                f"parentheses nest deeper than {MAX_DEPTH} levels",
                f"괄호가 {MAX_DEPTH}단계보다 깊게 중첩되어 있습니다",
            )
        self.pos += 1
        self.depth += 1
        expr = self.disjunction()
        self.depth -= 1
        if self.peek() != ")":
            raise self.fail("expected ')'", "')'가 와야 합니다")
        self.pos += 1
        return expr

    def pattern(self) -> ScopePattern:
        levels: list[str] = []
        if self.peek() != "/":
            raise self.fail("a scope starts with '/'", "scope는 '/'로 시작합니다")
        while self.peek() == "/":
            self.pos += 1
            if self.peek() == "#":
                self.pos += 1
                return ScopePattern(tuple(levels), descendants=True)
            start = self.pos
            while self.pos < len(self.text) and _is_level_char(self.text[self.pos]):
                self.pos += 1
            level = self.text[start : self.pos]
            if self.peek() == "+" and not level:
                self.pos += 1
                level = "+"
            if not level:
                raise self.fail(
                    "expected a scope level, '+' or '#' after '/'",
                    "'/' 뒤에는 scope 단계, '+' 또는 '#'가 와야 합니다",
                )
            levels.append(level)
        return ScopePattern(tuple(levels))


def parse_scope_q(text: str) -> ScopeExpr:
    """Parse a ``scopeQ`` string; raise InvalidRequest (QuerySyntaxError) if malformed."""
    return _ScopeParser(text).parse()


def scope_matches(expr: ScopeExpr, scopes: list[str]) -> bool:
    """Return True if an entity with these ``scope`` values is selected by ``expr``."""
    if isinstance(expr, ScopePattern):
        return any(expr.matches(s) for s in scopes)
    if isinstance(expr, ScopeAnd):
        return all(scope_matches(i, scopes) for i in expr.items)
    return any(scope_matches(i, scopes) for i in expr.items)


def validate_scope(scope: object) -> str:
    """Return ``scope`` if it is a valid scope value; raise BadRequestData otherwise."""
    if not isinstance(scope, str) or not scope.startswith("/") or scope == "/":
        raise BadRequestData(
            f"Invalid scope {scope!r}: a scope is a path like /Madrid/Gardens"
            f" / 잘못된 scope {scope!r}: scope는 /Madrid/Gardens 같은 경로입니다"
        )
    if len(scope) > MAX_SCOPE_LENGTH:
        raise BadRequestData(
            f"Invalid scope: longer than {MAX_SCOPE_LENGTH} characters"
            f" / 잘못된 scope: {MAX_SCOPE_LENGTH}자보다 깁니다"
        )
    for level in scope.split("/")[1:]:
        if not level or not all(_is_level_char(ch) for ch in level):
            raise BadRequestData(
                f"Invalid scope {scope!r}: level {level!r} must be non-empty and hold only "
                "letters, digits or _-.~:@!$&'*= (no '/', '#', '+', spaces); e.g. /Sejong/Jochiwon"
                f" / 잘못된 scope {scope!r}: 단계 {level!r}은(는) 비어 있으면 안 되고 글자, "
                "숫자, _-.~:@!$&'*=만 쓸 수 있습니다('/', '#', '+', 공백은 안 됩니다). 예: "
                "/Sejong/Jochiwon"
            )
    return scope
