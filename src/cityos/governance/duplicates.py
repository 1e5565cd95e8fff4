"""Is a new complaint the same problem as an open one? Near in space, time, code and text.

The rule (issue 7): the same service code, within :data:`RADIUS_M` (100 m) and
:data:`WINDOW` (7 days), still open, and similar text. Similarity is the Jaccard index of
character bigrams (spaces removed): it needs no morphological analysis, copes with Korean
particles and typos, and two descriptions of one pothole typically score 0.15–0.5 while
unrelated ones score under 0.08. A complaint without text (a photo only) is similar to any.
"""

from __future__ import annotations

import re
from datetime import timedelta

RADIUS_M = 100.0  # [m]
WINDOW = timedelta(days=7)
SIMILAR = 0.12  # Jaccard index of character bigrams at or above which texts are "similar"
_SPACE = re.compile(r"[\s\W_]+", re.UNICODE)


def bigrams(text: str) -> set[str]:
    """Return the character bigrams of ``text`` without spaces or punctuation, lower-cased."""
    squeezed = _SPACE.sub("", text.lower())
    return {squeezed[i : i + 2] for i in range(len(squeezed) - 1)}


def similarity(a: str | None, b: str | None) -> float:
    """Return the bigram Jaccard index of two texts in [0, 1] (1.0 when either is empty)."""
    if not a or not b:
        return 1.0
    sa, sb = bigrams(a), bigrams(b)
    if not sa or not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def similar(a: str | None, b: str | None) -> bool:
    """Return True when two descriptions probably tell of the same problem."""
    return similarity(a, b) >= SIMILAR
