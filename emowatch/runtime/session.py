"""One ONNX Runtime session per model: lazy, thread-safe, and honest about where it runs.

Providers are the preferred order for the requested device intersected with what this ONNX
Runtime build offers. `onnxruntime-gpu` on a machine without CUDA still creates a session (it
logs an error and quietly uses the CPU; `ort.get_device()` keeps saying 'GPU'), so after
creation and after the first run we look at `session.get_providers()` and at whether the run
succeeded; if CUDA was wanted and is not really in use, the session is rebuilt on the CPU and a
warning is logged once. The reason is kept in `fallback` for `emowatch info` and the CLI.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from ..errors import ModelError, RuntimeMissingError
from . import cuda_libs

log = logging.getLogger("emowatch.runtime")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


class ModelSession(Protocol):
    """The seam between emowatch and an inference engine: tests may hand in any such object."""

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]: ...


def import_ort():
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeMissingError(
            "ONNX Runtime is not installed: pip install onnxruntime (or onnxruntime-gpu for CUDA)"
        ) from None
    return ort


def available_providers() -> list[str]:
    return list(import_ort().get_available_providers())


def preferred_providers(device: str, available: Sequence[str]) -> list[str]:
    """The providers to ask for, best first, limited to those this build has."""
    wanted = [CPU] if device == "cpu" else [CUDA, CPU]
    return [p for p in wanted if p in available]


@dataclass(frozen=True)
class SessionState:
    requested: str  # auto | cuda | cpu
    providers: tuple[str, ...]  # what the live session really uses
    fallback: str | None  # why CUDA is not in use although it was asked for, if so


class OrtSession:
    """A lazily created `onnxruntime.InferenceSession` with CPU fallback."""

    def __init__(self, path: Path, device: str = "auto", threads: int | None = None):
        self.path = Path(path)
        self.device = device
        self.threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._fallback: str | None = None
        self._verified = False  # a first run has succeeded on the session's providers

    # -- public ---------------------------------------------------------------------------
    def run(self, output_names: Sequence[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        session = self.session
        if self._verified:
            try:
                return session.run(output_names, feeds)
            except Exception as e:  # noqa: BLE001 - ONNX Runtime's own errors, as one of ours
                raise ModelError(f"inference failed: {_first_line(e)}", self.path) from None
        with self._lock:
            try:
                out = self._session.run(output_names, feeds)
            except Exception as e:  # the first run is where a broken CUDA setup shows itself
                if CUDA not in self._session.get_providers():
                    raise ModelError(f"inference failed: {_first_line(e)}", self.path) from None
                self._fall_back(f"CUDA failed on the first run ({_first_line(e)})")
                out = self._session.run(output_names, feeds)
            self._verified = True
            return out

    @property
    def session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._create()
        return self._session

    @property
    def state(self) -> SessionState:
        session = self.session
        return SessionState(self.device, tuple(session.get_providers()), self._fallback)

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def input_shape(self, name: str) -> list | None:
        """The declared shape of an input (ints for fixed axes, names or None for dynamic ones);
        None when it cannot be told (ONNX Runtime fails on an axis name that is not UTF-8)."""
        return _declared(self.session.get_inputs, name, lambda i: list(i.shape))

    def output_shape(self, name: str) -> list | None:
        return _declared(self.session.get_outputs, name, lambda o: list(o.shape))

    def input_type(self, name: str) -> str | None:
        """ONNX Runtime's name for an input's element type: "tensor(float)", ..."""
        return _declared(self.session.get_inputs, name, lambda i: i.type)

    # -- internals ------------------------------------------------------------------------
    def _create(self) -> Any:
        available = available_providers()
        providers = preferred_providers(self.device, available)
        if self.device != "cpu" and CUDA not in available:
            if self.device == "cuda":
                self._warn("CUDA was asked for but this ONNX Runtime build has no CUDA provider "
                           "(pip uninstall onnxruntime, then pip install '.[gpu]' in emowatch's folder)")
            providers = [CPU]
        if CUDA not in providers:
            return self._build(providers)
        ort = import_ort()
        cuda_libs.preload(ort)
        with cuda_libs.quiet_ort(ort):
            session = self._build(providers)
        if CUDA not in session.get_providers():
            self._warn(f"the CUDA provider could not be initialised: {cuda_libs.why_cuda_fails(ort)}")
            session = self._build([CPU])
        return session

    def _build(self, providers: list[str]) -> Any:
        ort = import_ort()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if providers == [CPU]:
            options.intra_op_num_threads = self.threads or max(1, os.cpu_count() or 1)
            options.inter_op_num_threads = 1
            # ORT's pool threads spin after each run by default, taking the cores from the
            # threads that decode the next photos; between our batches they should sleep
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # warnings such as "nodes placed on the CPU" are not for users
        try:
            with warnings.catch_warnings():  # "provider not available": we say it ourselves, once
                warnings.simplefilter("ignore", UserWarning)
                return ort.InferenceSession(str(self.path), sess_options=options,
                                            providers=[(p, {}) for p in providers])
        except Exception as e:
            raise ModelError(f"cannot load the model: {_first_line(e)}", self.path) from None

    def _fall_back(self, why: str) -> None:
        self._warn(why)
        self._session = self._build([CPU])

    def _warn(self, why: str) -> None:
        why = f"{why}; running on CPU"
        if self._fallback is None:
            log.warning(why)
        self._fallback = why


def _declared(listing, name: str, what):
    try:
        return next((what(arg) for arg in listing() if arg.name == name), None)
    except (UnicodeDecodeError, RuntimeError, ValueError):
        return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__
