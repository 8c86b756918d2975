"""CAM: one forward pass, regions = feature cells, same sidecars as LIME."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emowatch.errors import ExplainError
from emowatch.explain import make_explainer
from emowatch.explain.cam import grid_segments
from emowatch.runtime.classify import predict_from, prepare
from emowatch.runtime.model import EmotionModel
from emowatch.runtime.preprocess import normalise
from emowatch.settings import ExplainSettings
from models import make_model, tiny_info
from test_explain_lime import SIZE, photos, prepared_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> EmotionModel:
    path = make_model(tmp_path_factory.mktemp("m") / "tiny.onnx", info=tiny_info(size=SIZE))
    return EmotionModel.load(path, device="cpu", threads=1)


def test_cam_cells_are_the_logit_spread_in_space_measured_from_the_mean_cell(tiny):
    prepared, prediction = prepared_for(tiny, photos()[0])
    e = make_explainer(tiny, ExplainSettings(method="cam")).explain(prepared, prediction)
    out = tiny.run(normalise(prepared.pixels, tiny.info), cam=True)
    features, weights = out.features[0].astype(np.float64), out.cam_weights[0].astype(np.float64)
    raw = np.einsum("c,chw->hw", weights[prediction.index], features).ravel() / features[0].size
    # the tiny model's head is linear with zero bias: the raw cells add up to the logit
    assert raw.sum() == pytest.approx(float(out.logits[0][prediction.index]), rel=1e-4, abs=1e-4)
    assert e.weights == pytest.approx(raw - raw.mean(), abs=1e-6)
    assert e.weights.sum() == pytest.approx(0, abs=1e-6) and e.weights.min() < 0 < e.weights.max()
    assert e.method == "cam" and e.seed is None and e.samples is None and e.score is None
    assert e.segmentation == "grid" and e.units == "logit"
    h = w = SIZE // 2  # the tiny model's conv has stride 2
    assert len(e.regions) == h * w
    assert (e.segments == grid_segments(h, w, SIZE)).all()
    assert e.weight_map.shape == (SIZE, SIZE)
    assert set(e.timing) == {"model", "map", "fidelity"}


def test_cam_with_fidelity(tiny):
    prepared, prediction = prepared_for(tiny, photos()[1])
    e = make_explainer(tiny, ExplainSettings(method="cam", fidelity=True)).explain(prepared, prediction)
    assert e.fidelity is not None and e.fidelity.steps > 0


def test_grid_segments_cover_cells_evenly():
    g = grid_segments(7, 7, 224)
    assert g.shape == (224, 224) and g.max() == 48
    assert (np.bincount(g.ravel()) == 32 * 32).all()


def test_cam_needs_the_cam_outputs(tmp_path):
    plain = EmotionModel.load(make_model(tmp_path / "nocam.onnx", info=tiny_info(size=SIZE), cam=False),
                              device="cpu", threads=1)
    with pytest.raises(ExplainError, match="lime"):
        make_explainer(plain, ExplainSettings(method="cam"))
    assert make_explainer(plain, ExplainSettings(enabled=False)) is None
    assert make_explainer(plain, ExplainSettings(method="lime")) is not None


def test_shipped_model_cam_maps_are_never_all_one_colour():
    """Uncentred, the hubble photo ("other" at 60%) came out all red (against), chelsea all blue."""
    model = EmotionModel.load(device="cpu", threads=1)
    explainer = make_explainer(model, ExplainSettings(method="cam"))
    examples = sorted(p for p in (ROOT / "examples").iterdir() if p.suffix in (".jpg", ".png"))
    assert len(examples) >= 4
    for path in examples:
        prepared = prepare(path, model)
        probabilities = model.run(normalise(prepared.pixels, model.info)).probabilities[0]
        e = explainer.explain(prepared, predict_from(path, probabilities, model))
        assert e.weights.min() < 0 < e.weights.max(), path.name
