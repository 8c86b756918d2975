"""Turning photos into model inputs, the same way the runtime does (squash to S x S).

Augmented views are built from the squashed photo too, so that every source (FI's 224 px
squares, Emotion6's 320 px JPEGs, a user's full-size photos) reaches the network through the
same resize: the model cannot tell "other" by how a photo was scaled.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from emowatch.runtime.preprocess import model_image


class ImageLoadError(ValueError):
    """A training image that cannot be decoded."""


@dataclass(frozen=True)
class Preprocess:
    size: int
    mean: tuple[float, float, float]   # on the 0..1 scale
    std: tuple[float, float, float]
    resize: str = "squash"

    def normalise(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 [.., H, W, 3] -> float32 [.., 3, H, W], as (pixel / 255 - mean) / std."""
        x = rgb.astype(np.float32) / 255.0
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.moveaxis(x, -1, -3).copy()


def load_rgb(path: Path, size: int, resize: str = "squash") -> np.ndarray:
    """The photo as uint8 [size, size, 3]."""
    try:
        with Image.open(path) as im:
            im.draft("RGB", (size, size))
            im = ImageOps.exif_transpose(im).convert("RGB")
            return model_image(im, size, resize)  # the runtime's own resize: train on what it will see
    except (OSError, ValueError) as e:
        raise ImageLoadError(f"{path}: cannot read image ({e})") from None


def recompress(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The photo as a JPEG of this quality at its current size, decoded again.

    FI's photos are stored as 224 px JPEGs at quality 75, Emotion6's as 320 px at quality 88:
    squashed to 224 px, one source shows 8x8 block artefacts and the other does not. Without
    this step the model learnt that "smooth" means "other" (measured: re-encoding the
    Emotion6 test photos like FI's cut "other" recall from 0.40 to 0.12). Passing every
    training photo through the same encoder takes that cue away.
    """
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def augment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random view: flip, a crop of 70-100% of the frame, mild colour changes.

    Kept mild on purpose: brightness and saturation carry emotion (dark = sad), so strong
    colour jitter would teach the model to ignore what it should see.
    """
    size = rgb.shape[0]
    im = Image.fromarray(rgb)
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    scale = rng.uniform(0.7, 1.0)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    w = int(min(size, round(size * np.sqrt(scale * aspect))))
    h = int(min(size, round(size * np.sqrt(scale / aspect))))
    x0, y0 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
    im = im.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + w, y0 + h))
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.9, 1.1))
    im = ImageEnhance.Contrast(im).enhance(rng.uniform(0.9, 1.1))
    im = ImageEnhance.Color(im).enhance(rng.uniform(0.9, 1.1))
    if rng.random() < 0.3:
        # Re-scale through a smaller size: photos arrive at every resolution, and Emotion6's
        # are smaller than FI's; blur from upscaling must not be a class cue.
        small = int(rng.integers(size // 2, size))
        im = im.resize((small, small), Image.BILINEAR).resize((size, size), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)
