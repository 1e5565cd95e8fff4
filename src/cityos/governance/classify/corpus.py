"""The labelled Korean complaint corpus the project ships, and its near-duplicate rule.

``data/complaints/complaints.jsonl`` holds one complaint a line: ``id``, ``text``,
``service_code`` and ``split`` (``train`` or ``test``). The test split was written apart
from the training split (other places, other wording), and no test complaint may be a
near-copy of a training one: character 3-gram Jaccard similarity above
:data:`NEAR_DUPLICATE_JACCARD` counts as a copy (``scripts/complaints_dedup.py`` finds
and removes them; ``tests/governance/classify/test_corpus.py`` enforces the rule).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from cityos.governance.classify.codes import CODES

CORPUS_RESOURCE = "data/complaints/complaints.jsonl"
SPLITS = ("train", "test")
NEAR_DUPLICATE_JACCARD = 0.6
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Complaint:
    """One labelled complaint of the corpus."""

    id: str
    text: str
    service_code: str
    split: str


class CorpusError(ValueError):
    """A corpus line is not a valid labelled complaint."""


def parse_corpus(lines: Iterable[str]) -> list[Complaint]:
    """Parse JSONL corpus lines into complaints, refusing unknown codes, splits and ids twice."""
    out: list[Complaint] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item = Complaint(
                str(row["id"]), str(row["text"]), str(row["service_code"]), str(row["split"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"line {number}: not a complaint object ({exc})") from exc
        if item.service_code not in CODES:
            raise CorpusError(f"line {number}: unknown service_code {item.service_code!r}")
        if item.split not in SPLITS:
            raise CorpusError(f"line {number}: split must be train or test, not {item.split!r}")
        if item.id in seen:
            raise CorpusError(f"line {number}: id {item.id!r} appears twice")
        if not item.text.strip():
            raise CorpusError(f"line {number}: empty text")
        seen.add(item.id)
        out.append(item)
    return out


def corpus_path() -> Path:
    """Return the path of the shipped corpus file."""
    return Path(str(resources.files("cityos").joinpath(CORPUS_RESOURCE)))


@cache
def load_corpus() -> tuple[Complaint, ...]:
    """Return every complaint of the shipped corpus, in file order."""
    with corpus_path().open(encoding="utf-8") as handle:
        return tuple(parse_corpus(handle))


def split(items: Iterable[Complaint], name: str) -> list[Complaint]:
    """Return the complaints of one split (``train`` or ``test``)."""
    return [c for c in items if c.split == name]


def char_ngrams(text: str, n: int = 3) -> frozenset[str]:
    """Return the set of character n-grams of a text, spaces collapsed, case folded."""
    norm = _SPACE.sub(" ", text.strip()).casefold()
    if len(norm) <= n:
        return frozenset({norm})
    return frozenset(norm[i : i + n] for i in range(len(norm) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Return the Jaccard similarity |a ∩ b| / |a ∪ b| of two sets (1.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def near_duplicates(
    items: Sequence[Complaint],
    *,
    threshold: float = NEAR_DUPLICATE_JACCARD,
    across_splits_only: bool = False,
) -> list[tuple[Complaint, Complaint, float]]:
    """Return the pairs whose character 3-gram Jaccard similarity exceeds ``threshold``.

    With ``across_splits_only`` only (train, test) pairs are compared: the leak that would
    flatter the test accuracy. Otherwise every pair is, so copies inside a split show too.
    """
    grams = [char_ngrams(c.text) for c in items]
    pairs: list[tuple[Complaint, Complaint, float]] = []
    for i in range(len(items)):
        for j in range(i + 1, len(items)):
            if across_splits_only and items[i].split == items[j].split:
                continue
            # |a ∩ b| / |a ∪ b| <= min/max: skip pairs whose sizes alone rule them out.
            small, large = sorted((len(grams[i]), len(grams[j])))
            if small / large <= threshold:
                continue
            score = jaccard(grams[i], grams[j])
            if score > threshold:
                pairs.append((items[i], items[j], score))
    return pairs
