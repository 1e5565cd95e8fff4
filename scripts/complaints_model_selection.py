"""Choose the complaint classifier's settings by 5-fold cross-validation on the training split.

The held-out test split is never read here. The settings in
cityos/governance/classify/model.py (SVM_C, CHAR_NGRAMS) follow the one-standard-deviation
rule on this grid: the most regularised candidate (smallest C) whose cross-validated
macro-F1 is within one fold standard deviation of the best, which guards against picking
noise on ~1,200 complaints. Only then is the test split scored
(``cityos complaints evaluate``). Run from the repository root (about 3–5 CPU minutes):

    .venv/bin/python scripts/complaints_model_selection.py
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from cityos.governance.classify.corpus import load_corpus, split
from cityos.governance.classify.model import SEED, build_pipeline


def _logistic() -> Pipeline:
    pipe = build_pipeline()
    pipe.steps[-1] = ("lr", LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced"))
    return pipe


def _only(part: str) -> Callable[[], Pipeline]:
    def make() -> Pipeline:
        pipe = build_pipeline()
        union = pipe.named_steps["features"]
        union.transformer_list = [t for t in union.transformer_list if t[0] == part]
        return pipe

    return make


CANDIDATES: dict[str, Callable[[], Pipeline]] = {
    "svm C=0.1 chars 1-4": lambda: build_pipeline(c=0.1),
    "svm C=0.5 chars 1-4": lambda: build_pipeline(c=0.5),
    "svm C=1 chars 1-4": lambda: build_pipeline(c=1.0),
    "svm C=2 chars 1-4": lambda: build_pipeline(c=2.0),
    "svm C=0.5 chars 2-3": lambda: build_pipeline(c=0.5, char_ngrams=(2, 3)),
    "svm C=0.5 chars 2-5": lambda: build_pipeline(c=0.5, char_ngrams=(2, 5)),
    "logistic C=10": _logistic,
    "svm C=0.5 morphemes only": _only("morphemes"),
    "svm C=0.5 chars only": _only("chars"),
}


def main() -> int:
    """Print the cross-validated accuracy and macro-F1 of every candidate."""
    train = split(load_corpus(), "train")
    texts = np.array([c.text for c in train], dtype=object)
    labels = np.array([c.service_code for c in train])
    folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(texts, labels))
    print("| candidate | CV accuracy | CV macro-F1 |\n|---|---:|---:|")
    for name, make in CANDIDATES.items():
        accs, f1s = [], []
        for fit_idx, val_idx in folds:
            model = clone(make())
            model.fit(list(texts[fit_idx]), labels[fit_idx])
            pred = model.predict(list(texts[val_idx]))
            accs.append(accuracy_score(labels[val_idx], pred))
            f1s.append(f1_score(labels[val_idx], pred, average="macro"))
        print(f"| {name} | {np.mean(accs):.3f} ± {np.std(accs):.3f} | {np.mean(f1s):.3f} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
