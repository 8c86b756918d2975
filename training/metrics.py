"""The paper's tables: per-class precision / recall / F1 / support, plus what it left out."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from .datasets import Sample
from .labels import LABELS, OTHER


def report(samples: Sequence[Sample], probs: np.ndarray, labels: Sequence[str] = LABELS) -> dict:
    """Everything the model card needs for one evaluation set, JSON-ready.

    macro-F1 averages over the classes that occur in the set (FI has no "other"; a photo
    predicted "other" there still counts as an error in accuracy and in recall).
    """
    y = np.array([labels.index(s.label) for s in samples])
    p = probs.argmax(1)
    present = sorted(set(y.tolist()))
    names = list(labels)
    majority = Counter(y.tolist()).most_common(1)[0][0]
    out = {
        "n": int(len(y)),
        "accuracy": float((p == y).mean()),
        "macro_f1": float(f1_score(y, p, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y, p, labels=present, average="weighted", zero_division=0)),
        "report": classification_report(y, p, labels=list(range(len(names))), target_names=names,
                                        output_dict=True, zero_division=0),
        "report_text": classification_report(y, p, labels=list(range(len(names))),
                                             target_names=names, digits=3, zero_division=0),
        "confusion": {"rows_true_cols_pred": names,
                      "matrix": confusion_matrix(y, p, labels=list(range(len(names)))).tolist()},
        "majority_baseline": {
            "label": names[majority],
            "accuracy": float((y == majority).mean()),
            "macro_f1": float(f1_score(y, np.full_like(y, majority), labels=present,
                                       average="macro", zero_division=0)),
        },
        "predicted_share": {n: float((p == i).mean()) for i, n in enumerate(names)},
    }
    if OTHER in names:
        o = names.index(OTHER)
        out["other_recall"] = float(((p == o) & (y == o)).sum() / max(1, (y == o).sum()))
        # How often a photo that is NOT "other" is called "other": with the recall, this tells
        # a real "other" class from a shortcut that fires on whatever looks like Emotion6.
        out["other_false_alarm"] = float(((p == o) & (y != o)).sum() / max(1, (y != o).sum()))
        out["other_recall_by_emotion"] = _recall_by(samples, p == o, lambda s: s.label == OTHER)
    return out


def _recall_by(samples: Sequence[Sample], hit: np.ndarray, wanted) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for s, h in zip(samples, hit):
        if wanted(s):
            groups.setdefault(s.emotion or "-", []).append(bool(h))
    return {k: float(np.mean(v)) for k, v in sorted(groups.items())}


def summary(reports: dict[str, dict]) -> dict:
    """The short form embedded in the ONNX metadata and read by the regression test."""
    keys = ("n", "accuracy", "macro_f1", "weighted_f1", "other_recall", "other_false_alarm")
    return {name: {k: round(r[k], 4) for k in keys if k in r} for name, r in reports.items()}
