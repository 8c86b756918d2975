"""Optional int8 static quantization (QDQ, per channel), calibrated on real photos.

Measured here: static int8 runs CNNs ~3.5x faster on VNNI cores, dynamic int8 is slower, so
only static is offered. The backbone is quantized; the head and the cam_weights arithmetic
stay fp32 (they cost nothing and the heatmap's gradients should stay exact). The int8 file
is kept only if its predictions agree with fp32 on enough validation photos.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import onnx

from emowatch import modelmeta as mm

from .onnx_export import remove


@dataclass(frozen=True)
class QuantReport:
    agreement: float              # share of validation photos with the same predicted class
    accuracy_fp32: float
    accuracy_int8: float
    photos: int
    kept: bool

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def quantize(fp32: Path, out: Path, calibration: np.ndarray, method: str = "MinMax",
             keep_fp32: Iterable[str] = ()) -> None:
    """Write an int8 QDQ copy of `fp32` to `out`; `calibration` is a normalised photo batch;
    `keep_fp32`: backbone nodes left in fp32 too (names as `backbone_nodes` gives them).

    `method`: ONNX Runtime's CalibrationMethod name. MinMax (the export's) keeps only running
    ranges; Percentile and Entropy keep every activation of every calibration photo in memory
    (for the default model, 192 photos fitted in 24 GB here and 384 did not)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration_batches(calibration))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {mm.INPUT: batch}

    tmp_out = Path(str(out) + ".tmp")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepped = Path(tmp) / "prepped.onnx"
            model, trunk = _prepped(fp32, prepped)
            head = [n.name for n in model.graph.node if n.name not in trunk] + list(keep_fp32)
            quantize_static(
                str(prepped), str(tmp_out), Reader(), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, method), nodes_to_exclude=head,
            )
        # quant_pre_process drops metadata_props; carry the emowatch keys over.
        src, dst = onnx.load(str(fp32)), onnx.load(str(tmp_out))
        del dst.metadata_props[:]
        dst.metadata_props.extend(src.metadata_props)
        onnx.save(dst, str(tmp_out))
        os.replace(tmp_out, out)
    finally:
        remove(tmp_out)


def backbone_nodes(fp32: Path) -> list:
    """The backbone's nodes (onnx NodeProto, in graph order) as `quantize` sees them, after
    ONNX Runtime's pre-processing."""
    with tempfile.TemporaryDirectory() as tmp:
        model, trunk = _prepped(fp32, Path(tmp) / "prepped.onnx")
    return [n for n in model.graph.node if n.name in trunk]


def _prepped(fp32: Path, prepped: Path) -> tuple[onnx.ModelProto, set[str]]:
    """`fp32` pre-processed for quantization into `prepped` (ONNX Runtime's shape inference and
    fusions), loaded, with the names of its backbone's nodes."""
    from onnxruntime.quantization import quant_pre_process

    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    model = onnx.load(str(prepped))
    return model, _ancestors(model.graph, mm.FEATURES)


def calibration_batches(photos: np.ndarray, size: int = 16) -> list[np.ndarray]:
    """`photos` in batches of `size` (or one smaller batch when there are fewer), every batch
    the same size: the histogram calibrators cannot stack batches that differ. The remainder
    beyond the last full batch is left out."""
    if len(photos) <= size:
        return [photos]
    usable = len(photos) // size * size
    return [photos[i:i + size] for i in range(0, usable, size)]


def _ancestors(graph: onnx.GraphProto, output: str) -> set[str]:
    """Names of the nodes that compute `output`: the backbone, when `output` is `features`."""
    producer = {o: n for n in graph.node for o in n.output}
    seen: set[str] = set()
    todo = [output]
    while todo:
        node = producer.get(todo.pop())
        if node is not None and node.name not in seen:
            seen.add(node.name)
            todo.extend(node.input)
    return seen


def compare(fp32: Path, int8: Path, photos: np.ndarray, labels: np.ndarray,
            min_agreement: float = 0.99, batch: int = 32) -> QuantReport:
    from export.onnx_export import _session

    a, b = _session(fp32), _session(int8)
    pa, pb = [], []
    for i in range(0, len(photos), batch):
        x = photos[i:i + batch]
        pa.append(a.run([mm.LOGITS], {mm.INPUT: x})[0].argmax(1))
        pb.append(b.run([mm.LOGITS], {mm.INPUT: x})[0].argmax(1))
    pa, pb = np.concatenate(pa), np.concatenate(pb)
    agreement = float((pa == pb).mean())
    return QuantReport(agreement, float((pa == labels).mean()), float((pb == labels).mean()),
                       len(photos), agreement >= min_agreement)
