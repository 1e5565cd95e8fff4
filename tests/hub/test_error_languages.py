"""Every error the hub raises explains itself in English and Korean ("English / 한국어").

A guard over the source: the AST of every module under ``src/cityos/hub`` is walked for
calls of the hub's error classes and of the helpers that build one from a message; each
message written in the code (a string literal, an f-string or a concatenation with them)
must contain Hangul. Messages built from a variable (a re-raised detail) are left to the
helpers that made them. An API test checks that a few bad requests answer in both.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import STORAGE_INDEPENDENT
from tests.hub.test_api_entities import BASE, ERR, H

HUB = Path(__file__).resolve().parents[2] / "src" / "cityos" / "hub"
HANGUL = re.compile("[\uac00-\ud7a3]")

# Helpers that build an error from a message: name -> index of the argument holding the
# Korean (the English-and-Korean helpers) or the whole bilingual message.
KOREAN_ARGUMENT = {
    "bad": 1,  # bad(english, korean): temporal.params, subscriptions.schema
    "invalid": 1,
    "_bad": 1,  # join
    "fail": 1,  # the q and scopeQ parsers: fail(what, what_ko, ...)
    "unsupported": 1,  # temporal.qfilter
    "_bad_projection": 3,  # join: (name, text, why, why_ko)
    "ContextError": 1,  # JSON-LD context processing: (message, message_ko)
    "_refuse": 0,  # api._auth.Grant: what = "English / 한국어"
    "check_whole_tenant": 0,
}
KEYWORD_MESSAGES = {"check_types": "what"}  # Grant.check_types(types, what="English / 한국어")


def error_classes(modules: dict[Path, ast.Module], roots: frozenset[str]) -> set[str]:
    """Return ``roots`` and the names of every class derived from them in ``modules``."""
    names = set(roots)
    grew = True
    while grew:
        grew = False
        for tree in modules.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names:
                    bases = {
                        b.id if isinstance(b, ast.Name) else getattr(b, "attr", None)
                        for b in node.bases
                    }
                    if bases & names:
                        names.add(node.name)
                        grew = True
    return names


def _written(node: ast.expr) -> tuple[str, bool] | None:
    """Return the text written in a message expression and whether it interpolates Korean.

    None for a message built only from variables. Interpolated values count as Korean when
    their name says so (``{ko}``, ``{what_ko}``, ``{error.detail_ko}``, ``{korean}``).
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, False
    if isinstance(node, ast.JoinedStr):
        text, korean = "", False
        for value in node.values:
            if isinstance(value, ast.Constant):
                text += str(value.value)
            elif isinstance(value, ast.FormattedValue):
                name = ast.unparse(value.value).rsplit(".", 1)[-1]
                korean = korean or name in ("ko", "korean") or name.endswith("_ko")
        return text, korean
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [p for p in (_written(node.left), _written(node.right)) if p is not None]
        if not parts:
            return None
        return "".join(p[0] for p in parts), any(p[1] for p in parts)
    return None


