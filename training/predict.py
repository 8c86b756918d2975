"""Class probabilities for a list of samples, from an ONNX model or a training checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .datasets import Sample
from .images import Preprocess, load_rgb


class ModelFileError(ValueError):
    """An ONNX file that is missing or that ONNX Runtime cannot load."""


Transform = Callable[[np.ndarray], np.ndarray]


def _batches(samples: Sequence[Sample], prep: Preprocess, batch: int, transform: Transform | None = None):
    for start in range(0, len(samples), batch):
        chunk = samples[start:start + batch]
        rgb = [load_rgb(s.path, prep.size, prep.resize) for s in chunk]
        yield prep.normalise(np.stack([transform(x) for x in rgb] if transform else rgb))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def onnx_probs(model: Path, samples: Sequence[Sample], threads: int = 2, batch: int = 32,
               transform: Transform | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Probabilities from the ONNX file itself, preprocessed as its own metadata says."""
    import onnxruntime as ort

    from emowatch.modelmeta import LOGITS, ModelInfo

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if not Path(model).is_file():
        raise ModelFileError(f"{model}: ONNX model not found")
    try:
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own kinds for a bad file
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelFileError(f"{model}: cannot load it as an ONNX model ({why})") from None
    info = ModelInfo.from_metadata(session.get_modelmeta().custom_metadata_map)
    prep = Preprocess(info.input_size, info.mean, info.std, info.resize)
    input_name = session.get_inputs()[0].name
    out = [session.run([LOGITS], {input_name: x})[0] for x in _batches(samples, prep, batch, transform)]
    return _softmax(np.concatenate(out)), info.labels


def torch_probs(net: torch.nn.Module, prep: Preprocess, samples: Sequence[Sample],
                batch: int = 32, transform: Transform | None = None) -> np.ndarray:
    """Probabilities from a PyTorch network in eval mode."""
    net.eval()
    out = []
    with torch.no_grad():
        for x in _batches(samples, prep, batch, transform):
            t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
            out.append(net(t).numpy())
    return _softmax(np.concatenate(out))
