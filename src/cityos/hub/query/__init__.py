"""The NGSI-LD query languages ``q`` and ``scopeQ``: parse, evaluate, compile to SQL."""

from cityos.hub.query.ast import (
    And,
    AttrPath,
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
from cityos.hub.query.evaluate import compile_predicate, matches
from cityos.hub.query.qlang import QuerySyntaxError, parse_q
from cityos.hub.query.scope import (
    ScopeExpr,
    parse_scope_q,
    scope_matches,
    validate_scope,
)
from cityos.hub.query.sql import (
    SqlPlan,
    compile_postgres,
    compile_sqlite,
    plan_postgres,
    plan_sqlite,
    register_sqlite_functions,
)

__all__ = [
    "And",
    "AttrPath",
    "Bool",
    "Compare",
    "Exists",
    "Match",
    "Num",
    "Or",
    "QExpr",
    "QuerySyntaxError",
    "Range",
    "ScopeExpr",
    "SqlPlan",
    "Str",
    "ValueList",
    "compile_postgres",
    "compile_predicate",
    "compile_sqlite",
    "matches",
    "parse_q",
    "parse_scope_q",
    "plan_postgres",
    "plan_sqlite",
    "register_sqlite_functions",
    "scope_matches",
    "validate_scope",
]
