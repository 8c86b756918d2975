"""An emowatch model: one `.onnx` file that describes itself, validated on load."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .. import modelmeta
from ..errors import ModelError
from ..modelmeta import ModelInfo, ModelMetaError
from .onnxmeta import OnnxParseError, read_metadata
from .session import ModelSession, OrtSession, SessionState

DEFAULT_MODEL_NAME = "emowatch-default.onnx"


def default_model_path() -> Path:
    """The model shipped inside the package."""
    return Path(str(resources.files("emowatch") / "models" / DEFAULT_MODEL_NAME))


@dataclass(frozen=True)
class Outputs:
    """One batch through the model. `features`/`cam_weights` only when asked for and present."""

    logits: np.ndarray  # [N, K]
    features: np.ndarray | None = None  # [N, C, h, w]
    cam_weights: np.ndarray | None = None  # [N, K, C]

    @property
    def probabilities(self) -> np.ndarray:
        return softmax(self.logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class EmotionModel:
    """The model file, its metadata, and its (lazily created) inference session."""

    def __init__(self, path: Path, info: ModelInfo, session: ModelSession):
        self.path = path
        self.info = info
        self._session = session
        self._checked = False
        self._check_lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | None = None, device: str = "auto", threads: int | None = None) -> "EmotionModel":
        """Validate the file and its metadata now; the session is created on first use."""
        path = Path(path).expanduser() if path is not None else default_model_path()
        if not path.is_file():
            if path == default_model_path():
                raise ModelError("the default model is missing from this installation; reinstall emowatch", path)
            raise ModelError("model file not found", path)
        try:
            meta = read_metadata(path)
        except OnnxParseError as e:
            raise ModelError(f"not a valid ONNX file ({e})", path) from None
        except OSError as e:
            raise ModelError(f"cannot read the model: {e.strerror or e}", path) from None
        try:
            info = ModelInfo.from_metadata(meta)
        except ModelMetaError as e:
            raise ModelError(str(e), path) from None
        return cls(path, info, OrtSession(path, device=device, threads=threads))

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def session_state(self) -> SessionState | None:
        state = getattr(self._session, "state", None)
        return state

    @property
    def output_names(self) -> list[str]:
        self._check_graph()
        names = getattr(self._session, "output_names", None)
        return list(names) if names is not None else [modelmeta.LOGITS]

    @property
    def has_cam(self) -> bool:
        names = self.output_names
        return modelmeta.FEATURES in names and modelmeta.CAM_WEIGHTS in names

    def run(self, batch: np.ndarray, *, cam: bool = False) -> Outputs:
        """Run a normalised batch [N, 3, S, S]; with `cam`, also the Grad-CAM ingredients."""
        self._check_graph()
        names = [modelmeta.LOGITS]
        if cam:
            if not self.has_cam:
                raise ModelError("this model has no features/cam_weights outputs for CAM", self.path)
            names += [modelmeta.FEATURES, modelmeta.CAM_WEIGHTS]
        out = self._session.run(names, {modelmeta.INPUT: np.ascontiguousarray(batch, dtype=np.float32)})
        logits = out[0]
        if logits.ndim != 2 or logits.shape[1] != len(self.labels):
            raise ModelError(
                f"the model returned logits of shape {logits.shape}, expected [N, {len(self.labels)}]", self.path
            )
        if not np.isfinite(logits).all():  # NaN would be "confident" (NaN < threshold is False)
            raise ModelError("the model returned scores that are not numbers (NaN or infinite)", self.path)
        return Outputs(logits, *(out[1:] if cam else ()))

    def _check_graph(self) -> None:
        """Once: the graph has the inputs/outputs its metadata promises."""
        if self._checked:
            return
        with self._check_lock:
            if self._checked:
                return
            inputs = getattr(self._session, "input_names", None)
            outputs = getattr(self._session, "output_names", None)
            if inputs is not None and modelmeta.INPUT not in inputs:
                raise ModelError(f"the model has no input named {modelmeta.INPUT!r} (it has {inputs})", self.path)
            if outputs is not None and modelmeta.LOGITS not in outputs:
                raise ModelError(f"the model has no output named {modelmeta.LOGITS!r} (it has {outputs})", self.path)
            shape_of = getattr(self._session, "input_shape", None)
            shape = shape_of(modelmeta.INPUT) if shape_of is not None else None
            if shape and isinstance(shape[0], int):  # batches of any size run through it
                raise ModelError(f"the model's input has a fixed batch size ({shape[0]}); an emowatch "
                                 "model needs a dynamic batch axis", self.path)
            self._check_declared(shape)
            self._checked = True

    def _check_declared(self, shape: list | None) -> None:
        """The graph's declared input and logits agree with the metadata (where they are fixed;
        a graph that declares no shape, [], is taken on trust)."""
        size, wanted = self.info.input_size, ["N", 3, self.info.input_size, self.info.input_size]
        if shape and (len(shape) != 4 or any(
                isinstance(got, int) and got != want for got, want in zip(shape[1:], wanted[1:]))):
            raise ModelError(f"the model's input is {shape}; its metadata promises [N, 3, {size}, {size}]",
                             self.path)
        type_of = getattr(self._session, "input_type", None)
        kind = type_of(modelmeta.INPUT) if type_of is not None else None
        if kind is not None and kind != "tensor(float)":
            raise ModelError(f"the model's input is {kind}; an emowatch model takes tensor(float)", self.path)
        out_of = getattr(self._session, "output_shape", None)
        logits = out_of(modelmeta.LOGITS) if out_of is not None else None
        if logits and (len(logits) != 2 or (isinstance(logits[1], int) and logits[1] != len(self.labels))):
            raise ModelError(f"the model's logits are {logits}; its metadata names {len(self.labels)} "
                             f"labels, so [N, {len(self.labels)}]", self.path)

    def ready(self) -> None:
        """Create the session and check the graph now, rather than at the first photo: a model
        that cannot run is one error before any work, not one per photo (which the daemon
        would record as every photo failing)."""
        self._check_graph()
