"""Automatic routing of civil complaints (민원): suggest the Open311 service code offline.

``classify("가로등이 꺼졌어요")`` returns a :class:`Suggestion` (``service_code``
``streetlight``, a calibrated ``confidence``, the ``department`` and the ``top3`` codes).
The model (Korean morphemes by kiwipiepy + character n-grams, calibrated linear SVM) is
trained from the corpus the project ships, ``data/complaints/complaints.jsonl``; see
docs/governance/classifier.md for the corpus, the method and the measured accuracy.

The model's names load on first access, so importing this package (as ``cityos --help``
does) does not pay for scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cityos.governance.classify.codes import CODES, SERVICE_CODES, Department, departments
from cityos.governance.classify.text import ClassifyError, check_text

if TYPE_CHECKING:
    from cityos.governance.classify.model import (
        ComplaintClassifier,
        Ranked,
        Suggestion,
        classify,
        default_classifier,
        load_classifier,
    )

_LAZY = {
    "ComplaintClassifier",
    "Ranked",
    "Suggestion",
    "classify",
    "default_classifier",
    "load_classifier",
}

__all__ = [
    "CODES",
    "SERVICE_CODES",
    "ClassifyError",
    "ComplaintClassifier",
    "Department",
    "Ranked",
    "Suggestion",
    "check_text",
    "classify",
    "default_classifier",
    "departments",
    "load_classifier",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("cityos.governance.classify.model"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