def _called(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def english_only(tree: ast.Module, errors: set[str]) -> Iterator[tuple[int, str]]:
    """Yield (line, message) for every error message in ``tree`` without Korean."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called(node)
        message: ast.expr | None = None
        if name in errors:
            message = node.args[0] if node.args else None
        elif name in KOREAN_ARGUMENT:
            index = KOREAN_ARGUMENT[name]
            if len(node.args) <= index:
                if node.args and _written(node.args[0]) is not None:
                    yield node.lineno, f"{name}(...) without its Korean argument"
                continue
            message = node.args[index]
        elif name in KEYWORD_MESSAGES:
            keyword = KEYWORD_MESSAGES[name]
            message = next((k.value for k in node.keywords if k.arg == keyword), None)
        if message is None:
            continue
        written = _written(message)
        if written is None:
            continue  # built from a variable: the code that made it is checked instead
        text, interpolates_korean = written
        if not (HANGUL.search(text) or interpolates_korean):
            yield node.lineno, ast.unparse(message)[:100]


@STORAGE_INDEPENDENT
def test_every_hub_error_message_has_korean() -> None:
    modules = {path: ast.parse(path.read_text()) for path in sorted(HUB.rglob("*.py"))}
    errors = error_classes(modules, frozenset({"HubError"}))
    assert {"BadRequestData", "ResourceNotFound", "QuerySyntaxError"} <= errors
    offenders: list[str] = []
    checked = 0
    for path, tree in modules.items():
        checked += sum(
            1
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and (_called(n) in errors or _called(n) in KOREAN_ARGUMENT)
        )
        for line, message in english_only(tree, errors):
            offenders.append(f"{path.relative_to(HUB.parents[2])}:{line}: {message}")
    assert checked > 250, f"the walk found only {checked} error calls; is it still looking?"
    assert not offenders, (
        "hub errors must explain themselves in English and Korean ('English / 한국어', "
        "see docs/hub/README.md); these have no Korean:\n" + "\n".join(offenders)
    )


@STORAGE_INDEPENDENT
def test_the_guard_finds_english_only_messages() -> None:
    source = """
class LocalError(BadRequestData):
    pass

def f(x):
    raise BadRequestData(f"entity {x} is bad")
    raise LocalError("no Korean here")
    raise ResourceNotFound("entity " + x + " does not exist")
    raise ResourceNotFound(f"entity {x} does not exist / 엔터티 {x}이(가) 없습니다")
    raise BadRequestData(message)
    raise bad("english", "still English")
    raise bad(f"{x} is bad", f"{x}이(가) 잘못되었습니다")
    raise self.fail("the query is empty")
    grant.check_types([], what=f"may not read {x}")
    raise BadRequestData(f"{en} / {what_ko}")
"""
    tree = ast.parse(source)
    errors = error_classes({Path("x.py"): tree}, frozenset({"BadRequestData"}))
    found = sorted(line for line, _ in english_only(tree, errors | {"ResourceNotFound"}))
    assert found == [6, 7, 8, 11, 13, 14]


BAD_REQUESTS = {
    "bad q": ("GET", "/entities", {"type": "Vehicle", "q": "speed>>50"}, None),
    "bad geometry": (
        "GET",
        "/entities",
        {
            "type": "Vehicle",
            "georel": "near;maxDistance==10",
            "geometry": "Point",
            "coordinates": "[127.2653]",
        },
        None,
    ),
    "unknown entity": ("GET", "/entities/urn:ngsi-ld:Vehicle:Nowhere", {}, None),
    "bad limit": ("GET", "/entities", {"type": "Vehicle", "limit": "-1"}, None),
    "limit too large": ("GET", "/entities", {"type": "Vehicle", "limit": "100000"}, None),
    "query body not an object": ("POST", "/entityOperations/query", {}, []),
    "bad attribute": (
        "POST",
        "/entities",
        {},
        {"id": "urn:ngsi-ld:Vehicle:Bad", "type": "Vehicle", "speed": {"type": "Nonsense"}},
    ),
}
ANSWERS = {
    "bad q": (400, "Invalid q at character"),
    "bad geometry": (400, "a position must be an array of 2 or 3 numbers"),
    "unknown entity": (404, "entity urn:ngsi-ld:Vehicle:Nowhere does not exist"),
    "bad limit": (400, "limit must be a non-negative integer"),
    "limit too large": (403, "exceeds this broker's maximum page size"),
    "query body not an object": (400, "the query body must be a JSON object"),
    "bad attribute": (400, "has unknown type 'Nonsense'"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_requests_answer_in_english_and_korean(client: TestClient, case: str) -> None:
    method, path, params, body = BAD_REQUESTS[case]
    r = client.request(method, BASE + path, params=params, json=body, headers=H)
    status, english = ANSWERS[case]
    assert r.status_code == status, r.text
    problem = r.json()
    assert problem["type"].startswith(ERR)
    english_part, separator, korean_part = problem["detail"].partition(" / ")
    assert separator, problem["detail"]
    assert english in english_part
    assert not HANGUL.search(english_part), problem["detail"]  # English first, then Korean
    assert HANGUL.search(korean_part), problem["detail"]
