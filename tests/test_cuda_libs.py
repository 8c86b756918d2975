"""onnxruntime-gpu without a usable GPU: its libraries preloaded quietly, the reason told in one line.

The messages below are the dynamic loader's own, as onnxruntime-gpu 1.31.1 (CUDA 13.0) gave them
on this machine on 2026-11-29: first without CUDA libraries, then with `pip install
'onnxruntime-gpu[cuda,cudnn]'` preloaded but no NVIDIA driver. CI installs the CPU build, so the
parts that need the GPU build are checked here on what they decide from."""

from __future__ import annotations

import logging
import types

import numpy as np
import onnxruntime

from emowatch.runtime import cuda_libs
from emowatch.runtime import session as session_mod
from emowatch.runtime.session import CPU, CUDA, OrtSession
from models import make_model

NO_CUBLAS = ("/venv/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime_providers_cuda.so: "
             "libcublasLt.so.13: cannot open shared object file: No such file or directory")
NO_DRIVER = "libcuda.so.1: cannot open shared object file: No such file or directory"


def test_a_missing_cuda_library_names_it_and_the_install_that_brings_it():
    why = cuda_libs.explain_load_error(NO_CUBLAS, "13.0")
    assert why.startswith("libcublasLt.so.13 not found")
    assert "CUDA 13 and cuDNN 9" in why and "pip install '.[gpu]' in emowatch's folder" in why
    assert "CUDA and cuDNN" in cuda_libs.explain_load_error(NO_CUBLAS, None)


def test_a_missing_driver_is_told_as_such():
    assert cuda_libs.explain_load_error(NO_DRIVER, "13.0") == "no NVIDIA driver (libcuda.so.1 not found)"


def test_another_load_error_is_one_line():
    why = cuda_libs.explain_load_error("/x/libonnxruntime_providers_cuda.so: invalid ELF header\nmore", None)
    assert why == "the CUDA provider cannot be loaded (/x/libonnxruntime_providers_cuda.so: invalid ELF header)"


def test_the_provider_library_is_really_loaded_to_find_the_reason(tmp_path):
    # a file where onnxruntime-gpu keeps the CUDA provider that the dynamic loader refuses
    capi = tmp_path / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "libonnxruntime_providers_cuda.so").write_bytes(b"not a shared object" * 10)
    fake_ort = types.SimpleNamespace(__file__=str(tmp_path / "onnxruntime" / "__init__.py"))
    why = cuda_libs.why_cuda_fails(fake_ort)
    assert why.startswith("the CUDA provider cannot be loaded (") and "libonnxruntime_providers_cuda.so" in why
    # the CPU build has no CUDA provider library at all
    assert cuda_libs.why_cuda_fails(onnxruntime) == "no usable GPU or CUDA libraries"


def test_preload_is_quiet_and_happens_once(monkeypatch, capsys, caplog):
    calls = []

    def preload_dlls():  # what onnxruntime-gpu's does on a machine without the libraries: print
        calls.append(1)
        print("Failed to load libcublasLt.so.13: cannot open shared object file")

    monkeypatch.setattr(cuda_libs, "_preloaded", False)
    fake_ort = types.SimpleNamespace(preload_dlls=preload_dlls)
    with caplog.at_level(logging.INFO, logger="emowatch"):
        cuda_libs.preload(fake_ort)
        cuda_libs.preload(fake_ort)
    assert calls == [1]
    assert capsys.readouterr().out == ""  # never into `--json` output
    assert any("libcublasLt" in r.getMessage() for r in caplog.records)  # -v shows it


def test_gpu_build_without_a_gpu_says_why_in_one_warning(tmp_path, monkeypatch, caplog):
    # the provider list is what onnxruntime-gpu reports; its libraries are not here
    monkeypatch.setattr(session_mod, "available_providers", lambda: [CUDA, CPU])
    s = OrtSession(make_model(tmp_path / "m.onnx"), device="auto")
    with caplog.at_level(logging.WARNING, logger="emowatch"):
        s.run(None, {"image": np.zeros((1, 3, 64, 64), np.float32)})
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["the CUDA provider could not be initialised: no usable GPU or CUDA libraries; "
                        "running on CPU"]
    assert s.state.providers == (CPU,)
    assert s.state.fallback == warnings[0]
