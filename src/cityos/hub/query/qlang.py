"""Parse the NGSI-LD query language ``q`` (GS CIM 009 v1.8, 4.9) into a syntax tree."""

from __future__ import annotations

import math
import re
import warnings
from typing import cast

from cityos.hub.errors import InvalidRequest
from cityos.hub.query._temporal import looks_temporal
from cityos.hub.query.ast import (
    KEYWORDS,
    And,
    AttrPath,
    Bool,
    Compare,
    CompareOp,
    Exists,
    Match,
    Num,
    Operand,
    Or,
    QExpr,
    Range,
    Scalar,
    Str,
    ValueList,
)

MAX_LENGTH = 8192
MAX_DEPTH = 32
MAX_PATTERN = 1024
EXAMPLE = 'e.g. q=speed>50;(brandName=="Mercedes"|isParked==urn:ngsi-ld:OffStreetParking:1)'
EXAMPLE_KO = "예: " + EXAMPLE.removeprefix("e.g. ")

_OPERATORS = ("==", "!=", ">=", "<=", "!~=", "~=", ">", "<")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", re.ASCII)
_TEMPORAL = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?"
    r"|\d{4}-\d{2}-\d{2}|\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?Z?",
    re.ASCII,
)
_VALUE_END = ";|),"
_HEX4 = re.compile(r"[0-9a-fA-F]{4}", re.ASCII)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class QuerySyntaxError(InvalidRequest):
    """A ``q`` or ``scopeQ`` string that does not follow the grammar."""

    def __init__(self, detail: str, *, position: int) -> None:
        super().__init__(detail)
        self.position = position


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_-:"


