"""Perturbed images, built as one array operation per batch and run through the shared model.

A hidden region takes its own mean colour, as in lime (`hide_color=None`): the region's
texture and detail go, its overall tone stays, so the photo never gets holes of a colour that is
itself a cue (black reads as "dark and sad" to an emotion model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..runtime.model import EmotionModel
from ..runtime.preprocess import normalise


def mean_colour_image(pixels: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """uint8 [S, S, 3]: every region filled with its mean colour."""
    flat = segments.ravel()
    k = int(flat.max()) + 1
    area = np.maximum(np.bincount(flat, minlength=k), 1)
    colours = pixels.reshape(-1, 3).astype(np.float64)
    means = np.stack([np.bincount(flat, weights=colours[:, c], minlength=k) for c in range(3)], 1) / area[:, None]
    return np.round(means).astype(np.uint8)[segments]


@dataclass
class Perturber:
    """The photo and its hidden version, normalised once; `probabilities` runs a set of masks."""

    model: EmotionModel
    segments: np.ndarray  # int32 [S, S]
    original: np.ndarray  # float32 [1, 3, S, S]
    hidden: np.ndarray  # float32 [1, 3, S, S]
    batch: int = 64
    model_seconds: float = 0.0  # time inside the model so far, for the explanation's timing split

    @classmethod
    def of(cls, model: EmotionModel, pixels: np.ndarray, segments: np.ndarray, batch: int = 64,
           strength: float = 1.0) -> "Perturber":
        """`strength` < 1 fades a hidden region only that far toward its mean colour."""
        hidden = mean_colour_image(pixels, segments)
        both = normalise(np.stack([pixels, hidden]), model.info)
        original, hidden_n = both[:1], both[1:]
        if strength != 1.0:
            # the normalisation is affine, so blending here blends the pixels
            hidden_n = original + np.float32(strength) * (hidden_n - original)
        return cls(model, segments, original, hidden_n, batch)

    def probabilities(self, keep: np.ndarray) -> np.ndarray:
        """bool [N, K] region masks -> float32 [N, labels] class probabilities."""
        out = []
        for start in range(0, len(keep), self.batch):
            # [B, K] -> [B, 1, S, S] pixel masks by fancy indexing, then one select for the batch
            pixel_keep = keep[start:start + self.batch][:, self.segments][:, None]
            x = np.where(pixel_keep, self.original, self.hidden)
            t0 = time.perf_counter()
            out.append(self.model.run(x).probabilities)
            self.model_seconds += time.perf_counter() - t0
        return np.concatenate(out).astype(np.float64)
