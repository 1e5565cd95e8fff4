"""Text features of a complaint: Korean morphemes (kiwipiepy) and character n-grams.

Kiwi splits a sentence into morphemes and restores the dictionary form of verbs and
adjectives (꺼졌어요 → 꺼지 + 었 + 어요), so "가로등이 꺼졌어요" and "가로등 꺼짐" share
the content words 가로등 and 꺼지. Only content morphemes are kept (nouns, verb and
adjective stems, roots, adverbs, foreign words); endings and particles carry politeness
and mood, not the problem. Character n-grams then catch what the analyser misses:
typos, missing spaces and words it does not know (Kim et al., *Kiwi: Developing a Korean
Morphological Analyzer Based on Statistical Language Models*, 2024; the model ships in the
``kiwipiepy-model`` package, so nothing is downloaded at run time).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

# Kiwi part-of-speech tags (Sejong tag set) worth keeping: general and proper nouns,
# dependent nouns, verbs, adjectives, auxiliary verbs (fixed expressions), roots,
# general adverbs, Latin letters, Chinese characters, noun-deriving suffixes (…기, …음).
CONTENT_TAGS = frozenset(
    {"NNG", "NNP", "NNB", "VV", "VA", "VX", "XR", "MAG", "SL", "SH", "XSN", "VV-I", "VA-I"}
)
_SPACE = re.compile(r"\s+")
_lock = threading.Lock()
# One analysis at a time: the API serves sync routes from a thread pool, and one Kiwi
# instance is shared; an analysis takes about a millisecond, so the wait is short.
_analysis_lock = threading.Lock()
_kiwi: Any = None


def normalize(text: str) -> str:
    """Return the text with runs of whitespace collapsed to one space and case folded."""
    return _SPACE.sub(" ", text.strip()).casefold()


def kiwi() -> Any:
    """Return the process's Kiwi analyser, loading its model on first use (~1 s)."""
    global _kiwi
    with _lock:
        if _kiwi is None:
            from kiwipiepy import Kiwi

            _kiwi = Kiwi()
        return _kiwi


def content_morphemes(texts: Iterable[str]) -> list[str]:
    """Return, per text, its content morphemes as one space-separated string of ``form/TAG``."""
    analyser = kiwi()
    docs: list[str] = []
    with _analysis_lock:
        analysed = list(analyser.tokenize([normalize(t) for t in texts]))
    for tokens in analysed:
        docs.append(" ".join(f"{t.form}/{t.tag[:2]}" for t in tokens if t.tag in CONTENT_TAGS))
    return docs


def nouns(texts: Iterable[str], *, tags: frozenset[str] = frozenset({"NNG"})) -> list[list[str]]:
    """Return, per text, its nouns (Kiwi tags ``tags``, default general nouns), 2+ characters.

    One-character nouns are mostly dependent or vague (것, 곳, 앞) and say little alone.
    """
    analyser = kiwi()
    with _analysis_lock:
        analysed = list(analyser.tokenize([normalize(t) for t in texts]))
    return [[t.form for t in tokens if t.tag in tags and len(t.form) >= 2] for tokens in analysed]


class MorphemeAnalyzer(BaseEstimator, TransformerMixin):
    """A scikit-learn step that turns raw complaint texts into content-morpheme strings."""

    def fit(self, texts: Iterable[str], y: Any = None) -> MorphemeAnalyzer:
        """Do nothing: the analyser has no parameters to learn."""
        return self

    def transform(self, texts: Iterable[str]) -> list[str]:
        """Return the content morphemes of every text."""
        return content_morphemes(list(texts))