class _Parser:
    """A recursive-descent parser over one ``q`` string; depth is bounded by MAX_DEPTH."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def fail(self, what: str, what_ko: str, pos: int | None = None) -> QuerySyntaxError:
        at = self.pos if pos is None else pos
        near = self.text[at : at + 20]
        where = f"at character {at + 1} (near {near!r})" if near else "at the end"
        where_ko = f"{at + 1}번째 문자({near!r} 근처)" if near else "끝부분"
        return QuerySyntaxError(
            f"Invalid q {where}: {what}; {EXAMPLE} / 잘못된 q({where_ko}): {what_ko}; {EXAMPLE_KO}",
            position=at,
        )

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def parse(self) -> QExpr:
        if not self.text:
            raise self.fail("the query is empty", "질의가 비어 있습니다")
        if len(self.text) > MAX_LENGTH:
            raise self.fail(
                f"the query is longer than {MAX_LENGTH} characters",
                f"질의가 {MAX_LENGTH}자보다 깁니다",
                0,
            )
        expr = self.disjunction()
        if self.pos < len(self.text):
            if self.peek() == ")":
                raise self.fail("unbalanced ')'", "짝이 없는 ')'가 있습니다")
            raise self.fail("expected ';', '|' or the end", "';', '|' 또는 질의의 끝이 와야 합니다")
        return expr

    def disjunction(self) -> QExpr:
        items = [self.conjunction()]
        while self.peek() == "|":
            self.pos += 1
            items.append(self.conjunction())
        flat = tuple(x for i in items for x in (i.items if isinstance(i, Or) else (i,)))
        return flat[0] if len(flat) == 1 else Or(flat)

    def conjunction(self) -> QExpr:
        items = [self.factor()]
        while self.peek() == ";":
            self.pos += 1
            items.append(self.factor())
        flat = tuple(x for i in items for x in (i.items if isinstance(i, And) else (i,)))
        return flat[0] if len(flat) == 1 else And(flat)

    def factor(self) -> QExpr:
        if self.peek() != "(":
            return self.term()
        if self.depth >= MAX_DEPTH:
            raise self.fail(
                f"parentheses nest deeper than {MAX_DEPTH} levels",
                f"괄호가 {MAX_DEPTH}단계보다 깊게 중첩되어 있습니다",
            )
        start = self.pos
        self.pos += 1
        self.depth += 1
        expr = self.disjunction()
        self.depth -= 1
        if self.peek() != ")":
            raise self.fail(
                f"the '(' at character {start + 1} is never closed",
                f"{start + 1}번째 문자의 '('가 닫히지 않았습니다",
            )
        self.pos += 1
        return expr

    def term(self) -> QExpr:
        if self.peek() == "!" and self.peek(3) != "!~=":
            self.pos += 1
            return Exists(self.path(), negated=True)
        path = self.path()
        op = next((o for o in _OPERATORS if self.text.startswith(o, self.pos)), None)
        if op is None:
            if self.peek() == "{":
                raise self.fail(
                    "linked-entity queries (attr{...}) are not supported",
                    "연결 엔터티 질의(attr{...})는 지원하지 않습니다",
                )
            if self.pos < len(self.text) and self.peek() not in ";|)":
                raise self.fail(
                    "expected an operator (== != > >= < <= ~= !~=)",
                    "연산자(== != > >= < <= ~= !~=)가 와야 합니다",
                )
            return Exists(path)
        self.pos += len(op)
        if op in ("~=", "!~="):
            return Match(path, self.pattern(), negated=op == "!~=")
        return Compare(path, cast(CompareOp, op), self.operand(op))

    def name(self, what: str, what_ko: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and _is_name_char(self.text[self.pos]):
            self.pos += 1
        if self.pos == start:
            raise self.fail(f"expected {what}", f"{what_ko}이(가) 와야 합니다")
        return self.text[start : self.pos]

    def path(self) -> AttrPath:
        name = self.name("an attribute name", "속성 이름")
        sub: list[str] = []
        while self.peek() == ".":
            if sub and sub[-1] in KEYWORDS:
                raise self.fail(
                    f"the keyword {sub[-1]!r} must end the attribute path",
                    f"키워드 {sub[-1]!r}은(는) 속성 경로의 맨 끝에만 올 수 있습니다",
                )
            self.pos += 1
            sub.append(
                self.name(
                    "a sub-attribute name or keyword after '.'",
                    "'.' 뒤에 하위 속성 이름이나 키워드",
                )
            )
        trail: list[str] = []
        if self.peek() == "[":
            self.pos += 1
            while True:
                start = self.pos
                while self.pos < len(self.text) and self.text[self.pos] not in ".[]":
                    self.pos += 1
                if self.pos == start:
                    raise self.fail(
                        "expected a key inside '[...]'", "'[...]' 안에는 키가 와야 합니다"
                    )
                trail.append(self.text[start : self.pos])
                if self.peek() == "]":
                    self.pos += 1
                    break
                if self.peek() != ".":
                    raise self.fail(
                        "expected '.' or ']' in the '[...]' path",
                        "'[...]' 경로에는 '.' 또는 ']'가 와야 합니다",
                    )
                self.pos += 1
        return AttrPath(name, tuple(sub), tuple(trail))

    def quoted(self, *, regex: bool = False) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                nxt = text[self.pos + 1 : self.pos + 2]
                if regex:
                    out.append(nxt if nxt in ('"', "\\") else "\\" + nxt)
                elif nxt == "u" and _HEX4.fullmatch(hex4 := text[self.pos + 2 : self.pos + 6]):
                    out.append(chr(int(hex4, 16)))
                    self.pos += 4
                elif nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                else:
                    raise self.fail(
                        "invalid escape in a quoted string",
                        "따옴표 친 문자열에 잘못된 이스케이프가 있습니다",
                    )
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1
        raise self.fail(
            "unterminated quoted string", "따옴표로 연 문자열이 닫히지 않았습니다", start
        )

    def scalar(self) -> Scalar:
        text, pos = self.text, self.pos
        if self.peek() == '"':
            return Str(self.quoted())
        for pattern in (_TEMPORAL, _NUMBER):
            m = pattern.match(text, pos)
            if m and self._value_ends(m.end()):
                self.pos = m.end()
                if pattern is _TEMPORAL:
                    return Str(m.group(), quoted=False)
                return self.number(m.group(), pos)
        for word, flag in (("true", True), ("false", False)):
            if text.startswith(word, pos) and self._value_ends(pos + len(word)):
                self.pos += len(word)
                return Bool(flag)
        end = pos
        while end < len(text) and text[end] not in _VALUE_END:
            if text[end] in '"(' or text[end].isspace():
                raise self.fail(
                    "unquoted values cannot hold spaces, '\"' or '('; quote them",
                    "따옴표 없는 값에는 공백, '\"', '('를 쓸 수 없습니다. 따옴표로 감싸세요",
                    end,
                )
            end += 1
        if end == pos:
            raise self.fail("expected a value", "값이 와야 합니다")
        self.pos = end
        return Str(text[pos:end], quoted=False)

    def _value_ends(self, at: int) -> bool:
        return at == len(self.text) or self.text[at] in _VALUE_END or self.text.startswith("..", at)

    def number(self, token: str, pos: int) -> Num:
        if len(token) > 64:
            raise self.fail("the number has more than 64 characters", "숫자가 64자보다 깁니다", pos)
        if re.fullmatch(r"-?\d+", token):
            return Num(int(token))
        value = float(token)
        if not math.isfinite(value):
            raise self.fail(
                "the number is out of range", "숫자가 표현할 수 있는 범위를 벗어났습니다", pos
            )
        return Num(value)

    def operand(self, op: str) -> Operand:
        start = self.pos
        first = self.scalar()
        if self.peek(2) == "..":
            self.pos += 2
            high = self.scalar()
            if op not in ("==", "!="):
                raise self.fail(
                    f"a range needs == or !=, not {op}",
                    f"범위에는 == 또는 !=만 쓸 수 있습니다({op}는 안 됩니다)",
                    start,
                )
            low = self._range_bound(first, start)
            if type(low) is not type(self._range_bound(high, start)):
                raise self.fail(
                    "both range bounds must be numbers or both strings",
                    "범위의 양 끝은 둘 다 숫자이거나 둘 다 문자열이어야 합니다",
                    start,
                )
            if self.peek() == ",":
                raise self.fail(
                    "a range cannot be part of a list of values",
                    "값 목록 안에는 범위를 넣을 수 없습니다",
                )
            return Range(low, high)  # type: ignore[arg-type]
        if self.peek() == ",":
            items = [first]
            while self.peek() == ",":
                self.pos += 1
                items.append(self.scalar())
            if op not in ("==", "!="):
                raise self.fail(
                    f"a list of values needs == or !=, not {op}",
                    f"값 목록에는 == 또는 !=만 쓸 수 있습니다({op}는 안 됩니다)",
                    start,
                )
            return ValueList(tuple(items))
        if op not in ("==", "!="):
            if isinstance(first, Bool):
                raise self.fail(
                    f"true/false can only be compared with == or !=, not {op}",
                    f"true/false는 == 또는 !=로만 비교할 수 있습니다({op}는 안 됩니다)",
                    start,
                )
            if isinstance(first, Str) and not first.quoted and not looks_temporal(first.value):
                raise self.fail(
                    f"{op} needs a number, a quoted string or a date/time",
                    f"{op}에는 숫자, 따옴표 친 문자열 또는 날짜/시각이 와야 합니다",
                    start,
                )
        return first

    def _range_bound(self, value: Scalar, start: int) -> Num | Str:
        if isinstance(value, Num) or (
            isinstance(value, Str) and (value.quoted or looks_temporal(value.value))
        ):
            return value
        raise self.fail(
            "range bounds must be numbers, quoted strings or dates/times",
            "범위의 양 끝은 숫자, 따옴표 친 문자열 또는 날짜/시각이어야 합니다",
            start,
        )

    def pattern(self) -> str:
        start = self.pos
        pattern = self.quoted(regex=True) if self.peek() == '"' else self._bare_pattern()
        if not pattern:
            raise self.fail("the regular expression is empty", "정규 표현식이 비어 있습니다", start)
        if len(pattern) > MAX_PATTERN:
            raise self.fail(
                f"the regular expression is longer than {MAX_PATTERN}",
                f"정규 표현식이 {MAX_PATTERN}자보다 깁니다",
                start,
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # an ambiguous pattern is refused, not warned
                re.compile(pattern)
        except (re.error, Warning, RecursionError, OverflowError, ValueError) as exc:
            raise self.fail(
                f"invalid regular expression ({exc})", f"잘못된 정규 표현식입니다({exc})", start
            ) from None
        return pattern

    def _bare_pattern(self) -> str:
        text, start = self.text, self.pos
        depth, in_class = 0, False
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
            elif ch == "(":
                depth += 1
            elif ch == ")" and depth:
                depth -= 1
            elif ch in ";|)" and depth == 0:
                break
            self.pos += 1
        self.pos = min(self.pos, len(text))
        return text[start : self.pos]


def parse_q(text: str) -> QExpr:
    """Parse a ``q`` query string; raise InvalidRequest (QuerySyntaxError) if malformed."""
    return _Parser(text).parse()
