"""What a training step feeds the network: cached tensors of some view, or decoded photos."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import torch

from .datasets import Sample
from .images import Preprocess, augment, load_rgb, recompress


class Inputs(Protocol):
    views: int

    def batch(self, views: np.ndarray, rows: np.ndarray) -> torch.Tensor: ...


class CachedInputs:
    """Rows of a [views, N, ...] array (a memmap is fine), as float32."""

    def __init__(self, array: np.ndarray):
        self.array, self.views = array, array.shape[0]

    def batch(self, views: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.array[views, rows], dtype=np.float32))


class ImageInputs:
    """Decoded photos, augmented afresh on every draw: for fine-tuning from the first stage."""

    def __init__(self, samples: Sequence[Sample], prep: Preprocess, seed: int, jpeg_quality: int = 0):
        self.samples, self.prep, self.views = samples, prep, 2   # 0 = plain, 1 = augmented
        self.rng = np.random.default_rng(seed)
        self.jpeg_quality = jpeg_quality

    def batch(self, views: np.ndarray, rows: np.ndarray) -> torch.Tensor:
        images = []
        for v, r in zip(views, rows):
            rgb = load_rgb(self.samples[r].path, self.prep.size, self.prep.resize)
            if self.jpeg_quality:
                rgb = recompress(rgb, self.jpeg_quality)
            images.append(augment(rgb, self.rng) if v else rgb)
        return torch.from_numpy(self.prep.normalise(np.stack(images)))
