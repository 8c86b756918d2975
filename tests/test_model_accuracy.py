"""Regression: the shipped model, run through ONNX Runtime on FI val, keeps its card's accuracy.

The figure comes from the model's own metadata (written by `python -m export` from its ONNX
evaluation), the same place docs/model_card.md quotes, so the test and the card cannot drift.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

from emowatch.modelmeta import LOGITS, ModelInfo

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "emowatch" / "models" / "emowatch-default.onnx"
FI = ROOT.parent / "shared" / "data" / "fi"


def _fi_val() -> list[tuple[Path, str]]:
    import csv

    with (FI / "manifest.csv").open(newline="") as f:
        return [(FI / r["path"], r["label3"]) for r in csv.DictReader(f) if r["split"] == "val"]


@pytest.mark.skipif(not (FI / "manifest.csv").exists(), reason="needs ../shared/data/fi")
def test_shipped_model_fi_val_accuracy():
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
