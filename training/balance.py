"""Class imbalance: FI is ~70% positive and "other" comes only from Emotion6."""

from __future__ import annotations

import numpy as np
import torch


def class_weights(labels: np.ndarray, classes: int, power: float = 1.0) -> torch.Tensor:
    """Inverse-frequency weights raised to `power` (1: fully balanced, 0: none), mean 1.

    A class with no examples gets weight 0 rather than infinity.
    """
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / classes, 0.0) ** power
    w = np.where(counts > 0, w, 0.0)
    return torch.tensor(w / w[counts > 0].mean(), dtype=torch.float32)


def balanced_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One epoch of indices in which every class is drawn equally often (with replacement)."""
    classes = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    per = len(labels) // len(classes)
    picks = np.concatenate([rng.choice(idx, per, replace=len(idx) < per) for idx in classes])
    return rng.permutation(picks)
