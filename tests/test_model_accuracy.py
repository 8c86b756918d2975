"""Regression: the shipped model, run through ONNX Runtime on FI val, keeps its card's accuracy.

The figure comes from the model's own metadata (written by `python -m export` from its ONNX
evaluation); the README's model card must quote the same figures, so the card, the model and
this test cannot drift apart.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from emowatch.modelmeta import LOGITS, ModelInfo

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "emowatch" / "models" / "emowatch-default.onnx"
FI = ROOT.parent / "shared" / "data" / "fi"


def _info() -> ModelInfo:
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return ModelInfo.from_metadata(session.get_modelmeta().custom_metadata_map)


def test_readme_card_quotes_the_shipped_model():
    readme = (ROOT / "README.md").read_text()
    card = readme.split("<!-- model-card:begin -->")[1].split("<!-- model-card:end -->")[0]
    info = _info()
    sets = info.evaluation["sets"]
    assert f"`{info.name}` {info.version}" in card
    for figure in (sets["fi_val"]["accuracy"], sets["fi_val"]["macro_f1"],
                   sets["emotion6_test"]["accuracy"], sets["emotion6_test"]["other_recall"]):
        assert f"{figure:.3f}" in card, f"the model card does not quote {figure:.3f}"
    assert f"{sets['fi_val']['accuracy'] - 0.01:.3f}" in card  # the regression bar below


def _fi_val() -> list[tuple[Path, str]]:
    import csv

    with (FI / "manifest.csv").open(newline="") as f:
        return [(FI / r["path"], r["label3"]) for r in csv.DictReader(f) if r["split"] == "val"]


def test_shipped_model_fi_val_accuracy():
    if not (FI / "manifest.csv").exists():
        message = f"needs the FI data at {FI}"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must provide ../shared/data")
        pytest.skip(message)
    from training.images import Preprocess, load_rgb   # numpy + Pillow only, no torch

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    session = ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])
    info = ModelInfo.from_metadata(session.get_modelmeta().custom_metadata_map)
    claimed = info.evaluation["sets"]["fi_val"]["accuracy"]

    rows = _fi_val()
    prep = Preprocess(info.input_size, info.mean, info.std, info.resize)
    correct = 0
    for start in range(0, len(rows), 64):
        chunk = rows[start:start + 64]
        x = prep.normalise(np.stack([load_rgb(p, prep.size, prep.resize) for p, _ in chunk]))
        pred = session.run([LOGITS], {"image": x})[0].argmax(1)
        correct += sum(info.labels[p] == label for p, (_, label) in zip(pred, chunk))
    accuracy = correct / len(rows)
    assert len(rows) == info.evaluation["sets"]["fi_val"]["n"]
    assert accuracy >= claimed - 0.01, f"FI val accuracy {accuracy:.4f} < card's {claimed:.4f} - 0.01"
