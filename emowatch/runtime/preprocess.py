"""From a decoded photo to the model's input: small pure functions, settings from the model."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..modelmeta import ModelInfo


def model_image(image: Image.Image, size: int, resize: str = "squash") -> np.ndarray:
    """The photo as the model sees it: uint8 [size, size, 3]."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    if resize == "center_crop":
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if image.size != (size, size):
        # reducing_gap: a cheap box pre-shrink first, then a proper filter for the last 2x
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.uint8)


def normalise(images: np.ndarray, info: ModelInfo) -> np.ndarray:
    """uint8 [N, H, W, 3] (or one [H, W, 3]) -> float32 [N, 3, H, W] as the model expects."""
    if images.ndim == 3:
        images = images[None]
    mean = np.asarray(info.mean, dtype=np.float32) * 255.0
    scale = 1.0 / (np.asarray(info.std, dtype=np.float32) * 255.0)
    x = (images.astype(np.float32) - mean) * scale
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def to_input(image: Image.Image, info: ModelInfo) -> np.ndarray:
    return model_image(image, info.input_size, info.resize)
