"""Swap two names in one step: Linux renameat2(RENAME_EXCHANGE), for atomic_write's commit.

A plain rename over the photo replaces whatever is there at that instant, and another
program's save (a temp file renamed over the photo) landing just before it would be lost. An
exchange puts our file in place and leaves the one it displaced under our temp name, where it
can be looked at and, if it is not the original, put back.

Where the system or the file system cannot (not Linux, a C library without the call on an
unknown architecture, an old kernel, FAT, some FUSE and network file systems), `exchange`
says so and the caller renames as before; a file system's refusal is remembered.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys
from functools import cache
from pathlib import Path
from typing import Callable, Optional

Call = Callable[[bytes, bytes], int]  # the two names; 0, or -1 and errno

RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# renameat2's number where the C library has no wrapper (glibc < 2.28, musl)
_SYSCALLS = {"x86_64": 316, "aarch64": 276, "riscv64": 276, "ppc64le": 357, "s390x": 347}
# what a kernel or file system without the exchange answers
_REFUSALS = frozenset({errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})

# st_dev of the file systems that refused: one failed call each, not one per photo. A set's
# add and lookup are atomic under the GIL; two threads racing cost one more refused call.
_refused: set[int] = set()


def exchange(a: Path, b: Path, dev: int) -> bool:
    """Swap the files named `a` and `b`, both on the file system `dev`, atomically.

    False, with nothing changed, where this system or that file system cannot; OSError for any
    other failure (ENOENT: one of them is gone)."""
    call = _renameat2()
    if call is None or dev in _refused:
        return False
    if call(os.fsencode(a), os.fsencode(b)) == 0:
        return True
    code = ctypes.get_errno()
    if code in _REFUSALS:
        _refused.add(dev)
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


@cache
def _renameat2() -> Optional[Call]:
    """renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) as a function of the two names;
    None off Linux or where neither the C library nor a known syscall number has it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    return _wrapper(libc) or _syscall(libc, platform.machine())


def _wrapper(libc: ctypes.CDLL) -> Optional[Call]:
    """Through the C library's renameat2 (glibc 2.28 and later)."""
    call = getattr(libc, "renameat2", None)
    if call is None:
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    return lambda a, b: call(_AT_FDCWD, a, _AT_FDCWD, b, RENAME_EXCHANGE)


def _syscall(libc: ctypes.CDLL, machine: str) -> Optional[Call]:
    """Through syscall(2) with renameat2's number on this architecture."""
    number, call = _SYSCALLS.get(machine), getattr(libc, "syscall", None)
    if number is None or call is None:
        return None
    call.restype = ctypes.c_long
    fd, flags = ctypes.c_long(_AT_FDCWD), ctypes.c_long(RENAME_EXCHANGE)
    return lambda a, b: call(ctypes.c_long(number), fd, ctypes.c_char_p(a), fd,
                             ctypes.c_char_p(b), flags)
