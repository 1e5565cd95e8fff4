"""Automatic routing: ask the Korean text classifier for a service code when none is given.

The classifier lives in :mod:`cityos.governance.classify` (built separately, offline, on
``kiwipiepy``). This module only calls it, so complaints work before it is installed: then a
request without ``service_code`` is refused (400) saying so. The classifier is any callable
``classify(text)`` returning a service code, a confidence in [0, 1] and a department, as an
object with those attributes, a mapping with those keys, or a tuple in that order. A test
or a deployment may set ``app.state.complaint_classifier`` to such a callable instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from cityos.governance.catalog import BY_CODE
from cityos.observability import log

Classifier = Callable[[str], Any]
MODULE = "cityos.governance.classify"
ENTRY_POINTS = ("classify", "suggest", "predict")


@dataclass(frozen=True)
class Suggestion:
    """What the classifier proposes for a text."""

    service_code: str
    confidence: float
    department: str
    alternatives: tuple[tuple[str, float], ...] = ()  # runners-up (code, confidence), best first


@cache
def installed_classifier() -> Classifier | None:
    """Return ``cityos.governance.classify``'s entry point, or None when it is not installed."""
    try:
        module = importlib.import_module(MODULE)
    except ImportError:
        return None
    for name in ENTRY_POINTS:
        entry = getattr(module, name, None)
        if callable(entry):
            return entry
    log.warning(
        "complaint_classifier_without_entry_point",
        module=MODULE,
        expected=list(ENTRY_POINTS),
        hint="automatic routing stays off until the module has one of these functions",
    )
    return None


def _fields(answer: Any) -> tuple[Any, Any, Any]:
    if isinstance(answer, Mapping):
        return answer.get("service_code"), answer.get("confidence"), answer.get("department")
    if isinstance(answer, tuple | list) and len(answer) >= 3:
        return answer[0], answer[1], answer[2]
    return (
        getattr(answer, "service_code", None),
        getattr(answer, "confidence", None),
        getattr(answer, "department", None),
    )


def _score(value: Any) -> float:
    try:
        return min(max(float(value), 0.0), 1.0)
    except (TypeError, ValueError):
        return 0.0


def _runners_up(answer: Any, best: str) -> tuple[tuple[str, float], ...]:
    """Return the known codes the classifier ranked after ``best`` (its ``top3``, if any)."""
    ranked = answer.get("top3") if isinstance(answer, Mapping) else getattr(answer, "top3", None)
    if not isinstance(ranked, tuple | list):
        return ()
    out: list[tuple[str, float]] = []
    for item in ranked:
        if isinstance(item, Mapping):
            code, confidence = item.get("service_code"), item.get("confidence")
        elif isinstance(item, tuple | list) and len(item) >= 2:
            code, confidence = item[0], item[1]
        else:
            code, confidence = getattr(item, "service_code", None), getattr(item, "confidence", 0)
        if str(code) in BY_CODE and str(code) != best and str(code) not in dict(out):
            out.append((str(code), _score(confidence)))
    return tuple(out)


def suggest(text: str, classifier: Classifier) -> Suggestion | None:
    """Return the classifier's suggestion for ``text``, or None if it gave no usable code."""
    answer = classifier(text)
    code, confidence, department = _fields(answer)
    service = BY_CODE.get(str(code)) if code is not None else None
    if service is None:
        return None
    return Suggestion(
        service.code,
        _score(confidence),
        str(department or service.department),
        _runners_up(answer, service.code),
    )
