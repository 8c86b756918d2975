"""Atomic writes for emowatch's own sidecar files: a reader sees the old file or the new one,
never half a PNG. (User photos go through emowatch.atomic; sidecars are ours and simpler.)"""

from __future__ import annotations

import os
from pathlib import Path

from ..atomic import check_can_create, fsync_dir, temp_path_for


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder, fsync'd, then renamed.

    The temporary name is emowatch's own temp name, which the daemon ignores (sidecars may be
    placed beside the photos) and `emowatch tag` sweeps when a crash left one behind.
    """
    path = Path(path)
    existing = _first_existing(path.parent)
    if existing.is_dir():  # a read-only folder is not forced (a file in the way: mkdir says so)
        check_can_create(existing / path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "xb") as f:  # mode 0o666 & ~umask, like any file the user's tools write
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)



def _first_existing(folder: Path) -> Path:
    """`folder`, or the nearest folder above it that exists (where ours would be created)."""
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    return folder
