"""The complaint classifier: TF-IDF of morphemes and character n-grams, a calibrated linear SVM.

Why this model (docs/governance/classifier.md has the figures): on ~1,100 training
complaints a linear model over sparse n-gram features beats neural networks that need far
more text, trains in seconds on one core and explains itself (its weights are words). The
linear SVM's margins are turned into probabilities by Platt scaling inside 5-fold
cross-validation (``CalibratedClassifierCV``, Platt 1999), so ``confidence`` means "how often
a suggestion this sure is right", which the operator can trust or override.

The model is not shipped as a file: a pickled scikit-learn model is tied to the exact
library version that wrote it and is an opaque blob in git. It is trained from the shipped
corpus on first use (a few seconds) and cached under ``var/complaints/``, named by a digest of
the corpus, the hyper-parameters and the library versions, so a changed corpus or an upgraded
library trains a fresh one and a cache is never read by a version it was not written by.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from cityos.governance.classify.codes import BY_CODE, departments
from cityos.governance.classify.corpus import Complaint, corpus_path, load_corpus, split
from cityos.governance.classify.features import MorphemeAnalyzer, normalize
from cityos.governance.classify.text import ClassifyError, check_text

__all__ = ["ClassifyError", "check_text"]  # re-exported from .text

CACHE_DIR = Path("var") / "complaints"  # next to the SQLite database, like var/twin
# Chosen by 5-fold cross-validation on the training split only (one-SD rule, see
# scripts/complaints_model_selection.py); never tuned on the test split.
SVM_C = 0.5
CHAR_NGRAMS = (1, 4)
MORPHEME_NGRAMS = (1, 2)
SEED = 7


@dataclass(frozen=True, slots=True)
class Ranked:
    """One service code and the classifier's confidence in it [0–1]."""

    service_code: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The suggested service code of a complaint, its confidence and who should handle it.

    ``top3`` lists the three most likely codes, best first (its first entry is the
    suggestion itself); ``department`` is the Korean name of the suggested department's
    queue and ``department_en`` its English name.
    """

    service_code: str
    confidence: float
    department: str
    department_en: str
    top3: tuple[Ranked, ...]

    @property
    def alternatives(self) -> tuple[Ranked, ...]:
        """Return the runners-up: the second and third most likely codes."""
        return self.top3[1:]


def build_pipeline(*, c: float = SVM_C, char_ngrams: tuple[int, int] = CHAR_NGRAMS) -> Pipeline:
    """Return the untrained feature + calibrated-SVM pipeline."""
    features = FeatureUnion(
        [
            (
                "morphemes",
                Pipeline(
                    [
                        ("kiwi", MorphemeAnalyzer()),
                        (
                            "tfidf",
                            TfidfVectorizer(
                                tokenizer=str.split,
                                token_pattern=None,
                                lowercase=False,
                                ngram_range=MORPHEME_NGRAMS,
                                sublinear_tf=True,
                            ),
                        ),
                    ]
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    preprocessor=normalize,
                    ngram_range=char_ngrams,
                    sublinear_tf=True,
                    min_df=2,
                ),
            ),
        ]
    )
    svm = LinearSVC(C=c, class_weight="balanced", random_state=SEED)
    calibrated = CalibratedClassifierCV(svm, method="sigmoid", cv=5, ensemble=True)
    return Pipeline([("features", features), ("svm", calibrated)])


class ComplaintClassifier:
    """A trained classifier that suggests a service code and department for a complaint."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.codes: tuple[str, ...] = tuple(str(c) for c in pipeline.classes_)

    @classmethod
    def train(cls, items: Sequence[Complaint]) -> ComplaintClassifier:
        """Train on these labelled complaints (normally the corpus's training split)."""
        pipeline = build_pipeline()
        pipeline.fit([c.text for c in items], [c.service_code for c in items])
        return cls(pipeline)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Return the calibrated probability of every code (columns: ``self.codes``) per text."""
        for text in texts:
            check_text(text)
        return np.asarray(self.pipeline.predict_proba(list(texts)))

    def suggest_many(self, texts: Sequence[str]) -> list[Suggestion]:
        """Return the suggestion for every text, in order."""
        if not texts:
            return []
        table = departments()
        out: list[Suggestion] = []
        for row in self.probabilities(texts):
            order = np.argsort(-row, kind="stable")[:3]
            top3 = tuple(Ranked(self.codes[i], round(float(row[i]), 4)) for i in order)
            best = top3[0].service_code
            dept = table[best]
            out.append(Suggestion(best, top3[0].confidence, dept.name_ko, dept.name_en, top3))
        return out

    def suggest(self, text: str) -> Suggestion:
        """Return the suggested service code, confidence, department and top 3 of one text."""
        return self.suggest_many([text])[0]


def model_digest() -> str:
    """Return a digest of everything the trained model depends on (corpus, settings, libs)."""
    h = hashlib.sha256(corpus_path().read_bytes())
    for lib in ("scikit-learn", "kiwipiepy", "kiwipiepy-model", "numpy", "scipy"):
        h.update(f"{lib}={metadata.version(lib)};".encode())
    h.update(f"C={SVM_C};chars={CHAR_NGRAMS};morph={MORPHEME_NGRAMS};seed={SEED}".encode())
    h.update(b"codes=" + ",".join(BY_CODE).encode())
    return h.hexdigest()[:16]


def load_classifier(cache_dir: Path | None = CACHE_DIR) -> ComplaintClassifier:
    """Return the classifier trained on the corpus's training split, from the cache if there.

    ``cache_dir`` None trains in memory only. A cache file is only ever read when its name
    carries the current digest, i.e. it was written from this corpus by these libraries.
    """
    path = None if cache_dir is None else cache_dir / f"classifier-{model_digest()}.pickle"
    if path is not None and path.is_file():
        with path.open("rb") as handle:
            pipeline = pickle.load(handle)  # our own file, named by its digest
        return ComplaintClassifier(pipeline)
    model = ComplaintClassifier.train(split(load_corpus(), "train"))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, two writers never clash.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(model.pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    return model


_default: ComplaintClassifier | None = None
_default_lock = threading.Lock()


def default_classifier() -> ComplaintClassifier:
    """Return this process's classifier, loading or training it on the first call."""
    global _default
    with _default_lock:
        if _default is None:
            _default = load_classifier()
        return _default


def classify(text: str) -> Suggestion:
    """Suggest the service code, its confidence, the department and the top 3 for a text."""
    return default_classifier().suggest(check_text(text))
