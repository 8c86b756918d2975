"""Faithfulness, measured: deletion and insertion curves against random orderings.

Deletion (Petsiuk et al., RISE, 2018): hide the regions in the order the explanation ranks
them, most supportive first, and follow the predicted class's probability; a faithful
explanation makes it fall fast, so the area under the curve is small. Insertion starts from
the fully hidden photo and reveals regions in the same order; there a large area is good.
Both are compared with random orderings of the same regions.

The x axis is the share of the frame hidden, not the number of regions, so an ordering cannot
look good just by putting large regions first. The curve is sampled at `steps` even shares:
at each, the shortest prefix of the ordering that covers the share is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .perturb import Perturber


@dataclass(frozen=True)
class Fidelity:
    deletion: float  # AUC, lower is better
    deletion_random: float  # mean AUC of the random orderings
    insertion: float  # AUC, higher is better
    insertion_random: float
    steps: int
    random_orderings: int

    @property
    def faithful(self) -> bool:
        """Deletion falls faster than at random (the bench's criterion)."""
        return self.deletion < self.deletion_random

    def to_json(self) -> dict:
        return {"deletion": round(self.deletion, 5), "deletion_random": round(self.deletion_random, 5),
                "insertion": round(self.insertion, 5), "insertion_random": round(self.insertion_random, 5),
                "steps": self.steps, "random_orderings": self.random_orderings}


def ranking(weights: np.ndarray) -> np.ndarray:
    """Region ids, most supportive first (signed weight descending, ties by id)."""
    return np.argsort(-np.asarray(weights), kind="stable")


def measure(perturber: Perturber, weights: np.ndarray, index: int, seed: int,
            steps: int = 12, random_orderings: int = 4) -> Fidelity:
    areas = np.bincount(perturber.segments.ravel(), minlength=len(weights)).astype(np.float64)
    rng = np.random.default_rng([seed, 0xF1DE])
    orders = [ranking(weights)] + [rng.permutation(len(weights)) for _ in range(random_orderings)]
    masks, shares = [], []
    for order in orders:
        hidden, share = _prefixes(order, areas, steps)
        masks.append(hidden)
        shares.append(share)
    hidden = np.concatenate(masks)
    # deletion keeps what is not hidden; insertion keeps exactly the hidden prefix
    keep = np.concatenate([~hidden, hidden])
    unique, inverse = np.unique(keep, axis=0, return_inverse=True)
    p = perturber.probabilities(unique)[:, index][inverse.ravel()]
    n = len(hidden)
    deletion, insertion = p[:n].reshape(len(orders), -1), p[n:].reshape(len(orders), -1)
    d = [_auc(s, y) for s, y in zip(shares, deletion)]
    i = [_auc(s, y) for s, y in zip(shares, insertion)]
    return Fidelity(d[0], float(np.mean(d[1:])), i[0], float(np.mean(i[1:])), steps, random_orderings)


def _prefixes(order: np.ndarray, areas: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """bool [steps + 1, K] regions hidden at each step, and the share of the frame hidden."""
    cumulative = np.cumsum(areas[order]) / areas.sum()
    targets = np.linspace(0.0, 1.0, steps + 1)
    # number of regions in the shortest prefix whose area reaches each target
    counts = np.searchsorted(cumulative, targets - 1e-9, side="left") + 1
    counts[0] = 0
    counts = np.minimum(counts, len(order))
    hidden = np.zeros((steps + 1, len(order)), bool)
    for row, count in enumerate(counts):
        hidden[row, order[:count]] = True
    share = np.concatenate([[0.0], cumulative])[counts]
    return hidden, share


def _auc(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.trapezoid(y, x)) if hasattr(np, "trapezoid") else float(np.trapz(y, x))
