"""The CAM explainer (`method = "cam"`): one forward pass, same outputs as LIME."""

from __future__ import annotations

import time

from ..runtime.classify import Prediction, Prepared
from ..runtime.model import EmotionModel
from ..settings import ExplainSettings
from .cam import cam_map, grid_segments, smooth
from .explanation import Explanation, regions_from
from .fidelity import measure
from .perturb import Perturber


class CamExplainer:
    method = "cam"

    def __init__(self, model: EmotionModel, settings: ExplainSettings, fidelity_steps: int = 12,
                 fidelity_orderings: int = 4):
        self.model = model
        self.settings = settings
        self.fidelity_steps = fidelity_steps
        self.fidelity_orderings = fidelity_orderings

    def explain(self, prepared: Prepared, prediction: Prediction) -> Explanation:
        start = time.perf_counter()
        pixels = prepared.pixels
        size = pixels.shape[0]
        cells, probabilities = cam_map(self.model, pixels, prediction.index)
        t_model = time.perf_counter()
        h, w = cells.shape
        segments = grid_segments(h, w, size)
        weights = cells.ravel()
        weight_map = smooth(cells, size)
        t_map = time.perf_counter()
        fidelity = None
        if self.settings.fidelity:
            perturber = Perturber.of(self.model, pixels, segments)
            fidelity = measure(perturber, weights, prediction.index, self.settings.seed,
                               self.fidelity_steps, self.fidelity_orderings)
        end = time.perf_counter()
        return Explanation(
            method="cam", label=prediction.label, index=prediction.index,
            probability=float(probabilities[prediction.index]), seed=None, samples=None,
            segmentation="grid", segments=segments, weight_map=weight_map,
            regions=regions_from(weights, segments), score=None, units="logit",
            resize=self.model.info.resize, model=prediction.model, fidelity=fidelity,
            seconds=end - start,
            timing={"model": t_model - start, "map": t_map - t_model, "fidelity": end - t_map},
        )
