"""Writing an explanation's sidecars: the heatmap, the JSON and the region map it refers to.

Every path comes from emowatch.sidecars.sidecar_path (hidden `.emowatch/` folder by default),
every write is atomic. The region map is a 16-bit greyscale PNG over the model's S x S view:
pixel value = region id, as listed in the JSON's `regions`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

from ..errors import ReadOnlyError, WriteError
from ..settings import SidecarSettings
from ..sidecars import (EXPLAIN_SCHEMA, HIDDEN_DIR, PNG_MARK, is_ours, our_explanation, owned, places,
                        remove_if_empty, sidecar_path)
from .atomicfile import write_atomic
from .explanation import Explanation
from .heatmap import render

KINDS = {"heatmap": "heatmap.png", "explain": "explain.json", "regions": "regions.png"}


def sidecar_paths(photo: Path, settings: SidecarSettings) -> dict[str, Path]:
    real = Path(os.path.realpath(photo))  # resolved once for the three
    return {key: sidecar_path(real, kind, settings, resolve=False) for key, kind in KINDS.items()}


def save_explanation(photo: Path, image: Image.Image, explanation: Explanation,
                     settings: SidecarSettings, *, dry_run: bool = False) -> dict[str, Path]:
    """Write the three sidecars of `photo`; returns their paths (computed only, in a dry run)."""
    paths = sidecar_paths(photo, settings)
    if paths["explain"].parent.name != HIDDEN_DIR and our_explanation(paths["explain"]) is None:
        # beside the photo or in a central folder, a file of that name may be another program's
        for key, path in paths.items():
            if os.path.lexists(path) and not is_ours(path):
                raise WriteError(f"cannot write the {KINDS[key]} sidecar: {path} is another "
                                 "program's file; not replaced", path)
    if dry_run:
        return paths
    files = {
        # the region map first, the JSON that refers to it next, the heatmap last
        "regions": region_map_png(explanation.segments),
        # named as the file it explains (a photo reached through a symlink: the file behind it)
        "explain": (json.dumps(explanation_json(Path(os.path.realpath(photo)), explanation, paths),
                               indent=1) + "\n").encode(),
        "heatmap": heatmap_png(image, explanation),
    }
    for key, data in files.items():
        try:
            write_atomic(paths[key], data)
        except OSError as e:
            # never a mixed set (a new region map beside an old heatmap): what is left goes,
            # and the hidden folder too if it is left empty
            discard(paths.values())
            reason = (f"{_not_a_folder(paths[key].parent)} is not a folder"
                      if isinstance(e, (FileExistsError, NotADirectoryError)) else e.strerror or str(e))
            error = ReadOnlyError if isinstance(e, PermissionError) else WriteError
            raise error(f"cannot write the {KINDS[key]} sidecar: {reason}", paths[key]) from None
    return paths


def _not_a_folder(folder: Path) -> Path:
    """The part of `folder`'s path that is there but is not a folder (what blocks it)."""
    for part in [*reversed(folder.parents), folder]:
        if os.path.lexists(part) and not part.is_dir():
            return part
    return folder


def discard(paths: Iterable[Path]) -> None:
    """Remove explanation sidecars, quietly, and a hidden `.emowatch/` folder they leave empty
    (never a photo's own folder, which `beside` puts them in)."""
    paths = list(paths)
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
    for folder in {path.parent for path in paths}:
        if folder.name == HIDDEN_DIR:
            remove_if_empty(folder)


def follow_move(old: Path, new: Path, settings: SidecarSettings) -> list[Path]:
    """A tagged photo was moved or renamed from `old` to `new`: its explanation sidecars follow
    it (the JSON's names rewritten), so they are found by its new name, by untag too. Sidecars
    already at the new name explained the photo that had that name before: they are replaced.
    Nothing happens when `old` has no explanation of ours. Returns the new paths."""
    src, dst = sidecar_paths(old, settings), sidecar_paths(new, settings)
    doc = our_explanation(src["explain"]) if src != dst else None
    if doc is None:
        return []
    there = [p for p in dst.values() if p.is_file()]
    ours = owned({KINDS[key]: path for key, path in dst.items()})
    if len(ours) < len(there):
        return []  # another program's files carry the new name's sidecar names: ours stay put
    discard(ours)
    doc["photo"] = Path(new).name
    doc["heatmap"] = dst["heatmap"].name
    if isinstance(doc.get("region_map"), dict):
        doc["region_map"]["file"] = dst["regions"].name
    moved = []
    for key in ("regions", "heatmap"):  # the JSON that refers to them last, as when saving
        if src[key].is_file():
            dst[key].parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src[key], dst[key])
            moved.append(dst[key])
    write_atomic(dst["explain"], (json.dumps(doc, indent=1) + "\n").encode())
    src["explain"].unlink()
    if settings.mode == "hidden":
        remove_if_empty(src["explain"].parent)
    return moved + [dst["explain"]]


