"""The training loop on tiny in-memory inputs: a diverging run stops, a weightless batch is no
step."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import numpy as np

from training.inputs import CachedInputs
from training.loop import LoopSettings, TrainingDiverged, fit


def _fit(features: np.ndarray, sample_weights: np.ndarray | None = None, lr: float = 1e-2):
    torch.manual_seed(0)
    linear = torch.nn.Linear(features.shape[-1], 3)
    labels = np.arange(features.shape[1]) % 3
    settings = LoopSettings(epochs=2, batch=4, balance="none", label_smoothing=0.0, seed=0)
    fit("phase1", linear, linear.train, [{"params": list(linear.parameters()), "lr": lr}],
        CachedInputs(features), labels, settings, sample_weights=sample_weights)
    return linear


def test_a_nan_loss_stops_training_with_a_clear_error():
    features = np.random.default_rng(0).normal(size=(1, 12, 5)).astype(np.float32)
    features[0, 7, 2] = np.nan            # e.g. a broken cache
    with pytest.raises(TrainingDiverged, match=r"phase1 epoch 1: the loss became nan: training "
                                               r"diverged \(a lower phase1.lr may help\)"):
        _fit(features)


def test_a_batch_of_zero_weight_photos_is_no_nan():
    # a dataset weight of 0 can fill a batch with weight-0 photos: the mean was 0 / 0 = NaN
    features = np.random.default_rng(0).normal(size=(1, 12, 5)).astype(np.float32)
    linear = _fit(features, sample_weights=np.zeros(12))
    assert all(torch.isfinite(p).all() for p in linear.parameters())


def test_weights_broken_by_the_last_step_are_caught_too():
    # no later loss would show them: one batch, one epoch, a step of inf
    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 3)
    features = np.random.default_rng(0).normal(size=(1, 4, 5)).astype(np.float32)
    settings = LoopSettings(epochs=1, batch=4, balance="none", label_smoothing=0.0, seed=0)
    with pytest.raises(TrainingDiverged, match="phase2: the weights became NaN or infinite"):
        fit("phase2", linear, linear.train, [{"params": list(linear.parameters()), "lr": float("inf")}],
            CachedInputs(features), np.arange(4) % 3, settings)
