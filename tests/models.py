"""Real, tiny emowatch ONNX models built on the fly for tests (no torch needed).

`make_model` builds conv -> ReLU -> features -> global average pool -> linear head, with the
full emowatch contract (logits, features, cam_weights, metadata). The weights are seeded, so a
given photo always gets the same prediction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from emowatch.modelmeta import CAM_WEIGHTS, FEATURES, INPUT, LOGITS, ModelInfo

LABELS = ("positive", "negative", "other")


def tiny_info(labels=LABELS, size: int = 64, name: str = "tiny-test", version: str = "0.0.1",
              resize: str = "squash") -> ModelInfo:
    return ModelInfo(labels=tuple(labels), input_size=size, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25),
                     name=name, version=version, resize=resize, backbone="tiny-conv",
                     training={"datasets": {"synthetic": 0}}, evaluation={})


def make_model(path: Path, *, info: ModelInfo | None = None, channels: int = 8, seed: int = 0,
               cam: bool = True, head_weights: np.ndarray | None = None,
               conv_weights: np.ndarray | None = None, metadata: dict | None = None,
               batch: int | str = "N", nan_below: float | None = None) -> Path:
    """Write a tiny emowatch model to `path` and return it."""
    info = info or tiny_info()
    k = len(info.labels)
    rng = np.random.default_rng(seed)
    conv_w = conv_weights if conv_weights is not None else rng.normal(0, 0.3, (channels, 3, 3, 3)).astype(np.float32)
    channels = conv_w.shape[0]
    head_w = head_weights if head_weights is not None else rng.normal(0, 1.0, (k, channels)).astype(np.float32)
    inits = [
        numpy_helper.from_array(conv_w.astype(np.float32), "conv_w"),
        numpy_helper.from_array(np.zeros(channels, np.float32), "conv_b"),
        numpy_helper.from_array(head_w.astype(np.float32), "head_w"),
        numpy_helper.from_array(np.zeros(k, np.float32), "head_b"),
        numpy_helper.from_array(head_w.astype(np.float32)[None], "cam_w"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("Conv", [INPUT, "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["conv"], [FEATURES]),
        helper.make_node("GlobalAveragePool", [FEATURES], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["pooled"]),
        helper.make_node("Gemm", ["pooled", "head_w", "head_b"], ["scores" if nan_below is not None else LOGITS],
                         transB=1),
    ]
    if nan_below is not None:  # NaN scores for photos whose normalised mean is below `nan_below`
        inits.append(numpy_helper.from_array(np.array(-nan_below, np.float32), "shift"))
        nodes += [
            helper.make_node("ReduceMean", [INPUT], ["mean"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Add", ["mean", "shift"], ["shifted"]),
            helper.make_node("Sqrt", ["shifted"], ["root"]),
            helper.make_node("Mul", ["root", "zero"], ["nothing"]),
            helper.make_node("Unsqueeze", ["nothing", "axis1"], ["nothing1"]),
            helper.make_node("Add", ["scores", "nothing1"], [LOGITS]),
        ]
    outputs = [helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["N", k])]
    if cam:
        # d logits / d pooled is the head's weight matrix for every photo: broadcast it to [N, K, C]
        nodes += [
            helper.make_node("Mul", ["pooled", "zero"], ["pooled0"]),
            helper.make_node("Unsqueeze", ["pooled0", "axis1"], ["pooled0u"]),
            helper.make_node("Add", ["pooled0u", "cam_w"], [CAM_WEIGHTS]),
        ]
        outputs += [
            helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, ["N", channels, "h", "w"]),
            helper.make_tensor_value_info(CAM_WEIGHTS, TensorProto.FLOAT, ["N", k, channels]),
        ]
    s = info.input_size
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [batch, 3, s, s])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = info.to_metadata() if metadata is None else metadata
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