# How far the probability an explanation recorded may be from the photo's answer now and still
# describe it: the same pixels through the same model differ by float noise only (batch size,
# CPU against CUDA: ~1e-4 at most); a photo edited since moves it by far more.
SAME_ANSWER = 1e-3


def drop_if_stale(photo: Path, label: str, settings: SidecarSettings, *, probability: float | None = None,
                  model: str | None = None, dry_run: bool = False, keep: Iterable[Path] = ()) -> list[Path]:
    """Remove the sidecars of an earlier explanation of `photo` that no longer explains its
    answer (the photo or the model changed since): one of another label, or, when they are
    given, of another model or a probability more than SAME_ANSWER away; wherever an
    explanation of it may be (also where earlier settings put one), except the place of `keep`
    (the explanation just made). A heatmap must never argue for an answer the photo's keywords
    no longer give."""
    dropped: list[Path] = []
    keep = set(keep)
    for paths in places(photo, settings):
        if paths["explain.json"] in keep:
            continue
        earlier = our_explanation(paths["explain.json"])
        if earlier is None or _still_explains(earlier, label, probability, model):
            continue
        there = [path for path in paths.values() if path.is_file() and path not in dropped]
        if not dry_run:
            discard(there)
        dropped += there
    return dropped


def _still_explains(earlier: dict[str, Any], label: str, probability: float | None, model: str | None) -> bool:
    if earlier.get("label") != label or (model is not None and earlier.get("model") != model):
        return False
    recorded = earlier.get("probability")
    return probability is None or (isinstance(recorded, (int, float))
                                   and abs(recorded - probability) <= SAME_ANSWER)


def legend_text(explanation: Explanation) -> str:
    return f"{explanation.label} {explanation.probability:.0%} | {explanation.method.upper()}"


# A LIME region that moves the log-odds by 0.5 (e.g. a probability from 0.5 to 0.38) is drawn
# at full strength; weaker strongest regions are drawn fainter. CAM cells are fractions of one
# logit spread over 49 cells, so there the strongest cell always sets the scale.
FULL_STRENGTH = {"log-odds": 0.5}


def heatmap_png(image: Image.Image, explanation: Explanation) -> bytes:
    rendered = render(image, explanation.weight_map, explanation.resize, legend_text(explanation),
                      FULL_STRENGTH.get(explanation.units, 0.0))
    # zlib level 1: 0.07 s instead of 0.37 s for a 1024 px heatmap, for a file ~13% larger
    return _png(rendered, compress_level=1)


def region_map_png(segments: np.ndarray) -> bytes:
    return _png(Image.fromarray(segments.astype(np.uint16)))


def explanation_json(photo: Path, explanation: Explanation, paths: dict[str, Path]) -> dict[str, Any]:
    e = explanation
    size = e.segments.shape
    return {
        "schema": EXPLAIN_SCHEMA,
        "photo": Path(photo).name,
        "model": e.model,
        "method": e.method,
        "label": e.label,
        "probability": round(e.probability, 6),
        "seed": e.seed,
        "samples": e.samples,
        "segmentation": e.segmentation,
        "units": e.units,
        "regions": [r.to_json() for r in e.regions],
        "score": None if e.score is None else round(e.score, 6),
        "fidelity": None if e.fidelity is None else e.fidelity.to_json(),
        "seconds": round(e.seconds, 4),
        "timing": {k: round(v, 4) for k, v in e.timing.items()},
        "region_map": {"file": paths["regions"].name, "width": int(size[1]), "height": int(size[0]),
                       "regions": len(e.regions), "resize": e.resize},
        "heatmap": paths["heatmap"].name,
    }


def _png(image: Image.Image, compress_level: int = 6) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    mark = PngInfo()
    mark.add_text(*PNG_MARK)  # how untag knows its own files beside a photo (sidecars.is_ours)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level, pnginfo=mark)
    return buffer.getvalue()
