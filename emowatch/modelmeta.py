"""The emowatch model format: what an `.onnx` file must say about itself.

One source of truth for both sides: `export/` writes these keys into the ONNX file's
`metadata_props`, the runtime reads and validates them. This module imports nothing heavy
(no torch, no onnxruntime), so both sides can use it.

Graph contract (format 1):
- input  `image`:       float32 [N, 3, S, S], RGB, normalised as (pixel / 255 - mean) / std.
- output `logits`:      float32 [N, K], K = len(labels), in label order.
- output `features`:    optional, float32 [N, C, h, w], the last convolutional feature map.
- output `cam_weights`: optional, float32 [N, K, C], d logits[k] / d pooled[c] where pooled is
  the global average of `features`; with both, a Grad-CAM map for class k is
  sum_c cam_weights[k, c] * features[c] / (h * w), computed without a backward pass.
The batch axis is dynamic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

FORMAT = "1"
INPUT = "image"
LOGITS = "logits"
FEATURES = "features"
CAM_WEIGHTS = "cam_weights"

KEY_FORMAT = "emowatch.format"
KEY_LABELS = "emowatch.labels"
KEY_INPUT_SIZE = "emowatch.input_size"
KEY_MEAN = "emowatch.mean"
KEY_STD = "emowatch.std"
KEY_RESIZE = "emowatch.resize"
KEY_NAME = "emowatch.name"
KEY_VERSION = "emowatch.version"
KEY_BACKBONE = "emowatch.backbone"
KEY_TRAINING = "emowatch.training"
KEY_EVALUATION = "emowatch.evaluation"

# How a photo of any aspect ratio becomes S x S: "squash" resizes the whole frame (nothing is
# cut off, proportions change); "center_crop" resizes the short side to S and crops the middle.
RESIZE_MODES = ("squash", "center_crop")


class ModelMetaError(ValueError):
    """The metadata is missing or malformed; the message says which key and why."""


@dataclass(frozen=True)
class ModelInfo:
    labels: tuple[str, ...]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str
    version: str
    resize: str = "squash"
    backbone: str = ""
    training: Mapping[str, Any] = field(default_factory=dict)
    evaluation: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """`name@version`: what results and the daemon's ledger record."""
        return f"{self.name}@{self.version}"

    def to_metadata(self) -> dict[str, str]:
        """The `metadata_props` an exporter writes."""
        return {
            KEY_FORMAT: FORMAT,
            KEY_LABELS: json.dumps(list(self.labels)),
            KEY_INPUT_SIZE: str(self.input_size),
            KEY_MEAN: json.dumps(list(self.mean)),
            KEY_STD: json.dumps(list(self.std)),
            KEY_RESIZE: self.resize,
            KEY_NAME: self.name,
            KEY_VERSION: self.version,
            KEY_BACKBONE: self.backbone,
            KEY_TRAINING: json.dumps(dict(self.training), sort_keys=True),
            KEY_EVALUATION: json.dumps(dict(self.evaluation), sort_keys=True),
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> "ModelInfo":
        """Parse and validate; raises ModelMetaError naming the first problem."""
        if KEY_FORMAT not in meta:
            raise ModelMetaError("not an emowatch model (no emowatch.format in its metadata)")
        if meta[KEY_FORMAT] != FORMAT:
            raise ModelMetaError(
                f"emowatch model format {meta[KEY_FORMAT]!r} is not supported (this emowatch reads {FORMAT!r})"
            )
        labels = _json(meta, KEY_LABELS)
        if not (isinstance(labels, list) and labels and all(isinstance(x, str) and _a_word(x) for x in labels)
                and len(set(labels)) == len(labels)):
            # a label becomes a keyword when the settings name no word for it
            raise ModelMetaError(f"{KEY_LABELS} must be a list of distinct names without '|', ';', "
                                 "control characters or spaces at either end")
        try:
            size = int(_get(meta, KEY_INPUT_SIZE))
        except ValueError:
            raise ModelMetaError(f"{KEY_INPUT_SIZE} must be an integer") from None
        if not 16 <= size <= 4096:
            raise ModelMetaError(f"{KEY_INPUT_SIZE} {size} is out of range")
        mean, std = _triple(meta, KEY_MEAN), _triple(meta, KEY_STD)
        if any(s <= 0 for s in std):
            raise ModelMetaError(f"{KEY_STD} must be positive")
        resize = meta.get(KEY_RESIZE, "squash")
        if resize not in RESIZE_MODES:
            raise ModelMetaError(f"{KEY_RESIZE} must be one of {RESIZE_MODES}, not {resize!r}")
        return cls(
            labels=tuple(labels), input_size=size, mean=mean, std=std,
            name=_printable(meta, KEY_NAME), version=_printable(meta, KEY_VERSION), resize=resize,
            backbone=meta.get(KEY_BACKBONE, ""),
            training=_object(meta, KEY_TRAINING), evaluation=_object(meta, KEY_EVALUATION),
        )


def _a_word(text: str) -> bool:
    return bool(text) and text == text.strip() and text.isprintable() and not any(c in text for c in "|;")


def _printable(meta: Mapping[str, str], key: str) -> str:
    """A name shown on terminals and written into photos: no control characters."""
    value = _get(meta, key)
    if not value.isprintable():
        raise ModelMetaError(f"{key} must be printable text, not {value!r}")
    return value


def _object(meta: Mapping[str, str], key: str) -> dict[str, Any]:
    value = _json(meta, key, {})
    if not isinstance(value, dict):
        raise ModelMetaError(f"{key} must be a JSON object")
    return value


def _get(meta: Mapping[str, str], key: str) -> str:
    value = meta.get(key, "")
    if not value:
        raise ModelMetaError(f"{key} is missing")
    return value


def _json(meta: Mapping[str, str], key: str, default: Any = None) -> Any:
    if key not in meta and default is not None:
        return default
    try:
        return json.loads(_get(meta, key))
    except json.JSONDecodeError:
        raise ModelMetaError(f"{key} is not valid JSON") from None


def _triple(meta: Mapping[str, str], key: str) -> tuple[float, float, float]:
    value = _json(meta, key)
    if not (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, (int, float)) for v in value)):
        raise ModelMetaError(f"{key} must be a list of three numbers")
    return (float(value[0]), float(value[1]), float(value[2]))
