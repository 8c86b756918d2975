"""Everything a run will need, checked before any of its work: its folders, its training and
evaluation data (every photo listed is there), its backbone and weights, and room for the
feature cache it must compute. A problem found after an hour of caching and training is an
hour lost, so each one is found here and told as one line naming its setting or file.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch

from . import checkpoint
from .backbones import BackboneError
from .config import Config, ConfigError, check_folders
from .datasets import DatasetError, Sample
from .features import CacheSpec, cache_path, weights_digest
from .folders import nearest_existing, why_unwritable
from .images import Preprocess
from .model import EmotionNet
from .sources import eval_sets, train_samples

T = TypeVar("T")


class NotReady(ValueError):
    """What keeps a run from starting: one line per problem, in `problems`."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Ready:
    samples: list[Sample]
    sets: dict[str, list[Sample]]   # the evaluation sets ({} when the run evaluates nothing)
    net: EmotionNet
    prep: Preprocess
    start: int                      # the first stage phase 2 tunes; len(stages): none


def check(cfg: Config, evaluate_after: bool = True) -> Ready:
    """The run's inputs, or NotReady with every problem found (each check that can run does)."""
    problems: list[str] = []

    def attempt(step: Callable[[], T]) -> T | None:
        try:
            return step()
        except (ConfigError, DatasetError, BackboneError) as e:
            if str(e) not in problems:   # FI's train and val come from one manifest
                problems.append(str(e))
            return None

    attempt(lambda: check_folders(cfg))
    samples = attempt(lambda: train_samples(cfg))
    sets = attempt(lambda: eval_sets(cfg)) if evaluate_after or cfg.run.eval_each_epoch else {}
    built = attempt(lambda: _network(cfg))
    for group in ([samples] if samples else []) + list((sets or {}).values()):
        attempt(lambda: photos_there(group))
    if samples and sets is not None and built and not problems:
        attempt(lambda: _room_for_caches(cfg, samples, sets, *built))
    if problems:
        raise NotReady(problems)
    assert samples is not None and sets is not None and built is not None
    return Ready(samples, sets, *built)


def cache_spec(cfg: Config, net: EmotionNet, stop: int, views: int, prep: Preprocess,
               jpeg_quality: int) -> CacheSpec:
    """Everything that changes what the frozen stages [0, stop) give for a photo."""
    return CacheSpec(net.backbone.spec.name, weights_digest(net.backbone, stop), stop,
                     stop == len(net.backbone.stages), views, cfg.run.seed, prep.size,
                     # ImageNet activations fit float16; a random backbone's can underflow
                     "float16" if cfg.model.pretrained else "float32", jpeg_quality, prep.resize)


def _network(cfg: Config) -> tuple[EmotionNet, Preprocess, int]:
    m = cfg.model
    net = checkpoint.build_net(m.backbone, {"hidden": m.hidden, "dropout": m.dropout},
                               cfg.path(m.backbone_weights) if m.backbone_weights else None,
                               m.pretrained)
    spec = net.backbone.spec
    if spec.fixed_size and m.input_size != spec.input_size:
        raise ConfigError(f"model.input_size = {m.input_size}, but {spec.name} only takes "
                          f"{spec.input_size} px photos: leave model.input_size at {spec.input_size}")
    n_stages = len(net.backbone.stages)
    tuning = cfg.phase2.epochs > 0
    if tuning and not 0 <= cfg.phase2.from_stage < n_stages:
        raise ConfigError(f"phase2.from_stage = {cfg.phase2.from_stage}, but {spec.name} has stages "
                          f"0-{n_stages - 1} ({spec.stages}): fine-tune from one of those (0: the "
                          f"whole network, for a GPU), or set phase2.epochs = 0 for the head alone")
    start = min(max(cfg.phase2.from_stage, 0), n_stages) if tuning else n_stages
    return net, Preprocess(m.input_size, spec.mean, spec.std, m.resize), start


def photos_there(samples: Sequence[Sample]) -> None:
    """DatasetError naming the first listed photo that is not there (a stat each: seconds for
    ten thousand, where decoding them would take minutes)."""
    missing = [s for s in samples if not s.path.is_file()]
    if missing:
        more = f"; {len(missing) - 1} more of its photos are missing too" if len(missing) > 1 else ""
        raise DatasetError(f"{missing[0].path}: photo not found (listed by {missing[0].dataset}{more})")


def _room_for_caches(cfg: Config, samples: list[Sample], sets: dict[str, list[Sample]],
                     net: EmotionNet, prep: Preprocess, start: int) -> None:
    """data.cache_dir can take the caches this run must compute (those not there already)."""
    n = len(net.backbone.stages)
    planned: list[tuple[CacheSpec, Sequence[Sample]]] = []
    views = max(cfg.phase1.views, cfg.phase2.views if cfg.phase2.epochs > 0 else 1)
    if start > 0:
        planned.append((cache_spec(cfg, net, start, views, prep, cfg.data.train_jpeg_quality), samples))
    elif cfg.phase1.epochs > 0:
        planned.append((cache_spec(cfg, net, n, cfg.phase1.views, prep, cfg.data.train_jpeg_quality),
                        samples))
    if cfg.run.eval_each_epoch and 0 < start:
        planned += [(cache_spec(cfg, net, start, 1, prep, 0), s) for s in sets.values()]
    folder = cfg.path(cfg.data.cache_dir)
    todo = [(spec, s) for spec, s in planned if not cache_path(spec, s, folder).exists()]
    if not todo:
        return
    key = f"data.cache_dir = {cfg.data.cache_dir!r}"
    why = why_unwritable(folder)
    if why:
        raise ConfigError(f"{key}: {why}", "data.cache_dir")
    needed = sum(_cache_bytes(spec, len(s), net, cfg.phase1.epochs > 0) for spec, s in todo)
    # the ONNX graphs of the frozen stages go there too: about the size of the weights
    needed += 2 * sum(p.numel() * 4 for p in net.parameters())
    there = nearest_existing(folder)
    free = shutil.disk_usage(there).free if there is not None else needed
    if needed > free:
        raise ConfigError(f"{key}: the feature cache this run computes needs about {_gb(needed)}, "
                          f"but {there} has {_gb(free)} free (fewer phase1/phase2 views need less)",
                          "data.cache_dir")


def _cache_bytes(spec: CacheSpec, photos: int, net: EmotionNet, pooled_too: bool) -> int:
    """The cache of `photos` x `spec.views` stage outputs, and the pooled copy phase 1 keeps."""
    mode = net.backbone.training
    net.backbone.eval()   # in training mode BatchNorm would learn from this zero photo
    try:
        with torch.no_grad():
            out = net.backbone(torch.zeros(1, 3, spec.size, spec.size), 0, spec.stop)
    finally:
        net.backbone.train(mode)
    per_view = out.shape[1] if spec.pool else int(np.prod(out.shape[1:]))   # pooled: channels
    size = spec.views * photos * per_view * np.dtype(spec.dtype).itemsize
    if pooled_too and not spec.pool:
        size += spec.views * photos * net.backbone.spec.channels * 4
    return int(size)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
