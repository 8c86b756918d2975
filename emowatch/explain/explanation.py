"""What an explainer returns: plain data, frozen, ready to render and save."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .fidelity import Fidelity


@dataclass(frozen=True)
class Region:
    id: int  # the value of this region's pixels in the region map
    weight: float  # > 0 pushed toward the predicted class (blue), < 0 against it (red)
    area: float  # share of the model's view

    def to_json(self) -> dict:
        return {"id": self.id, "weight": round(self.weight, 6), "area": round(self.area, 5)}


@dataclass(frozen=True, eq=False)
class Explanation:
    method: str  # lime | cam
    label: str  # the predicted class that is explained
    index: int
    probability: float  # of that class, for the unperturbed photo
    seed: int | None  # None for CAM, which samples nothing
    samples: int | None  # LIME model runs, the unperturbed photo included; None for CAM
    segmentation: str  # quickshift | slic | grid (CAM's feature cells)
    segments: np.ndarray  # int32 [S, S], the region map over the model's view
    weight_map: np.ndarray  # float32 [S, S], the signed map the heatmap draws
    regions: tuple[Region, ...]  # sorted by |weight|, largest first
    score: float | None  # the surrogate's weighted R^2 (LIME); None for CAM
    units: str  # what the weights measure, e.g. "log-odds"
    resize: str  # how the photo became the S x S view: squash | center_crop
    model: str = ""
    fidelity: Fidelity | None = None
    seconds: float = 0.0
    timing: Mapping[str, float] = field(default_factory=dict)

    @property
    def weights(self) -> np.ndarray:
        """float64 [K]: the weight of each region, indexed by region id."""
        out = np.zeros(len(self.regions))
        for r in self.regions:
            out[r.id] = r.weight
        return out

    def top(self, n: int = 5) -> tuple[int, ...]:
        """The ids of the n regions with the largest |weight|."""
        return tuple(r.id for r in self.regions[:n])


def regions_from(weights: np.ndarray, segments: np.ndarray) -> tuple[Region, ...]:
    """Regions sorted by |weight| descending; ties by id, so the order is deterministic."""
    areas = np.bincount(segments.ravel(), minlength=len(weights)) / segments.size
    order = np.lexsort((np.arange(len(weights)), -np.abs(weights)))
    return tuple(Region(int(i), float(weights[i]), float(areas[i])) for i in order)


def top_overlap(a: Explanation, b: Explanation, n: int = 5) -> float:
    """Share of the top-n regions two explanations (same region map) agree on: the stability."""
    return len(set(a.top(n)) & set(b.top(n))) / n
