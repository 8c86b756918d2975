"""Keep numpy's BLAS to one thread while we fit: OpenBLAS threads keep spinning after a matrix
product and take the cores from ONNX Runtime's next batch (measured: Grad-CAM 40 -> 96 ms)."""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    # inspecting the loaded libraries costs ~10 ms: do it once, after `surrogate` has imported
    # lime (and with it scikit-learn and scipy's OpenBLAS), so that library is seen too
    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    with _controller().limit(limits=1, user_api="blas"):
        yield
