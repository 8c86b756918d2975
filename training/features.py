"""Cache the output of the frozen backbone stages, computed with ONNX Runtime.

On two CPU cores ONNX Runtime runs the frozen stages ~10x faster than PyTorch eager, and a
frozen stage gives the same output every epoch: so it runs once per photo and view, and
training reads the cached tensors. View 0 is the plain photo; views 1.. are augmented.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .backbones import Backbone
from .datasets import Sample
from .images import Preprocess, augment, load_rgb, recompress


@dataclass(frozen=True)
class CacheSpec:
    backbone: str
    weights_digest: str   # of the frozen stages' weights: a new backbone file is a new cache
    stop: int             # stages [0, stop) are cached
    pool: bool            # cache the global average (when every stage is frozen)
    views: int
    seed: int
    size: int
    # float16 halves the cache and is exact enough for ImageNet-trained activations; a randomly
    # initialised backbone's can be ~1e-8 and would underflow to zero, so those use float32.
    dtype: str = "float16"
    jpeg_quality: int = 0   # > 0: every photo is re-encoded at this quality first (training)
    resize: str = "squash"  # how a photo becomes size x size (emowatch.modelmeta.RESIZE_MODES)

    def key(self, samples: Sequence[Sample]) -> str:
        # Every field, resize included whatever its value: caches from before resize was in the
        # key were made with any resize, so none of them can be trusted and each is rebuilt once.
        blob = json.dumps([dict(self.__dict__), [str(s.path) for s in samples]], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def weights_digest(backbone: Backbone, stop: int) -> str:
    h = hashlib.sha256()
    for name, t in backbone.stages[:stop].state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class _Prefix(nn.Module):
    def __init__(self, backbone: Backbone, stop: int, pool: bool):
        super().__init__()
        self.backbone, self.stop, self.pool = backbone, stop, pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.backbone(x, 0, self.stop)
        return y.mean(dim=(2, 3)) if self.pool else y


def export_prefix(backbone: Backbone, stop: int, pool: bool, path: Path, size: int) -> None:
    """The frozen stages as an ONNX graph with a dynamic batch axis."""
    _export_onnx(_Prefix(backbone, stop, pool), torch.zeros(1, 3, size, size), path, "image", "out")


def _export_onnx(module: nn.Module, sample: torch.Tensor, path: Path, name_in: str, name_out: str) -> None:
    """Written beside `path` and renamed: an interrupted export never leaves a cached half file."""
    tmp = path.with_name(path.name + ".partial")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), (sample,), str(tmp), input_names=[name_in], output_names=[name_out],
                dynamic_axes={name_in: {0: "n"}, name_out: {0: "n"}}, opset_version=17, dynamo=False,
            )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def ort_session(path: Path, threads: int = 2):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cache_path(spec: CacheSpec, samples: Sequence[Sample], cache_dir: Path) -> Path:
    """Where `extract` keeps (and finds) the cache of these samples."""
    return Path(cache_dir) / f"{spec.backbone}-s{spec.stop}-{spec.key(samples)}.npy"


def extract(
    samples: Sequence[Sample],
    backbone: Backbone,
    spec: CacheSpec,
    prep: Preprocess,
    cache_dir: Path,
    batch: int = 32,
    threads: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """[views, len(samples), ...] of `spec.dtype`: cached in `cache_dir` under a key of everything
    that changes the result, so a changed sample list or backbone never reads stale tensors."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    out_path = cache_path(spec, samples, cache_dir)
    if out_path.exists():
        return np.load(out_path, mmap_mode="r")
    # the graph's input shape is fixed for some backbones (and traced for all): part of its name
    onnx_path = cache_dir / (f"prefix-{spec.backbone}-{spec.stop}-{int(spec.pool)}-{spec.size}-"
                             f"{spec.weights_digest}.onnx")
    if not onnx_path.exists():
        export_prefix(backbone, spec.stop, spec.pool, onnx_path, spec.size)
    session = ort_session(onnx_path, threads)
    shape = session.run(None, {"image": np.zeros((1, 3, spec.size, spec.size), np.float32)})[0].shape[1:]
    tmp = out_path.with_suffix(".partial.npy")
    try:
        out = np.lib.format.open_memmap(tmp, "w+", np.dtype(spec.dtype), (spec.views, len(samples), *shape))
        done, total = 0, spec.views * len(samples)
        for view in range(spec.views):
            for start in range(0, len(samples), batch):
                chunk = samples[start:start + batch]
                rgb = np.stack([_view(s, i + start, view, spec) for i, s in enumerate(chunk)])
                out[view, start:start + len(chunk)] = session.run(None, {"image": prep.normalise(rgb)})[0]
                done += len(chunk)
                if progress:
                    progress(done, total)
        out.flush()
        del out
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)   # a failed photo or Ctrl-C leaves no half cache behind
    return np.load(out_path, mmap_mode="r")


def _view(sample: Sample, i: int, view: int, spec: CacheSpec) -> np.ndarray:
    rgb = load_rgb(sample.path, spec.size, spec.resize)
    if spec.jpeg_quality:
        rgb = recompress(rgb, spec.jpeg_quality)
    if view == 0:
        return rgb
    # Seeded per photo and view: the cache is the same whichever order photos are read in.
    return augment(rgb, np.random.default_rng([spec.seed, view, i]))


class _Tail(nn.Module):
    def __init__(self, backbone: Backbone, start: int):
        super().__init__()
        self.backbone, self.start = backbone, start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x, self.start).mean(dim=(2, 3))


def pool_through_tail(cached: np.ndarray, backbone: Backbone, start: int, cache_dir: Path,
                      threads: int = 2, batch: int = 64) -> np.ndarray:
    """float32 [views, N, C]: the cached stage outputs run through the remaining (frozen,
    ImageNet) stages and pooled, for phase 1; kept beside the cache it was computed from."""
    digest = weights_digest(backbone, len(backbone.stages))
    source = Path(getattr(cached, "filename", "") or "")
    shape = "x".join(map(str, cached.shape[:2]))
    saved = source.with_name(f"{source.stem}-pooled-{digest}-{shape}.npy") if source.name else None
    if saved is not None and saved.exists():
        return np.load(saved)
    where = "x".join(map(str, cached.shape[2:]))   # the stage input this graph was traced for
    path = Path(cache_dir) / f"tail-{backbone.spec.name}-{start}-{where}-{digest}.onnx"
    if not path.exists():
        _export_onnx(_Tail(backbone, start), torch.zeros(1, *cached.shape[2:]), path, "x", "pooled")
    session = ort_session(path, threads)
    views, n = cached.shape[:2]
    out = np.empty((views, n, backbone.spec.channels), np.float32)
    for v in range(views):
        for i in range(0, n, batch):
            x = np.asarray(cached[v, i:i + batch], dtype=np.float32)
            out[v, i:i + len(x)] = session.run(None, {"x": x})[0]
    if saved is not None:
        tmp = saved.with_suffix(".partial.npy")
        try:
            np.save(tmp, out)
            tmp.replace(saved)
        finally:
            tmp.unlink(missing_ok=True)
    return out
