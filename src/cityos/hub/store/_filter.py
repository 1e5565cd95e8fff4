"""The part of a query a backend could not express in SQL, applied in Python."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cityos.hub.query.ast import QExpr
from cityos.hub.query.evaluate import compile_predicate
from cityos.hub.query.scope import scope_matches
from cityos.hub.store.base import Entity, EntityQuery, QueryPage

Predicate = Callable[[Entity], bool]


def residual_filter(
    query: EntityQuery, *, q_residual: QExpr | None, geo_in_sql: bool
) -> Predicate | None:
    """Return a predicate for the conditions left to Python, or None if SQL did it all."""
    checks: list[Predicate] = []
    if q_residual is not None:
        checks.append(compile_predicate(q_residual))
    if query.scope_q is not None:
        scope_q = query.scope_q
        checks.append(lambda e: scope_matches(scope_q, e.get("scope", [])))
    if query.geo is not None and not geo_in_sql:
        checks.append(query.geo.entity_matches)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda e: all(check(e) for check in checks)


def page_of(entities: Iterable[Entity], keep: Predicate, query: EntityQuery) -> QueryPage:
    """Return the query's page of the entities ``keep`` accepts (all counted if asked).

    Used when part of a query runs in Python: the database cannot apply LIMIT/OFFSET, so
    the stream is read until the page is full, or to its end when a count is wanted.
    """
    page = QueryPage()
    seen = 0
    end = query.offset + query.limit
    for entity in entities:
        if not keep(entity):
            continue
        if query.offset <= seen < end:
            page.entities.append(entity)
        seen += 1
        if seen >= end and not query.count:
            break
    if query.count:
        page.total = seen
    return page
