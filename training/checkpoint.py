"""Checkpoints: the weights and everything needed to rebuild the network without the data."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from . import backbones
from .images import Preprocess
from .labels import LABELS
from .model import EmotionNet, Head


class CheckpointError(ValueError):
    """A checkpoint file that is missing or was not written by emowatch's training."""


@dataclass(frozen=True)
class Checkpoint:
    net: EmotionNet
    backbone: str
    labels: tuple[str, ...]
    head: Mapping[str, Any]
    config: Mapping[str, Any] = field(default_factory=dict)     # the resolved training config
    training: Mapping[str, Any] = field(default_factory=dict)   # datasets, sizes, phases


def build_net(backbone: str, head: Mapping[str, Any], weights: Path | None = None,
              pretrained: bool = True) -> EmotionNet:
    bb = backbones.build(backbone, weights, pretrained)
    return EmotionNet(bb, Head(bb.spec.channels, len(LABELS), tuple(head["hidden"]), head["dropout"]))


def save(path: Path, ckpt: Checkpoint) -> None:
    """Written to a temporary name and renamed, so a crash never leaves half a checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({
        "format": "emowatch-checkpoint-1",
        "state_dict": ckpt.net.state_dict(),
        "backbone": ckpt.backbone,
        "labels": list(ckpt.labels),
        "head": dict(ckpt.head),
        "config": dict(ckpt.config),
        "training": dict(ckpt.training),
    }, tmp)
    os.replace(tmp, path)


def load(path: Path) -> Checkpoint:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a file that is not a checkpoint
        raise CheckpointError(f"{path}: cannot read checkpoint ({e})") from None
    if not isinstance(data, dict) or data.get("format") != "emowatch-checkpoint-1":
        raise CheckpointError(f"{path}: not an emowatch training checkpoint")
    missing = [k for k in ("state_dict", "backbone", "labels", "head", "config", "training") if k not in data]
    if missing:
        raise CheckpointError(f"{path}: an emowatch checkpoint without its {', '.join(missing)}")
    if not all(isinstance(data[k], dict) for k in ("state_dict", "head", "config", "training")):
        raise CheckpointError(f"{path}: not an emowatch training checkpoint (a section is not a mapping)")
    try:
        net = build_net(data["backbone"], data["head"], pretrained=False)
        net.load_state_dict(data["state_dict"])
        labels = tuple(data["labels"])
    except (backbones.BackboneError, KeyError, TypeError, ValueError, RuntimeError) as e:
        # another network's weights, a head or backbone this code does not build
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path}: its network cannot be rebuilt ({why})") from None
    net.eval()
    return Checkpoint(net, data["backbone"], labels, data["head"], data["config"], data["training"])


def preprocess(ckpt: Checkpoint) -> Preprocess:
    """How photos reach this network: the size and resize it was trained with (its own config,
    not an evaluation config), or the backbone's only size where it has one."""
    spec = ckpt.net.backbone.spec
    model = ckpt.config.get("model", {})
    size = spec.input_size if spec.fixed_size else int(model.get("input_size", spec.input_size))
    return Preprocess(size, spec.mean, spec.std, model.get("resize", "squash"))
