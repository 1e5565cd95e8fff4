"""Compile an NGSI-LD ``q`` into SQL over the instances in a temporal query's window.

GS CIM 009 v1.8, 5.7.4.4 (Query Temporal Evolution of Entities): the values filter "shall
be checked against all the Attribute instances resulting from the initial filtering
performed by the temporal query". Here each term of ``q`` holds for an entity when one of
its instances of that attribute *inside the time window* satisfies it (an instance
outside the window never does); ``;`` and ``|`` combine the terms; ``!attr`` holds when the
entity has no instance of ``attr`` in the window. The SQL is a condition on the entity
row ``e`` of ``hub_temporal_entities`` and runs on SQLite and PostgreSQL alike, on the
(series, time) index.

The supported subset (4.9): comparisons ``== != > >= < <=`` of a top-level attribute with a
number, a boolean or a string (a Relationship's object for ``==``/``!=``), ranges
``a..b`` and lists ``a,b`` of numbers or of strings, patterns ``~=`` / ``!~=`` on string
values, existence ``attr`` / ``!attr``, and ``;`` ``|`` with parentheses. The rest —
sub-attributes and keywords (``attr.sub``, ``attr.observedAt``), ``[..]`` trails and
language maps, DateTime/Date/Time literals — is refused with 400 rather than checked
against anything but the window's instances (:class:`TemporalQUnsupported`).
"""

from __future__ import annotations

from typing import Any

from cityos.hub.errors import BadRequestData
from cityos.hub.query.ast import (
    And,
    Bool,
    Compare,
    Exists,
    Match,
    Num,
    Or,
    QExpr,
    Range,
    Str,
    ValueList,
)
from cityos.hub.temporal._db import Db
from cityos.hub.temporal.params import TimeWindow

