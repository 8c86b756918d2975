"""The one training loop both phases use: epochs of (random view, photo) batches."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from .balance import balanced_order, class_weights
from .inputs import Inputs


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite: what training made is lost."""


@dataclass(frozen=True)
class EpochLog:
    phase: str
    epoch: int
    loss: float
    seconds: float


def targets(labels: np.ndarray, s: "LoopSettings", soft: np.ndarray | None) -> np.ndarray:
    """[N, classes] target distributions (see `fit`)."""
    t = np.eye(s.classes)[labels] * (1 - s.label_smoothing) + s.label_smoothing / s.classes
    if soft is not None and s.soft_targets > 0:
        has = ~np.isnan(soft).any(1)
        t[has] = (1 - s.soft_targets) * t[has] + s.soft_targets * soft[has]
    return t


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    batch: int
    balance: str            # "weighted", "sampler" or "none"
    label_smoothing: float
    seed: int
    weight_power: float = 1.0
    soft_targets: float = 0.0
    classes: int = 3


def fit(
    phase: str,
    forward: Callable[[torch.Tensor], torch.Tensor],
    train_mode: Callable[[], None],
    param_groups: Iterable[dict],
    inputs: Inputs,
    labels: np.ndarray,
    s: LoopSettings,
    on_epoch: Callable[[EpochLog], None] = lambda log: None,
    sample_weights: np.ndarray | None = None,
    soft: np.ndarray | None = None,
) -> list[EpochLog]:
    """AdamW with one-cycle (warm-up, cosine decay) learning rates; returns the epoch logs.

    The loss is cross-entropy against `targets()`: the smoothed one-hot label, mixed with a
    row of `soft` (the annotators' distribution) where one is given (rows of NaN: none).
    Class and sample weights give a weighted mean, as CrossEntropyLoss(weight=...) does.

    `train_mode` puts the trainable modules in training mode (and keeps frozen BatchNorms in
    eval mode); it is called before every epoch because evaluation in between may reset it.
    """
    rng = np.random.default_rng(s.seed)
    torch.manual_seed(s.seed)
    groups = list(param_groups)
    optimizer = torch.optim.AdamW(groups)
    steps = s.epochs * max(1, -(-len(labels) // s.batch))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, [g["lr"] for g in groups], total_steps=steps, pct_start=0.1)
    weight = class_weights(labels, s.classes, s.weight_power) if s.balance == "weighted" \
        else torch.ones(s.classes)
    per_sample = weight[torch.from_numpy(labels.astype(np.int64))]
    if sample_weights is not None:
        per_sample = per_sample * torch.from_numpy(sample_weights.astype(np.float32))
    target = torch.from_numpy(targets(labels, s, soft)).float()
    logs = []
    for epoch in range(1, s.epochs + 1):
        train_mode()
        start, total, count = time.perf_counter(), 0.0, 0
        order = balanced_order(labels, rng) if s.balance == "sampler" else rng.permutation(len(labels))
        for i in range(0, len(order), s.batch):
            rows = np.sort(order[i:i + s.batch])   # sorted: memmap reads stay sequential
            views = rng.integers(0, inputs.views, len(rows))
            w = per_sample[rows]
            logp = torch.log_softmax(forward(inputs.batch(views, rows)), dim=1)
            # a batch of only zero-weight photos (a dataset weight of 0) is no step, not 0 / 0
            loss = (-(target[rows] * logp).sum(1) * w).sum() / w.sum().clamp_min(1e-12)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"{phase} epoch {epoch}: the loss became {float(loss.detach())}: "
                                       f"training diverged (a lower {phase}.lr may help)")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, count = total + float(loss.detach()) * len(rows), count + len(rows)
        log = EpochLog(phase, epoch, total / max(1, count), time.perf_counter() - start)
        logs.append(log)
        on_epoch(log)
    # the last step can break the weights with a finite loss; no later loss would tell
    if not all(torch.isfinite(p).all() for g in groups for p in g["params"]):
        raise TrainingDiverged(f"{phase}: the weights became NaN or infinite: training diverged "
                               f"(a lower {phase}.lr may help)")
    return logs
