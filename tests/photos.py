"""Real photo files made on the fly for tests (ours to use: generated or skimage's public-domain photos)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def pattern(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB array (gradients plus a little noise): compresses like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 100 * np.sin(x / max(w, 1) * 6.28 + seed)
    g = 127 + 100 * np.cos(y / max(h, 1) * 6.28 + seed)
    b = 127 + 60 * np.sin((x + y) / max(w + h, 1) * 12.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def save(path: Path, array: np.ndarray | None = None, *, size=(320, 240), seed: int = 0, **kwargs) -> Path:
    """Write a photo in the format of the path's extension and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array is None:
        array = pattern(*size, seed=seed)
    image = Image.fromarray(array)
    suffix = path.suffix.lower()
    if "format" in kwargs:
        image.save(path, **kwargs)
    elif suffix in (".jpg", ".jpeg"):
        kwargs.setdefault("quality", 90)
        image.save(path, "JPEG", **kwargs)
    elif suffix in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        image.save(path, "HEIF", **kwargs)
    else:
        image.save(path, **kwargs)
    return path
