"""Grad-CAM in one forward pass, from the `features` and `cam_weights` outputs of the model.

Faster than LIME by two orders of magnitude, but it reads the network's own last feature map,
so it is model-specific: it shows where that network's evidence sits at its feature
resolution (7 x 7 cells for a 224 px EfficientNet), not what happens when parts of the photo
are taken away. The map keeps its sign (no ReLU as in the Grad-CAM paper) and is measured
against the photo's average cell: blue cells gave the class more evidence than an average part
of this photo, red ones less. Uncentred, a cell's value is relative to "no feature at all",
which no photo has: on the shipped model 22 of 85 photos came out one colour (all red for a
photo called "other" at 60%), and hiding the most negative cells raised the probability on 45 of
64 photos; centred, 61 of 85 (`python bench/cam_sign.py`, docs/explain_bench.md).

Regions are the feature-map cells, so `regions.png` is a grid and region ids are
row * w + col; the heatmap itself is drawn from the smooth (bilinear) map.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import ExplainError
from ..runtime.model import EmotionModel
from ..runtime.preprocess import normalise


def cam_map(model: EmotionModel, pixels: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(cell map float64 [h, w], class probabilities) for class `index`. The cells sum to zero:
    each is what its region adds to the class's logit beyond the photo's average cell."""
    if not model.has_cam:
        raise ExplainError("this model has no features/cam_weights outputs, so it cannot draw CAM "
                           "heatmaps; use the lime explainer", model.path)
    out = model.run(normalise(pixels, model.info), cam=True)
    features, weights = out.features[0].astype(np.float64), out.cam_weights[0].astype(np.float64)
    c, h, w = features.shape
    if weights.shape[-1] != c:
        raise ExplainError(f"cam_weights has {weights.shape[-1]} channels but features has {c}", model.path)
    # d logit / d pooled[c] times what each cell adds to pooled[c]: the cells sum to the logit's
    # linear part, so their values are in logit units; then centred on the photo's mean cell
    cells = np.einsum("c,chw->hw", weights[index], features) / (h * w)
    return cells - cells.mean(), out.probabilities[0]


def grid_segments(h: int, w: int, size: int) -> np.ndarray:
    """int32 [size, size]: the feature cell each model pixel falls in (id = row * w + col)."""
    rows = (np.arange(size) * h) // size
    cols = (np.arange(size) * w) // size
    return (rows[:, None] * w + cols[None, :]).astype(np.int32)


def smooth(cells: np.ndarray, size: int) -> np.ndarray:
    """The cell map upsampled bilinearly to [size, size], as Grad-CAM is usually drawn."""
    image = Image.fromarray(cells.astype(np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
