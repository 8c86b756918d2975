"""The CUDA libraries onnxruntime-gpu needs: loading them, and saying why they cannot be used.

`pip install '.[gpu]'` (in emowatch's folder) brings onnxruntime-gpu with CUDA and cuDNN from PyPI (its `cuda`
and `cudnn` extras, ONNX Runtime >= 1.21). ONNX Runtime finds those only once they are loaded
into the process (`onnxruntime.preload_dlls()`); a system-wide CUDA install is found either way.
Then only the NVIDIA driver (`libcuda.so.1`) must come from the system.

Checked on 2026-11-29 with onnxruntime-gpu 1.31.1 (CUDA 13.0) on a machine without a GPU:
without the preload the CUDA provider fails on `libcublasLt.so.13`, with it only on
`libcuda.so.1`. ONNX Runtime reports such a failure as a multi-line, coloured error from its
own logger; `quiet_ort()` holds that back (emowatch says it in one line, with the reason
`why_cuda_fails()` finds), unless emowatch logs verbosely (`emowatch -v`).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import re
import threading
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger("emowatch.runtime")

_preloaded = False
_lock = threading.Lock()
_MISSING = re.compile(r"(lib[\w.+-]*?\.so[\w.]*): cannot open shared object file")
_ORT_WARNING, _ORT_FATAL = 2, 4  # ONNX Runtime's default log severity, and its quietest


def preload(ort: Any) -> None:
    """Load the CUDA and cuDNN libraries installed from PyPI, once per process. Never raises:
    what cannot be loaded shows when the CUDA provider is created."""
    global _preloaded
    with _lock:
        if _preloaded:
            return
        _preloaded = True
        load = getattr(ort, "preload_dlls", None)  # ONNX Runtime >= 1.21
        if load is None:
            return
        # it prints what it cannot load: on a machine without them, every library
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                load()
            except Exception as e:  # noqa: BLE001 - a helper of ONNX Runtime's; its failure is not ours
                log.info("onnxruntime.preload_dlls() failed: %s", e)
        if printed.getvalue().strip():
            log.info("onnxruntime.preload_dlls(): %s", printed.getvalue().strip())


@contextlib.contextmanager
def quiet_ort(ort: Any) -> Iterator[None]:
    """ONNX Runtime's default logger silenced while a CUDA session is tried (the failure is
    reported by emowatch), then back at ONNX Runtime's default."""
    if log.isEnabledFor(logging.INFO) or not hasattr(ort, "set_default_logger_severity"):
        yield
        return
    ort.set_default_logger_severity(_ORT_FATAL)
    try:
        yield
    finally:
        ort.set_default_logger_severity(_ORT_WARNING)


def why_cuda_fails(ort: Any) -> str:
    """Why the CUDA provider could not be created, as far as loading its library tells."""
    library = Path(getattr(ort, "__file__", "") or ".").parent / "capi" / "libonnxruntime_providers_cuda.so"
    if not library.is_file():
        return "no usable GPU or CUDA libraries"
    try:
        ctypes.CDLL(str(library))
    except OSError as e:
        return explain_load_error(str(e), cuda_version())
    return "no usable GPU (the CUDA libraries load, but no GPU could be used; emowatch -v shows " \
           "ONNX Runtime's message)"


def explain_load_error(message: str, cuda: str | None) -> str:
    """One line from a dynamic loader's error about the CUDA provider's library."""
    missing = _MISSING.search(message)
    if missing is None:
        return f"the CUDA provider cannot be loaded ({message.strip().splitlines()[0][:200]})"
    name = missing.group(1)
    if name.startswith("libcuda.so"):
        return f"no NVIDIA driver ({name} not found)"
    needs = f"CUDA {cuda.split('.')[0]} and cuDNN 9" if cuda else "CUDA and cuDNN"
    return f"{name} not found: this onnxruntime-gpu needs {needs} (pip install '.[gpu]' in emowatch's folder brings them)"


def cuda_version() -> str | None:
    """The CUDA version this onnxruntime-gpu was built for ("13.0"), when it says."""
    try:
        from onnxruntime.capi import build_and_package_info as info  # noqa: PLC0415
    except ImportError:
        return None
    version = getattr(info, "cuda_version", None)
    return version if isinstance(version, str) and version else None
