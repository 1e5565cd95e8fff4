"""SQL fragments with bound parameters, and the two JSON dialects the compiler targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

MARK = "\x00"  # stands for a placeholder until the dialect's is substituted


class Unsupported(Exception):
    """A construct the compiler does not push down; it is filtered in Python instead."""


@dataclass(frozen=True, slots=True)
class F:
    """A SQL fragment: text with MARK placeholders and the values bound to them."""

    sql: str
    params: tuple[Any, ...] = ()


Body = Callable[[F], F]
TRUE = F("(1=1)")
FALSE = F("(1=0)")


def param(value: Any) -> F:
    """Return a fragment binding one parameter."""
    return F(MARK, (value,))


def sql(template: str, *parts: F) -> F:
    """Fill each ``@`` of ``template`` with the next fragment, keeping parameter order."""
    pieces = template.split("@")
    if len(pieces) != len(parts) + 1:
        raise ValueError(f"template needs {len(pieces) - 1} parts, got {len(parts)}")
    text: list[str] = [pieces[0]]
    params: list[Any] = []
    for part, tail in zip(parts, pieces[1:], strict=True):
        text += [part.sql, tail]
        params.extend(part.params)
    return F("".join(text), tuple(params))


def join(sep: str, parts: list[F]) -> F:
    """Join fragments with ``sep`` (such as `` AND ``) inside parentheses."""
    return F("(" + sep.join(p.sql for p in parts) + ")", tuple(x for p in parts for x in p.params))


class Arm(NamedTuple):
    """One way to enumerate candidates: FROM clause, guard, type and value expressions."""

    source: F | None
    guard: F
    kind: F
    value: F


def safe_key(key: str) -> str:
    """Return ``key`` if it can be quoted in a SQLite JSON path; raise Unsupported if not."""
    if any(ch in key for ch in '"\\') or any(ord(ch) < 32 for ch in key):
        raise Unsupported(f"key {key!r} cannot be written in a SQLite JSON path")
    return key


class SQLite:
    """SQLite json1 over a TEXT column; regex needs :func:`register_sqlite_functions`."""

    placeholder = "?"
    numeric = ("integer", "real")

    def __init__(self) -> None:
        self.n = 0

    def alias(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def get(self, x: F, keys: tuple[str, ...]) -> F:
        if not keys:
            return x
        path = "$" + "".join(f'."{safe_key(k)}"' for k in keys)
        return sql("(@ -> @)", x, param(path))

    def is_object(self, x: F) -> F:
        return sql("json_type(@) = 'object'", x)

    def type_text(self, x: F) -> F:
        return sql("(@ ->> '$.type')", x)

    def instances(self, column: str, name: str, body: Body) -> F:
        a, i = self.alias("a"), self.alias("i")
        return sql(
            f"EXISTS (SELECT 1 FROM json_each({column}) AS {a}, "
            f"json_each(CASE WHEN {a}.type = 'array' THEN {a}.value ELSE '[]' END) AS {i} "
            f"WHERE {a}.key = @ AND {a}.type = 'array' AND {i}.type = 'object' AND @)",
            param(name),
            body(F(f"{i}.value")),
        )

    def elements(self, t: F) -> list[Arm]:
        c = self.alias("c")
        return [
            Arm(sql(f"json_each(@) AS {c}", t), sql("json_type(@) = 'array'", t),
                F(f"{c}.type"), F(f"{c}.value")),
            Arm(None, sql("json_type(@) <> 'array'", t), sql("json_type(@)", t),
                sql("(@ ->> '$')", t)),
        ]  # fmt: skip

    def languages(self, lm: F) -> list[Arm]:
        a, b, c = self.alias("l"), self.alias("l"), self.alias("c")
        obj = self.is_object(lm)
        return [
            Arm(sql(f"json_each(@) AS {a}", lm), sql(f"@ AND {a}.type <> 'array'", obj),
                F(f"{a}.type"), F(f"{a}.value")),
            Arm(sql(f"json_each(@) AS {b}, json_each(CASE WHEN {b}.type = 'array' "
                    f"THEN {b}.value ELSE '[]' END) AS {c}", lm),
                sql(f"@ AND {b}.type = 'array'", obj), F(f"{c}.type"), F(f"{c}.value")),
        ]  # fmt: skip

    def number(self, kind: F, value: F, op: str, n: int | float) -> F:
        return sql(f"(@ IN ('integer', 'real') AND @ {op} @)", kind, value, param(n))

    def string(self, kind: F, value: F, op: str, s: str) -> F:
        return sql(f"(@ = 'text' AND @ {op} @)", kind, value, param(s))

    def boolean(self, kind: F, value: F, flag: bool) -> F:
        return sql("(@ = 'true')" if flag else "(@ = 'false')", kind)

    def regex(self, kind: F, value: F, pattern: str) -> F:
        return sql("(@ = 'text' AND cityos_regexp(@, @))", kind, param(pattern), value)

    def text(self, kind: F) -> F:
        return sql("(@ = 'text')", kind)

    def instant(self, kind: F, value: F, op: str, lit: Any) -> F:
        """Compare with a DateTime/Date/Time literal as instants; not pushed down here."""
        raise Unsupported("date/time literals are compared as instants")


class Postgres:
    """PostgreSQL 15 JSONB; strings order by code point (COLLATE "C"); no regex pushdown."""

    placeholder = "%s"

    def __init__(self) -> None:
        self.n = 0

    def alias(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def get(self, x: F, keys: tuple[str, ...]) -> F:
        for key in keys:
            x = sql("(@ -> CAST(@ AS text))", x, param(key))
        return x

    def is_object(self, x: F) -> F:
        return sql("jsonb_typeof(@) = 'object'", x)

    def type_text(self, x: F) -> F:
        return sql("(@ ->> 'type')", x)

    def instances(self, column: str, name: str, body: Body) -> F:
        i = self.alias("i")
        attr = sql(f"({column} -> CAST(@ AS text))", param(name))
        return sql(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(@) = 'array' "
            f"THEN @ ELSE jsonb_build_array() END) AS {i}(v) "
            f"WHERE jsonb_typeof({i}.v) = 'object' AND @)",
            attr,
            attr,
            body(F(f"{i}.v")),
        )

    def elements(self, t: F) -> list[Arm]:
        c = self.alias("c")
        source = sql(
            "jsonb_array_elements(CASE WHEN jsonb_typeof(@) = 'array' THEN @ "
            f"ELSE jsonb_build_array(@) END) AS {c}(v)",
            t,
            t,
            t,
        )
        return [Arm(source, TRUE, F(f"{c}.v"), F(f"{c}.v"))]

    def languages(self, lm: F) -> list[Arm]:
        lang, c = self.alias("l"), self.alias("c")
        source = sql(
            "jsonb_each(CASE WHEN jsonb_typeof(@) = 'object' THEN @ "
            f"ELSE jsonb_build_object() END) AS {lang}(k, v), "
            f"jsonb_array_elements(CASE WHEN jsonb_typeof({lang}.v) = 'array' THEN {lang}.v "
            f"ELSE jsonb_build_array({lang}.v) END) AS {c}(v)",
            lm,
            lm,
        )
        return [Arm(source, TRUE, F(f"{c}.v"), F(f"{c}.v"))]

    def number(self, kind: F, value: F, op: str, n: int | float) -> F:
        literal = param(json.dumps(n))
        template = f"(jsonb_typeof(@) = 'number' AND @ {op} CAST(@ AS jsonb))"
        return sql(template, kind, value, literal)

    def string(self, kind: F, value: F, op: str, s: str) -> F:
        if op == "=":
            return sql("(@ = to_jsonb(CAST(@ AS text)))", value, param(s))
        return sql(
            f"(jsonb_typeof(@) = 'string' AND (jsonb_build_array(@) ->> 0) COLLATE \"C\" {op} "
            "CAST(@ AS text))",
            kind,
            value,
            param(s),
        )

    def boolean(self, kind: F, value: F, flag: bool) -> F:
        return sql("(@ = 'true'::jsonb)" if flag else "(@ = 'false'::jsonb)", value)

    def regex(self, kind: F, value: F, pattern: str) -> F:
        raise Unsupported("PostgreSQL regular expressions differ from Python's")

    def text(self, kind: F) -> F:
        return sql("(jsonb_typeof(@) = 'string')", kind)

    def instant(self, kind: F, value: F, op: str, lit: Any) -> F:
        """Compare with a DateTime/Date/Time literal as instants; not pushed down here."""
        raise Unsupported("date/time literals are compared as instants")
