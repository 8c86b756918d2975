"""Classification in stages: prepare (decode + preprocess, per photo, thread-safe) and infer
(one batched run of the shared session). The `tag` command and the daemon drive these stages
their own way; neither holds logic of its own about the model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import FileIdentity, identity
from ..errors import DecodeError, FileChangedError
from ..formats import Format
from .decode import decode
from .model import EmotionModel
from .preprocess import model_image, normalise


@dataclass(frozen=True)
class Prepared:
    """A photo decoded and ready for the model."""

    path: Path
    format: Format
    image: Image.Image  # upright RGB, decoded at reduced size (short side >= what was asked,
                        # or the whole photo when it is smaller)
    pixels: np.ndarray  # uint8 [S, S, 3], the model's view
    size: tuple[int, int]  # the photo's full upright size
    seconds: float  # time spent decoding and preprocessing
    from_preview: bool = False  # decoded from the JPEG's embedded camera preview
    identity: FileIdentity | None = None  # the file that was decoded: what is written must be it


@dataclass(frozen=True)
class Prediction:
    path: Path
    label: str
    index: int
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)
    model: str = ""


def prepare(path: Path, model: EmotionModel, min_side: int | None = None, *,
            previews: bool = True, fast_jpeg: bool = True) -> Prepared:
    """Decode and preprocess one photo (`previews`: from a camera JPEG's embedded preview when
    it can serve; `fast_jpeg`: a large JPEG by emowatch's own decoder when numba is there).
    Raises DecodeError. Safe to call from worker threads.

    The model's view never depends on `min_side`: it is always made from the decode a plain
    classification makes, so a photo gets the same answer with a heatmap as without one (a
    JPEG decoded at 1/4 scale instead of 1/8 changes the label of 2-4% of photos). When that
    decode is smaller than `min_side` and the photo is larger, the photo is decoded a second
    time, larger, for `image` alone; if that fails, the smaller image stands in."""
    start = time.perf_counter()
    info = model.info
    before = _identity(path)
    decoded = decode(path, min_side=info.input_size, previews=previews, fast_jpeg=fast_jpeg)
    pixels = model_image(decoded.image, info.input_size, info.resize)
    image = decoded.image
    if min_side and min(image.size) < min(min_side, *decoded.size):
        try:
            image = decode(path, min_side=min_side, previews=previews, fast_jpeg=fast_jpeg).image
        except DecodeError:
            pass  # decodable at a smaller scale: the heatmap is drawn on what there is
    if before is None or _identity(path) != before:
        raise FileChangedError("file changed while it was read; not classified", path)
    return Prepared(Path(path), decoded.format, image, pixels, decoded.size,
                    time.perf_counter() - start, decoded.from_preview, before)


def _identity(path: Path) -> FileIdentity | None:
    """None when there is no file to stat (decoding then says why)."""
    try:
        return identity(path)
    except (FileChangedError, OSError):
        return None


def infer(batch: list[Prepared], model: EmotionModel) -> list[Prediction]:
    """One batched run of the model over prepared photos."""
    if not batch:
        return []
    x = normalise(np.stack([p.pixels for p in batch]), model.info)
    probs = model.run(x).probabilities
    return [predict_from(p.path, row, model) for p, row in zip(batch, probs)]


def predict_from(path: Path, probabilities: np.ndarray, model: EmotionModel) -> Prediction:
    index = int(np.argmax(probabilities))
    labels = model.labels
    return Prediction(
        path=Path(path), label=labels[index], index=index, confidence=float(probabilities[index]),
        probabilities={label: float(p) for label, p in zip(labels, probabilities)},
        model=model.info.id,
    )
