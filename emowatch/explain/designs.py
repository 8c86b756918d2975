"""Two-level orthogonal arrays (Hadamard matrices) for LIME's sampling design.

Sylvester's doubling gives every power of two; Paley's first construction gives q + 1 for a
prime q = 3 (mod 4) (12, 20, 24, 44, 48, 60, ...); doubling those fills in more orders. That
covers every order a few-dozen-region explanation needs with little waste.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def hadamard_order(columns: int) -> int:
    """The smallest order n we can build with n - 1 >= columns."""
    n = 4
    while n - 1 < columns or _construct(n) is None:
        n += 4
    return n


def hadamard(n: int) -> np.ndarray:
    """int8 [n, n], entries +-1, H H^T = n I, first column all +1 (normalised)."""
    h = _construct(n)
    if h is None:
        raise ValueError(f"no Hadamard construction for order {n}")
    return h.copy()


@lru_cache(maxsize=64)
def _construct(n: int) -> np.ndarray | None:
    if n == 1:
        return np.ones((1, 1), np.int8)
    if n == 2:
        return np.array([[1, 1], [1, -1]], np.int8)
    if n % 4:
        return None
    if _is_prime(n - 1) and (n - 1) % 4 == 3:
        h = _paley(n - 1)
    elif (half := _construct(n // 2)) is not None and n % 2 == 0:
        h = np.block([[half, half], [half, -half]]).astype(np.int8)
    else:
        return None
    h = (h * h[:, :1]).astype(np.int8)  # rows scaled so the first column is +1
    h.setflags(write=False)
    return h


def _paley(q: int) -> np.ndarray:
    residues = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if i in residues else -1 for i in range(1, q)], np.int64)
    jacobsthal = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]
    s = np.zeros((q + 1, q + 1), np.int64)
    s[0, 1:] = 1
    s[1:, 0] = -1
    s[1:, 1:] = jacobsthal
    return (s + np.eye(q + 1, dtype=np.int64)).astype(np.int8)


def _is_prime(q: int) -> bool:
    return q >= 2 and all(q % d for d in range(2, int(q ** 0.5) + 1))
