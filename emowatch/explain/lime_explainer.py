"""The LIME explainer: our perturbation, lime's surrogate.

Per photo: segment the model's view once; draw the region masks (see sampling); build the
perturbed images as one array operation per batch and run them through the model's shared
session in large batches; fit lime's kernel-weighted ridge (lime_base.LimeBase) to the
predicted class's log-odds; optionally measure deletion/insertion fidelity.

Why log-odds and not the probability lime's image explainer regresses: the network's logits
are a linear head over spatially averaged features, so hiding a region changes the log-odds
nearly additively, which is exactly what a linear surrogate can represent; the probability is
that quantity squashed by a sigmoid, so for a confident photo it barely moves until a few big
regions go and then collapses. Measured on the same samples: with a linear head (an
EfficientNet-Lite0 + logistic regression stand-in) top-5 agreement between seeds rose from
0.71 to 0.79; with the shipped model's MLP head the two are within noise of each other. The
weights are therefore in log-odds units; sign and ranking read as in the paper: blue toward
the class, red against.

Convergence-based early stopping was tried (stop adding design blocks once the 5th/6th
region gap exceeds the between-block standard error, or once two halves of the samples agree
on 4 of the top 5): on the shipped model it saved under 10% of the samples and lowered the
agreement, so the sample count is fixed and every photo costs the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import ExplainError
from ..runtime.classify import Prediction, Prepared
from ..runtime.model import EmotionModel
from ..settings import ExplainSettings
from . import surrogate
from .explanation import Explanation, regions_from
from .fidelity import measure
from .perturb import Perturber
from .sampling import keep_masks
from .segmentation import SegmentParams, segment
from .threads import one_blas_thread

TARGETS = ("log-odds", "probability")


@dataclass(frozen=True)
class LimeParams:
    """Tuning that is not a user setting; the defaults are what bench/explain.py measured."""

    design: str = "foldover"
    target: str = "log-odds"
    # ONNX Runtime's memory arena grows with batch x concurrent runs, and stays grown; the
    # speed per image barely changes with the batch. Measured with two photos explained at
    # once (the daemon): RSS 665 MB at batch 16, 475 MB at 8, 378 MB at 4, 0.60-0.75 s a photo
    batch: int = 4
    segment: SegmentParams = SegmentParams()
    fidelity_steps: int = 12
    fidelity_orderings: int = 4


def class_target(probabilities: np.ndarray, index: int, target: str) -> np.ndarray:
    """What the surrogate regresses: the explained class's log-odds (or lime's probability)."""
    if target not in TARGETS:
        raise ExplainError(f"unknown LIME target {target!r}; use one of {', '.join(TARGETS)}")
    p = probabilities[:, index]
    if target == "probability":
        return p
    # log(p / (1 - p)) = logit_k - logsumexp(other logits): clipped so a saturated softmax
    # cannot produce infinities
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


class LimeExplainer:
    method = "lime"

    def __init__(self, model: EmotionModel, settings: ExplainSettings, params: LimeParams = LimeParams()):
        self.model = model
        self.settings = settings
        self.params = params

    def explain(self, prepared: Prepared, prediction: Prediction) -> Explanation:
        s, p = self.settings, self.params
        start = time.perf_counter()
        pixels = prepared.pixels
        segments = segment(pixels, s.segments, p.segment)
        regions = int(segments.max()) + 1
        t_segment = time.perf_counter()
        perturber = Perturber.of(self.model, pixels, segments, p.batch)
        keep = keep_masks(s.samples, regions, np.random.default_rng(s.seed), p.design)
        t_masks = time.perf_counter()
        probabilities = perturber.probabilities(keep)
        ran = perturber.model_seconds
        t_model = time.perf_counter()
        with one_blas_thread():
            fit = surrogate.fit(keep, class_target(probabilities, prediction.index, p.target), s.seed)
        t_fit = time.perf_counter()
        fidelity = None
        if s.fidelity:
            fidelity = measure(perturber, fit.weights, prediction.index, s.seed,
                               p.fidelity_steps, p.fidelity_orderings)
        end = time.perf_counter()
        timing = {
            "segmentation": t_segment - start,
            # masks, the hidden image and the per-batch array builds; what the model did not take
            "perturbation": (t_masks - t_segment) + (t_model - t_masks - ran),
            "model": ran,
            "surrogate": t_fit - t_model,
            "fidelity": end - t_fit,
        }
        return Explanation(
            method="lime", label=prediction.label, index=prediction.index,
            probability=float(probabilities[0, prediction.index]), seed=s.seed, samples=len(keep),
            segmentation=s.segments, segments=segments,
            weight_map=fit.weights.astype(np.float32)[segments], regions=regions_from(fit.weights, segments),
            score=fit.score, units=p.target, resize=self.model.info.resize, model=prediction.model,
            fidelity=fidelity, seconds=end - start, timing=timing,
        )