_SQL_OPS = {"==": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def unsupported(what: str) -> BadRequestData:
    """Return the 400 for a part of ``q`` temporal queries cannot check per instance."""
    return BadRequestData(
        f"{what} is not supported in temporal queries: a temporal query's filters must be "
        "checked against the attribute instances in the time window (GS CIM 009 5.7.4.4), "
        "and CityOS does that for q's comparisons of an attribute's value only (== != > >= "
        "< <=, ranges a..b, lists a,b, ~= patterns, attr, !attr, ; | and parentheses); "
        "query /entities to filter on the current state / "
        f"{what}은(는) 시간 질의에서 지원하지 않습니다: 시간 질의의 필터는 시간 범위 안의 "
        "속성 인스턴스에 대해 검사해야 하며, CityOS는 q의 속성 값 비교(== != > >= < <=, "
        "범위 a..b, 목록 a,b, ~= 패턴, attr, !attr, ; | 와 괄호)만 그렇게 검사합니다. 현재 "
        "상태로 거르려면 /entities를 질의하세요"
    )


class _Compiler:
    """Turns a ``q`` tree into SQL for one backend and one time window."""

    def __init__(self, db: Db, window: TimeWindow) -> None:
        self.db = db
        self.window = window
        self.params: list[Any] = []

    # -- value access ------------------------------------------------------------------
    def _json_type(self, member: str) -> str:
        if self.db.postgres:
            return f"jsonb_typeof(t.instance->'{member}')"
        return f"json_type(t.instance, '$.{member}')"

    def _text(self, member: str) -> str:
        if self.db.postgres:
            return f"(t.instance->>'{member}')"
        return f"json_extract(t.instance, '$.{member}')"

    def _string_type(self) -> str:
        return "'string'" if self.db.postgres else "'text'"

    def _param(self, value: Any) -> str:
        self.params.append(value)
        return "%s"

    def _collate(self, sql: str) -> str:
        # byte order on both backends (SQLite compares text by bytes already)
        return f'CAST({sql} AS text) COLLATE "C"' if self.db.postgres else sql

    # -- one instance against one literal -----------------------------------------------
    def _scalar(self, lit: Any, op: str) -> str:
        """Return SQL true when the instance's value (``op`` lit) holds; NULL-free."""
        sql_op = _SQL_OPS[op]
        if isinstance(lit, Num):
            value = self._param(float(lit.value))
            elements = self._elements("number", sql_op, float(lit.value))
            return (
                f"(t.kind = 'Property' AND ((t.num IS NOT NULL AND t.num {sql_op} {value}) "
                f"OR {elements}))"
            )
        if isinstance(lit, Bool):
            if op not in ("==", "!="):
                return "(1=0)"
            flag = "true" if lit.value else "false"
            if self.db.postgres:
                return f"(t.kind = 'Property' AND t.instance->'value' = '{flag}'::jsonb)"
            return f"(t.kind = 'Property' AND json_type(t.instance, '$.value') = '{flag}')"
        assert isinstance(lit, Str)
        if lit.temporal is not None:
            raise unsupported(f"the DateTime/Date/Time value {lit}")
        text = lit.value
        value = self._param(text)
        elements = self._elements("string", sql_op, text)
        string = (
            f"(t.kind = 'Property' AND (({self._json_type('value')} = {self._string_type()} "
            f"AND {self._collate(self._text('value'))} {sql_op} {self._collate(value)}) "
            f"OR {elements}))"
        )
        if op != "==":
            return string
        # a Relationship's object, a VocabProperty's vocab (expanded like the literal)
        obj = self._param(text)
        vocab = self._param(lit.vocab or text)
        return (
            f"({string} OR (t.kind = 'Relationship' AND {self._text('object')} = {obj}) "
            f"OR (t.kind = 'VocabProperty' AND {self._text('vocab')} = {vocab}))"
        )

    def _elements(self, kind: str, sql_op: str, value: Any) -> str:
        """Return SQL true when the value is an array with a ``kind`` element that
        compares (4.9: an array value matches when one of its elements does)."""
        param = self._param(value)
        if self.db.postgres:
            array = (
                "CASE WHEN jsonb_typeof(t.instance->'value') = 'array' "
                "THEN t.instance->'value' ELSE '[]'::jsonb END"
            )
            if kind == "number":
                test = f"(j #>> '{{}}')::double precision {sql_op} {param}"
            else:
                element = "j #>> '{}'"
                test = f"{self._collate(element)} {sql_op} {self._collate(param)}"
            return (
                f"EXISTS (SELECT 1 FROM jsonb_array_elements({array}) j "
                f"WHERE jsonb_typeof(j) = '{kind}' AND {test})"
            )
        types = "('integer', 'real')" if kind == "number" else "('text')"
        return (
            "(json_type(t.instance, '$.value') = 'array' AND EXISTS (SELECT 1 FROM "
            f"json_each(t.instance, '$.value') j WHERE j.type IN {types} "
            f"AND j.value {sql_op} {param}))"
        )

    def _equal(self, operand: Any) -> str:
        if isinstance(operand, Range):
            low, high = operand.low, operand.high
            if type(low) is not type(high):
                raise unsupported(f"the range {operand} (ends of different types)")
            return f"({self._scalar(low, '>=')} AND {self._scalar(high, '<=')})"
        if isinstance(operand, ValueList):
            return "(" + " OR ".join(self._equal(i) for i in operand.items) + ")"
        return self._scalar(operand, "==")

    def _instance_condition(self, term: Compare | Match) -> str:
        if isinstance(term, Match):
            pattern = self._param(term.pattern)
            text = self._text("value")
            matched = f"{text} ~ {pattern}" if self.db.postgres else f"{text} REGEXP {pattern}"
            string = f"t.kind = 'Property' AND {self._json_type('value')} = {self._string_type()}"
            return f"({string} AND {'NOT ' if term.negated else ''}({matched}))"
        if term.op == "==":
            return self._equal(term.value)
        if term.op == "!=":
            # 4.9: values of another data type are unequal, so "not equal" is NOT(equal)
            # over any Property or Relationship instance
            equal = self._equal(term.value)
            kinds = "t.kind IN ('Property', 'Relationship', 'VocabProperty')"
            return f"({kinds} AND NOT coalesce({equal}, {self._false()}))"
        if isinstance(term.value, Range | ValueList):
            raise unsupported(f"{term} (a range or list goes with == and != only)")
        return self._scalar(term.value, term.op)

    def _false(self) -> str:
        return "false" if self.db.postgres else "0"

    # -- terms and combinations ---------------------------------------------------------
    def _exists(self, attr: str, condition: str | None) -> tuple[str, list[Any]]:
        """Return SQL true when the entity has an instance of ``attr`` in the window (and
        meeting ``condition``), with the window's parameters (the condition's follow)."""
        window = self.window
        column = f"t.{window.column}"
        parts = ["s.tenant = e.tenant", "s.entity_id = e.entity_id", "s.attr = %s"]
        params: list[Any] = [attr]
        if window.start is not None:
            parts.append(f"{column} {'>' if window.start_open else '>='} %s")
            params.append(self.db.instant(window.start))
        if window.end is not None:
            parts.append(f"{column} < %s")
            params.append(self.db.instant(window.end))
        if condition is not None:
            parts.append(condition)
        sql = (
            "EXISTS (SELECT 1 FROM hub_temporal_series s JOIN hub_temporal t ON t.series = s.pk "
            f"WHERE {' AND '.join(parts)})"
        )
        return sql, params

    def term(self, term: Compare | Match | Exists) -> str:
        """Return SQL for one term: an instance in the window satisfies it (or, for
        ``!attr``, the entity has none of ``attr`` in the window)."""
        path = term.path
        if path.sub:
            raise unsupported(f"the sub-attribute or keyword path {path}")
        if path.trail:
            raise unsupported(f"the [..] trail in {path}")
        outer, self.params = self.params, []
        try:
            condition = None if isinstance(term, Exists) else self._instance_condition(term)
            sql, window_params = self._exists(path.name, condition)
            outer.extend([*window_params, *self.params])
        finally:
            self.params = outer
        if isinstance(term, Exists) and term.negated:
            return f"NOT {sql}"
        return sql

    def compile(self, expr: QExpr) -> str:
        if isinstance(expr, And):
            return "(" + " AND ".join(self.compile(i) for i in expr.items) + ")"
        if isinstance(expr, Or):
            return "(" + " OR ".join(self.compile(i) for i in expr.items) + ")"
        if isinstance(expr, Compare | Match | Exists):
            return self.term(expr)
        raise unsupported(f"the query {expr}")


def temporal_q_sql(db: Db, expr: QExpr, window: TimeWindow) -> tuple[str, list[Any]]:
    """Return SQL (on the entity row ``e``) true when ``expr`` holds in the window."""
    compiler = _Compiler(db, window)
    sql = compiler.compile(expr)
    return sql, compiler.params
