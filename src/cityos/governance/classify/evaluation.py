"""Score the classifier on held-out complaints: accuracy, macro-F1, per-code P/R/F1, confusions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from cityos.governance.classify.codes import CODES
from cityos.governance.classify.corpus import Complaint
from cityos.governance.classify.model import ComplaintClassifier


@dataclass(frozen=True, slots=True)
class CodeScore:
    """Precision, recall and F1 of one service code, and how many test complaints it has."""

    service_code: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The classifier's scores on a set of labelled complaints."""

    n: int
    accuracy: float
    macro_f1: float
    per_code: tuple[CodeScore, ...]
    codes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: true code, columns: predicted code
    errors: tuple[tuple[Complaint, str, float], ...]  # complaint, predicted code, confidence

    def as_dict(self) -> dict[str, object]:
        """Return the scores as plain JSON-ready data."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_code": [
                {
                    "service_code": s.service_code,
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "support": s.support,
                }
                for s in self.per_code
            ],
            "codes": list(self.codes),
            "confusion": [list(r) for r in self.confusion],
        }


def evaluate(model: ComplaintClassifier, items: Sequence[Complaint]) -> Evaluation:
    """Classify every labelled complaint and score the suggestions against the labels."""
    if not items:
        raise ValueError("nothing to evaluate: no labelled complaints given")
    suggestions = model.suggest_many([c.text for c in items])
    truth = [c.service_code for c in items]
    pred = [s.service_code for s in suggestions]
    p, r, f, support = precision_recall_fscore_support(
        truth, pred, labels=list(CODES), zero_division=0
    )
    per_code = tuple(
        CodeScore(code, float(p[i]), float(r[i]), float(f[i]), int(support[i]))
        for i, code in enumerate(CODES)
    )
    present = [s for s in per_code if s.support]
    matrix = confusion_matrix(truth, pred, labels=list(CODES))
    errors = tuple(
        (c, s.service_code, s.confidence)
        for c, s in zip(items, suggestions, strict=True)
        if c.service_code != s.service_code
    )
    return Evaluation(
        n=len(items),
        accuracy=float(accuracy_score(truth, pred)),
        macro_f1=sum(s.f1 for s in present) / len(present),
        per_code=per_code,
        codes=CODES,
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        errors=errors,
    )


def markdown(result: Evaluation) -> str:
    """Return the scores as Markdown tables: summary, per code, confusion matrix."""
    lines = [
        f"- complaints / 민원 수: {result.n}",
        f"- accuracy / 정확도: {result.accuracy:.3f}",
        f"- macro-F1: {result.macro_f1:.3f}",
        "",
        "| code | precision | recall | F1 | n |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s.service_code} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.support} |"
        for s in result.per_code
    ]
    short = [c[:5] for c in result.codes]
    lines += ["", "Confusion matrix (rows: true code, columns: suggested code)", ""]
    lines.append("| true \\ suggested | " + " | ".join(short) + " |")
    lines.append("|---|" + "---:|" * len(short))
    for code, row in zip(result.codes, result.confusion, strict=True):
        cells = " | ".join(str(v) if v else "·" for v in row)
        lines.append(f"| {code} | {cells} |")
    return "\n".join(lines)
