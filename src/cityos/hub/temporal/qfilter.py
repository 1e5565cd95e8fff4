"""Compile an NGSI-LD ``q`` into SQL over the instances in a temporal query's window.

GS CIM 009 v1.8, 5.7.4.4 (Query Temporal Evolution of Entities): the values filter "shall
be checked against all the Attribute instances resulting from the initial filtering
performed by the temporal query". Here each term of ``q`` holds for an entity when one of
its instances of that attribute *inside the time window* satisfies it (an instance
outside the window never does); ``;`` and ``|`` combine the terms; ``!attr`` holds when the
entity has no instance of ``attr`` in the window. The SQL is a condition on the entity
row ``e`` of ``hub_temporal_entities`` and runs on SQLite and PostgreSQL alike, over the
view ``hub_temporal_instances`` with the change rows prefiltered on the (entity, ts_hi)
index.

Plain terms (a top-level attribute compared with a number, a boolean or a string, ranges,
lists, ``~=`` patterns, existence) are compiled here on the indexed columns (``t.num``);
terms with a sub-attribute or keyword path (``speed.unitCode``, ``speed.observedAt``), a
``[..]`` trail (``address[city]``, ``name[ko]``, ``name[*]``) or a DateTime/Date/Time
literal are compiled by the entity query compiler on the one stored instance
(:mod:`cityos.hub.temporal._qpaths`), with the same semantics as ``/entities``. Refused
with 400 (:func:`unsupported`), naming the construct: the keywords the stored instance does
not hold (``createdAt``, ``modifiedAt``, ``deletedAt``, ``instanceId``: they are columns or
not kept) and names the SQLite JSON path cannot quote.
"""

from __future__ import annotations

from typing import Any

from cityos.hub.errors import BadRequestData
from cityos.hub.query import sql as entity_sql
from cityos.hub.query._sqlgen import F, Unsupported
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
from cityos.hub.temporal._db import Db, window_sql
from cityos.hub.temporal._qpaths import TemporalPostgres, TemporalSQLite, render
from cityos.hub.temporal.params import TimeWindow

_SQL_OPS = {"==": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
# Keywords a stored instance does not carry (columns, or never kept with the instance).
_NOT_STORED = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})


def unsupported(what: str, what_ko: str) -> BadRequestData:
    """Return the 400 for a part of ``q`` temporal queries cannot check per instance."""
    return BadRequestData(
        f"{what} is not supported in temporal queries: a temporal query's filters must be "
        "checked against the attribute instances in the time window (GS CIM 009 5.7.4.4), "
        "and CityOS does that for values, sub-attributes, observedAt/unitCode/datasetId, "
        "[..] paths and date/time literals, but not for this; "
        "query /entities to filter on the current state / "
        f"{what_ko}은(는) 시간 질의에서 지원하지 않습니다: 시간 질의의 필터는 시간 범위 안의 "
        "속성 인스턴스에 대해 검사해야 하며, CityOS는 값, 하위 속성, observedAt/unitCode/"
        "datasetId, [..] 경로와 날짜·시간 값은 그렇게 검사하지만 이것은 검사하지 못합니다. "
        "현재 상태로 거르려면 /entities를 질의하세요"
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
                raise unsupported(
                    f"the range {operand} (ends of different types)",
                    f"범위 {operand}(양 끝의 형식이 다름)",
                )
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
            raise unsupported(
                f"{term} (a range or list goes with == and != only)",
                f"{term}(범위나 목록은 ==, !=와만 쓸 수 있음)",
            )
        return self._scalar(term.value, term.op)

    def _false(self) -> str:
        return "false" if self.db.postgres else "0"

    # -- terms and combinations ---------------------------------------------------------
    def _exists(self, attr: str, condition: str | None) -> tuple[str, list[Any]]:
        """Return SQL true when the entity has an instance of ``attr`` in the window (and
        meeting ``condition``), with the window's parameters (the condition's follow)."""
        window = self.window
        cond, times = window_sql(self.db, f"t.{window.column}", window)
        parts = ["t.entity = e.pk", "t.attr = %s", cond]
        if condition is not None:
            parts.append(condition)
        sql = f"EXISTS (SELECT 1 FROM hub_temporal_instances t WHERE {' AND '.join(parts)})"
        return sql, [attr, *times]

    def term(self, term: Compare | Match | Exists) -> str:
        """Return SQL for one term: an instance in the window satisfies it (or, for
        ``!attr``, the entity has none of ``attr`` in the window)."""
        path = term.path
        outer, self.params = self.params, []
        try:
            if _needs_entity_compiler(term):
                condition: str | None = self._path_condition(term)
            elif isinstance(term, Exists):
                condition = None
            else:
                condition = self._instance_condition(term)
            sql, window_params = self._exists(path.name, condition)
            outer.extend([*window_params, *self.params])
        finally:
            self.params = outer
        if isinstance(term, Exists) and term.negated:
            return f"NOT {sql}"
        return sql

    def _path_condition(self, term: Compare | Match | Exists) -> str:
        """Return SQL true when the stored instance ``t.instance`` satisfies ``term``
        (positively, for ``!attr.sub``), compiled as the entity query compiles one
        instance."""
        keyword = term.path.keyword
        if keyword in _NOT_STORED:
            raise unsupported(
                f"the keyword {keyword} in {term.path}", f"{term.path}의 키워드 {keyword}"
            )
        dialect = TemporalPostgres() if self.db.postgres else TemporalSQLite()
        positive = Exists(term.path) if isinstance(term, Exists) else term
        try:
            fragment = entity_sql.compile_instance(dialect, positive, F("t.instance"))
        except Unsupported as exc:
            raise unsupported(
                f"{term} ({exc})", f"{term}(이 저장소의 SQL로는 인스턴스마다 검사할 수 없음)"
            ) from exc
        text, params = render(fragment)
        self.params.extend(params)
        return text

    def compile(self, expr: QExpr) -> str:
        if isinstance(expr, And):
            return "(" + " AND ".join(self.compile(i) for i in expr.items) + ")"
        if isinstance(expr, Or):
            return "(" + " OR ".join(self.compile(i) for i in expr.items) + ")"
        if isinstance(expr, Compare | Match | Exists):
            return self.term(expr)
        raise unsupported(f"the query {expr}", f"질의 {expr}")


def _needs_entity_compiler(term: Compare | Match | Exists) -> bool:
    """Return whether ``term`` has a path or literal only the entity compiler handles."""
    if term.path.sub or term.path.trail:
        return True
    if not isinstance(term, Compare):
        return False
    value = term.value
    items: tuple[Any, ...] = (value,)
    if isinstance(value, Range):
        items = (value.low, value.high)
    elif isinstance(value, ValueList):
        items = value.items
    return any(isinstance(i, Str) and i.temporal is not None for i in items)


def temporal_q_sql(db: Db, expr: QExpr, window: TimeWindow) -> tuple[str, list[Any]]:
    """Return SQL (on the entity row ``e``) true when ``expr`` holds in the window."""
    compiler = _Compiler(db, window)
    sql = compiler.compile(expr)
    return sql, compiler.params
