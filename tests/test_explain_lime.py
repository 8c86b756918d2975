"""LIME on real (tiny) ONNX models: the colour convention, determinism, seed agreement."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from emowatch.explain import make_explainer, top_overlap
from emowatch.explain.heatmap import BLUE, RED
from emowatch.explain.save import heatmap_png
from emowatch.modelmeta import INPUT, LOGITS
from emowatch.runtime.classify import Prepared, predict_from
from emowatch.runtime.model import EmotionModel
from emowatch.runtime.preprocess import model_image, normalise
from emowatch.settings import ExplainSettings
from models import make_model, tiny_info

SIZE = 64
# the known region the synthetic model looks at: rows 8..31, cols 8..31 of the model's view
BOX = (slice(8, 32), slice(8, 32))


def region_model(path: Path, size: int = SIZE) -> Path:
    """A model whose "positive" logit is the texture energy (mean squared value of the
    normalised pixels) inside BOX and nothing else; "negative" is its opposite, "other" is 0.

    Hiding a region replaces it by its mean colour, which removes texture: so hiding anything
    inside BOX lowers the positive logit, hiding anything outside changes nothing.
    """
    info = tiny_info(size=size, name="region-test")
    mask = np.zeros((1, 1, size, size), np.float32)
    mask[(0, 0) + BOX] = 1.0 / mask[(0, 0) + BOX].size / 3.0
    head = np.array([[4.0, -4.0, 0.0]], np.float32)
    inits = [numpy_helper.from_array(mask, "mask"), numpy_helper.from_array(head, "head"),
             numpy_helper.from_array(np.array([-2.0, 2.0, 0.0], np.float32), "bias")]
    nodes = [
        helper.make_node("Mul", [INPUT, INPUT], ["sq"]),
        helper.make_node("Mul", ["sq", "mask"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axes"], ["energy"], keepdims=0),
        helper.make_node("Reshape", ["energy", "shape"], ["energy2"]),
        helper.make_node("MatMul", ["energy2", "head"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], [LOGITS]),
    ]
    inits += [numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
              numpy_helper.from_array(np.array([-1, 1], np.int64), "shape")]
    graph = helper.make_graph(
        nodes, "region", [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["N", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in info.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def textured_photo(seed: int = 0, size: int = 256) -> Image.Image:
    """Patches of muted colour with a little noise, and strong warm stripes inside BOX (all
    scaled to the photo's size), so that segmentation finds the patches and the box."""
    rng = np.random.default_rng(seed)
    scale = size / SIZE
    # few enough that merging need not touch the box, and cool where the box is warm
    patches = rng.uniform([40, 80, 120], [120, 160, 200], (3, 3, 3))
    cell = int(np.ceil(size / 3))
    image = np.kron(patches, np.ones((cell, cell, 1)))[:size, :size] + rng.normal(0, 6, (size, size, 3))
    r0, r1 = int(BOX[0].start * scale), int(BOX[0].stop * scale)
    c0, c1 = int(BOX[1].start * scale), int(BOX[1].stop * scale)
    light = (np.arange(c1 - c0) // max(1, int(2 * scale))) % 2 == 0
    stripes = np.where(light[:, None], np.array([250.0, 220.0, 60.0]), np.array([150.0, 60.0, 20.0]))
    image[r0:r1, c0:c1] = stripes[None] + rng.normal(0, 5, (r1 - r0, c1 - c0, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def prepared_for(model: EmotionModel, image: Image.Image, path: Path = Path("photo.jpg")):
    info = model.info
    pixels = model_image(image, info.input_size, info.resize)
    prepared = Prepared(path=path, format=None, image=image, pixels=pixels, size=image.size, seconds=0.0)
    probabilities = model.run(normalise(pixels, info)).probabilities[0]
    return prepared, predict_from(path, probabilities, model)


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> EmotionModel:
    return EmotionModel.load(region_model(tmp_path_factory.mktemp("m") / "region.onnx"), device="cpu", threads=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> EmotionModel:
    path = make_model(tmp_path_factory.mktemp("m") / "tiny.onnx", info=tiny_info(size=SIZE))
    return EmotionModel.load(path, device="cpu", threads=1)


@pytest.mark.parametrize("segments", ["quickshift", "slic"])
def test_region_that_decides_comes_out_blue(region, segments):
    prepared, prediction = prepared_for(region, textured_photo())
    assert prediction.label == "positive"
    explainer = make_explainer(region, ExplainSettings(samples=64, segments=segments))
    e = explainer.explain(prepared, prediction)

    inside = np.zeros_like(e.segments, bool)
    inside[BOX] = True
    top = e.regions[0]
    share_inside = inside[e.segments == top.id].mean()
    assert top.weight > 0 and share_inside > 0.5  # SLIC follows the box's edges less closely
    assert e.weight_map[inside].mean() > 0
    # outside the box nothing matters to the model: whatever weight is there is small
    outside = ~inside
    far = outside.copy()
    far[max(0, BOX[0].start - 8):BOX[0].stop + 8, max(0, BOX[1].start - 8):BOX[1].stop + 8] = False
    assert np.abs(e.weight_map[far]).max() < 0.1 * top.weight

    # and the rendered heatmap is blue there: the overlay moved the box's pixels toward BLUE
    photo = prepared.image
    heat = np.asarray(Image.open(io.BytesIO(heatmap_png(photo, e))).convert("RGB"), np.float32)
    base = np.asarray(photo.convert("RGB"), np.float32)
    h, w = base.shape[:2]
    r0, r1 = BOX[0].start * h // SIZE, BOX[0].stop * h // SIZE
    c0, c1 = BOX[1].start * w // SIZE, BOX[1].stop * w // SIZE
    shift = (heat[r0:r1, c0:c1] - base[r0:r1, c0:c1]).reshape(-1, 3).mean(0)
    towards_blue = shift @ (BLUE - RED)
    assert towards_blue > 0


def test_red_means_against_the_class(region):
    # the same photo explained for "negative" (forced): the box now pushes against it
    prepared, prediction = prepared_for(region, textured_photo())
    negative = replace(prediction, label="negative", index=1)
    e = make_explainer(region, ExplainSettings(samples=64)).explain(prepared, negative)
    assert e.regions[0].weight < 0


def photos() -> list[Image.Image]:
    from skimage import data

    return [Image.fromarray(data.astronaut()), Image.fromarray(data.coffee()), Image.fromarray(data.chelsea())]


def test_same_seed_gives_identical_output(tiny):
    prepared, prediction = prepared_for(tiny, photos()[0])
    explainer = make_explainer(tiny, ExplainSettings(samples=64, seed=7))
    a = explainer.explain(prepared, prediction)
    b = make_explainer(tiny, ExplainSettings(samples=64, seed=7)).explain(prepared, prediction)
    assert a.regions == b.regions and a.score == b.score
    assert np.array_equal(a.weight_map, b.weight_map) and np.array_equal(a.segments, b.segments)
    assert heatmap_png(prepared.image, a) == heatmap_png(prepared.image, b)


def test_different_seeds_agree_on_top_regions(tiny):
    overlaps = []
    for photo in photos():
        prepared, prediction = prepared_for(tiny, photo)
        runs = [make_explainer(tiny, ExplainSettings(samples=64, seed=s)).explain(prepared, prediction)
                for s in (1, 2)]
        assert not np.array_equal(runs[0].weight_map, runs[1].weight_map)  # the seed is used
        overlaps.append(top_overlap(*runs))
    assert np.mean(overlaps) >= 0.8


def test_timing_split_and_counts(tiny):
    prepared, prediction = prepared_for(tiny, photos()[1])
    e = make_explainer(tiny, ExplainSettings(samples=64, fidelity=True)).explain(prepared, prediction)
    assert set(e.timing) == {"segmentation", "perturbation", "model", "surrogate", "fidelity"}
    assert all(v >= 0 for v in e.timing.values())
    assert sum(e.timing.values()) <= e.seconds + 1e-3
    assert e.samples >= 64 and e.method == "lime" and e.units == "log-odds"
    assert len(e.regions) == int(e.segments.max()) + 1
    assert e.fidelity is not None and 0 <= e.fidelity.deletion <= 1
    weights = [abs(r.weight) for r in e.regions]
    assert weights == sorted(weights, reverse=True)


def test_a_blank_photo_has_nothing_to_explain_and_still_renders(tiny):
    blank = Image.new("RGB", (300, 200), (40, 40, 40))
    prepared, prediction = prepared_for(tiny, blank)
    e = make_explainer(tiny, ExplainSettings(samples=16)).explain(prepared, prediction)
    assert 1 <= len(e.regions) <= 4
    assert all(abs(r.weight) < 1e-9 for r in e.regions)  # hiding flat regions changes nothing
    assert heatmap_png(blank, e)[:8] == b"\x89PNG\r\n\x1a\n"
