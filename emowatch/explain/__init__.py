"""Explanations: why the model chose its class for a photo, as a heatmap and a region list.

    explainer = make_explainer(model, settings.explain)      # None when explanations are off
    explanation = explainer.explain(prepared, prediction)
    paths = save_explanation(photo, prepared.image, explanation, settings.sidecars)

Two methods. `lime` (the default, as in the paper) is model-agnostic: it hides regions of the
photo and fits lime's surrogate to how the predicted class responds. `cam` reads the network's
last feature map in one forward pass: ~50x faster, but specific to the model and coarse
(its regions are the feature-map cells).
"""

from __future__ import annotations

from typing import Protocol

from ..errors import ExplainError
from ..runtime.classify import Prediction, Prepared
from ..runtime.model import EmotionModel
from ..settings import ExplainSettings
from .explanation import Explanation, Region, top_overlap
from .fidelity import Fidelity
from .save import save_explanation, sidecar_paths

__all__ = ["Explainer", "Explanation", "Fidelity", "Region", "make_explainer", "save_explanation",
           "sidecar_paths", "top_overlap"]


class Explainer(Protocol):
    method: str

    def explain(self, prepared: Prepared, prediction: Prediction) -> Explanation: ...


def make_explainer(model: EmotionModel, settings: ExplainSettings) -> Explainer | None:
    """The explainer the settings ask for, or None when explanations are disabled."""
    if not settings.enabled:
        return None
    if settings.method == "lime":
        from .lime_explainer import LimeExplainer

        return LimeExplainer(model, settings)
    if settings.method == "cam":
        from .cam_explainer import CamExplainer

        if not model.has_cam:
            raise ExplainError("this model has no features/cam_weights outputs, so it cannot draw "
                               "CAM heatmaps; use --explainer lime", model.path)
        return CamExplainer(model, settings)
    raise ExplainError(f"unknown explainer {settings.method!r}; use lime or cam")
