"""Export a trained network to the emowatch ONNX format and prove the file computes the same.

The graph holds three outputs (see emowatch.modelmeta): `logits`, the last feature map and the
head's gradient per class, so the runtime can draw Grad-CAM from one forward pass. Every export
is checked by onnx's full checker and compared with PyTorch on real photos; a file that
disagrees is deleted and the export fails.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
import torch

from emowatch import modelmeta as mm

OPSET = 17
OUTPUTS = (mm.LOGITS, mm.FEATURES, mm.CAM_WEIGHTS)


class ExportError(RuntimeError):
    """The exported graph is invalid, gives non-finite outputs or disagrees with PyTorch
    beyond the tolerance."""


@dataclass(frozen=True)
class Parity:
    photos: int
    max_abs_diff: Mapping[str, float]   # per output
    argmax_agreement: float             # share of photos whose predicted class is the same

    def as_dict(self) -> dict:
        return {"photos": self.photos, "max_abs_diff": dict(self.max_abs_diff),
                "argmax_agreement": self.argmax_agreement}


# Absolute tolerances: logits and the gradients are O(1..10); features are ReLU6 outputs.
TOLERANCE = {mm.LOGITS: 1e-3, mm.FEATURES: 1e-3, mm.CAM_WEIGHTS: 1e-4}


def export(forward: torch.nn.Module, info: mm.ModelInfo, out: Path, photos: np.ndarray,
           tolerance: Mapping[str, float] = TOLERANCE) -> Parity:
    """Write `forward` (image -> logits, features, cam_weights) to `out` and verify it.

    `photos` is a normalised float32 batch of real photos for the parity check.
    """
    out = Path(out)
    forward = forward.eval()
    tmp = out.with_name(out.name + ".tmp")
    sample = torch.from_numpy(photos[:1])
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter warns about its own deprecation on every call.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                forward, (sample,), str(tmp), input_names=[mm.INPUT], output_names=list(OUTPUTS),
                dynamic_axes={n: {0: "batch"} for n in (mm.INPUT, *OUTPUTS)},
                opset_version=OPSET, dynamo=False, do_constant_folding=True,
            )
        write_metadata(tmp, info)
        onnx.checker.check_model(str(tmp), full_check=True)
        parity = compare(forward, tmp, photos)
        bad = {k: v for k, v in parity.max_abs_diff.items() if v > tolerance.get(k, 1e-3)}
        if bad:
            raise ExportError(f"ONNX Runtime disagrees with PyTorch beyond tolerance: {bad}")
        os.replace(tmp, out)
    finally:
        # an error, a failed check or Ctrl-C (even inside torch.onnx.export) leaves no half file
        remove(tmp)
    return parity


def remove(path: Path) -> None:
    """Delete a temporary file if it is there; never raises (it runs while another error is
    on its way out, and must not replace it)."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError:
        pass


def compare(forward: torch.nn.Module, path: Path, photos: np.ndarray, batch: int = 16) -> Parity:
    """PyTorch vs ONNX Runtime on the same photos, output by output; a non-finite output of
    either is an ExportError."""
    session = _session(path)
    diffs = {name: 0.0 for name in OUTPUTS}
    agree = 0
    for start in range(0, len(photos), batch):
        x = photos[start:start + batch]
        with torch.no_grad():
            ref = [t.numpy() for t in forward(torch.from_numpy(x))]
        got = session.run(list(OUTPUTS), {mm.INPUT: x})
        # max(0.0, nan) is 0.0: a NaN output would pass the tolerance as a perfect match
        for who, outputs in (("PyTorch", ref), ("ONNX Runtime", got)):
            for name, values in zip(OUTPUTS, outputs):
                if not np.isfinite(values).all():
                    raise ExportError(f"{who} gives non-finite {name} (NaN or inf) on the parity "
                                      f"photos: the network's weights are broken (a diverged run?)")
        for name, r, g in zip(OUTPUTS, ref, got):
            diffs[name] = max(diffs[name], float(np.abs(r - g).max()))
        agree += int((ref[0].argmax(1) == got[0].argmax(1)).sum())
    return Parity(len(photos), diffs, agree / max(1, len(photos)))


def write_metadata(path: Path, info: mm.ModelInfo) -> None:
    """Replace the file's emowatch metadata (the graph is untouched)."""
    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if not p.key.startswith("emowatch.")]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in info.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "emowatch-export"
    tmp = Path(path).with_name(Path(path).name + ".meta")
    try:
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        remove(tmp)


def read_info(path: Path) -> mm.ModelInfo:
    model = onnx.load(str(path), load_external_data=False)
    return mm.ModelInfo.from_metadata({p.key: p.value for p in model.metadata_props})


def _session(path: Path, threads: int = 2):
    import onnxruntime as ort  # only when verifying: importing export must stay light

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
