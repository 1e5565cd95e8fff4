"""Hand-built and random internal entities and random ``q`` strings for the query tests."""

from __future__ import annotations

import random
from typing import Any

NS = "https://ex.org/"
NAMES = ("speed", "name", "ref", "tags", "label", "category", "readings", "path", "address")
SUBS = ("reliability", "source")
KEYS = ("city", "street", "zip", "n", "a b", "ü")
STRINGS = (
    "m", "z", "Berlin", "Pisa Tower", "", "a", "b", "ab", "Zürich", "세종", "urn:ngsi-ld:City:Pisa",
    "2026-03-01T12:00:00Z", "2026-03-01T12:00:00.000Z", "2026-03-01T13:00:00+01:00",
    "2026-02-15", "12:30:00", "550", "30", "https://ex.org/commercial", "red", "rouge",
)  # fmt: skip
NUMBERS = (0, 1, -1, 5, 10, 30, 40, 99, 2.5, -3.75, 1e10, 0.1)
LANGS = ("en", "fr", "ko")
TYPES = (
    "Property", "Property", "Property", "Relationship", "LanguageProperty", "VocabProperty",
    "ListProperty", "ListRelationship", "GeoProperty",
)  # fmt: skip


def expand(term: str) -> str:
    """Expand a term the way a context with ``@vocab`` https://ex.org/ would."""
    return NS + term


def _scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.4:
        return rng.choice(STRINGS)
    if roll < 0.8:
        return rng.choice(NUMBERS)
    if roll < 0.92:
        return rng.choice((True, False))
    return None


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.6 or depth > 1:
        return _scalar(rng)
    if roll < 0.8:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {k: _value(rng, depth + 1) for k in rng.sample(KEYS, rng.randint(0, 3))}


def _instance(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kind = rng.choice(TYPES)
    inst: dict[str, Any] = {"type": kind}
    if kind in ("Property", "GeoProperty"):
        inst["value"] = _value(rng)
    elif kind == "Relationship":
        inst["object"] = rng.choice(("urn:a", "urn:b", "urn:ngsi-ld:City:Pisa"))
    elif kind == "ListRelationship":
        inst["objectList"] = rng.sample(("urn:a", "urn:b", "urn:c"), rng.randint(0, 3))
    elif kind == "LanguageProperty":
        inst["languageMap"] = {
            lang: rng.choice((rng.choice(STRINGS), [rng.choice(STRINGS), rng.choice(STRINGS)]))
            for lang in rng.sample(LANGS, rng.randint(0, 3))
        }
    elif kind == "VocabProperty":
        vocab = [NS + "commercial", NS + "residential", "commercial"]
        inst["vocab"] = rng.choice((rng.choice(vocab), rng.sample(vocab, 2)))
    else:
        inst["valueList"] = [_scalar(rng) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.3:
        inst["observedAt"] = rng.choice(STRINGS[11:14])
    if rng.random() < 0.2:
        inst["unitCode"] = rng.choice(("CEL", "KMH"))
    if depth == 0 and rng.random() < 0.3:
        inst[NS + rng.choice(SUBS)] = _instance(rng, depth + 1)
    return inst


def random_entity(rng: random.Random, number: int) -> dict[str, Any]:
    """Return a random internal entity whose attributes come from a small pool."""
    attrs: dict[str, Any] = {}
    for name in rng.sample(NAMES, rng.randint(0, 5)):
        instances = [_instance(rng)]
        if rng.random() < 0.2:
            second = _instance(rng)
            second["datasetId"] = "urn:ngsi-ld:Dataset:" + str(rng.randint(1, 2))
            instances.append(second)
        attrs[NS + name] = instances
    return {"id": f"urn:ngsi-ld:Thing:{number}", "type": [NS + "Thing"], "attrs": attrs}


def _literal(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        text = rng.choice(STRINGS)
        bare = text and " " not in text and rng.random() < 0.2
        return text if bare else '"' + text + '"'
    if roll < 0.85:
        return repr(rng.choice(NUMBERS))
    return rng.choice(("true", "false"))


def _path(rng: random.Random) -> str:
    path = rng.choice(NAMES)
    if rng.random() < 0.15:
        path += "." + rng.choice(SUBS)
    if rng.random() < 0.15:
        path += "." + rng.choice(("observedAt", "unitCode", "datasetId", "value", "type"))
    if rng.random() < 0.2:
        path += "[" + rng.choice((*KEYS[:4], *LANGS, "*")) + "]"
    return path


def _term(rng: random.Random) -> str:
    path, roll = _path(rng), rng.random()
    if roll < 0.1:
        return path
    if roll < 0.18:
        return "!" + path
    if roll < 0.28:
        pattern = rng.choice(("^m", "a", "(?i)BER", "^$", "^urn:", "[0-9]+", "ö|ü"))
        return path + rng.choice(("~=", "!~=")) + '"' + pattern + '"'
    op = rng.choice(("==", "!=", ">", ">=", "<", "<="))
    if op in ("==", "!=") and rng.random() < 0.3:
        if rng.random() < 0.5:
            low, high = sorted(rng.sample(NUMBERS, 2))
            return f"{path}{op}{low!r}..{high!r}"
        return path + op + ",".join(_literal(rng) for _ in range(rng.randint(2, 3)))
    literal = _literal(rng)
    if op not in ("==", "!=") and literal in ("true", "false"):
        literal = "5"
    if op not in ("==", "!=") and not literal.startswith('"') and not literal[0].isdigit():
        literal = '"' + literal + '"' if literal[0] != "-" else literal
    return path + op + literal


def random_q(rng: random.Random, depth: int = 0) -> str:
    """Return a random, well-formed ``q`` string over the attribute pool."""
    if depth > 2 or rng.random() < 0.5:
        return _term(rng)
    sep = rng.choice((";", "|"))
    parts = [random_q(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    text = sep.join(parts)
    return f"({text})" if rng.random() < 0.5 else text
