"""The one place where every dataset's own labels become positive / negative / other.

Each mapping follows the dataset's own published categorisation (see ../shared/data/README.md
and the WikiArt Emotions paper), so the 3-class label of a photo never depends on which reader
loaded it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

POSITIVE, NEGATIVE, OTHER = "positive", "negative", "other"
# Output order of every model emowatch trains; the ONNX metadata repeats it.
LABELS: tuple[str, ...] = (POSITIVE, NEGATIVE, OTHER)


class LabelError(ValueError):
    """A label that no mapping knows."""


# FI (You et al. 2016): Mikels' eight emotions, split by valence as in the papers.
FI: Mapping[str, str] = {
    "amusement": POSITIVE, "awe": POSITIVE, "contentment": POSITIVE, "excitement": POSITIVE,
    "anger": NEGATIVE, "disgust": NEGATIVE, "fear": NEGATIVE, "sadness": NEGATIVE,
}

# Emotion6 (Peng et al. 2015), columns in ground_truth.txt order; the tie rule depends on it.
EMOTION6_COLUMNS: tuple[str, ...] = (
    "anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral",
)
EMOTION6: Mapping[str, str] = {
    "joy": POSITIVE,
    "anger": NEGATIVE, "disgust": NEGATIVE, "fear": NEGATIVE, "sadness": NEGATIVE,
    "surprise": OTHER, "neutral": OTHER,
}

# WikiArt Emotions (Mohammad & Kiritchenko 2018): 20 emotions, in the TSV's column order,
# and the paper's own positive / negative / other-or-mixed categories.
WIKIART_COLUMNS: tuple[str, ...] = (
    "agreeableness", "anger", "anticipation", "arrogance", "disagreeableness", "disgust",
    "fear", "gratitude", "happiness", "humility", "love", "optimism", "pessimism", "regret",
    "sadness", "shame", "shyness", "surprise", "trust", "neutral",
)
WIKIART: Mapping[str, str] = {
    **{e: POSITIVE for e in ("gratitude", "happiness", "humility", "love", "optimism", "trust")},
    **{e: NEGATIVE for e in ("anger", "arrogance", "disgust", "fear", "pessimism", "regret",
                             "sadness", "shame")},
    **{e: OTHER for e in ("agreeableness", "anticipation", "disagreeableness", "surprise",
                          "shyness", "neutral")},
}

# A photographer's own labels may be the three classes or any emotion name above; the
# datasets agree wherever their names overlap (anger, disgust, fear, sadness, surprise).
_ANY: dict[str, str] = {**WIKIART, **EMOTION6, **FI, **{c: c for c in LABELS}}
_ALIASES = {"pos": POSITIVE, "neg": NEGATIVE, "neutral": OTHER, "mixed": OTHER, "joy": POSITIVE}


def to3(label: str, mapping: Mapping[str, str] | None = None) -> str:
    """The 3-class label of `label`, by `mapping` or, without one, by any known dataset."""
    key = label.strip().lower()
    if mapping is None:
        found = _ANY.get(key) or _ALIASES.get(key)
    else:
        found = mapping.get(key)
    if found is None:
        raise LabelError(f"unknown emotion label {label!r}")
    return found


def dominant(shares: Sequence[float], columns: Sequence[str]) -> str:
    """The emotion with the largest share; the first in column order wins a tie."""
    if len(shares) != len(columns) or not shares:
        raise LabelError(f"expected {len(columns)} shares, got {len(shares)}")
    best = max(range(len(shares)), key=lambda i: (shares[i], -i))
    return columns[best]


def shares3(shares: Sequence[float], columns: Sequence[str], mapping: Mapping[str, str]) -> tuple[float, ...]:
    """Per-emotion shares summed into the three classes, normalised, in LABELS order."""
    total = [0.0] * len(LABELS)
    for share, column in zip(shares, columns):
        total[LABELS.index(mapping[column])] += max(0.0, float(share))
    s = sum(total)
    if s <= 0:
        raise LabelError("all shares are zero")
    return tuple(t / s for t in total)


def index(label3: str) -> int:
    """Position of a 3-class label in the model's output."""
    try:
        return LABELS.index(label3)
    except ValueError:
        raise LabelError(f"{label3!r} is not one of {LABELS}") from None
