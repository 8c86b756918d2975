"""Can a folder be written to, or made? Asked before any work: a run, an evaluation or an
export must not fail at its end for a folder it could never have written."""

from __future__ import annotations

import os
from pathlib import Path


def nearest_existing(path: Path) -> Path | None:
    """`path` or the nearest folder above it that is there (os.path.exists, unlike
    Path.exists() on Python 3.11, is False for a path through a file or a locked folder)."""
    path = Path(path).absolute()
    return next((p for p in (path, *path.parents) if os.path.exists(p)), None)


def file_in_the_way(folder: Path) -> str | None:
    """Why no folder can be at `folder` (a file is there, or above it), or None."""
    there = nearest_existing(folder)
    return f"{there} is a file, not a folder" if there is not None and not there.is_dir() else None


def why_unwritable(folder: Path) -> str | None:
    """None when `folder` is a folder that can be written to, or can be made; else why not,
    naming the path to blame."""
    blocked = file_in_the_way(folder)
    if blocked:
        return blocked
    there = nearest_existing(folder)
    if there is not None and not os.access(there, os.W_OK | os.X_OK):   # also on a read-only file system
        return f"{there} is not writable"
    return None
