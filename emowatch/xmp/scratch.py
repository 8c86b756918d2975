"""Private folders in the system's temp folder, for the files exiftool is handed: a JPEG's
header (jpeg_head) or an XMP packet to store (targets). Each lives only as long as one edit;
the first edit of a process removes the ones a killed run left (they hold a photo's metadata,
GPS included)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PREFIX = "emowatch-"  # every such folder's name starts so
KINDS = ("head", "xmp")
STALE_S = 3600.0  # a folder this old is a killed process's leftover, never an edit going on
# what `folder` names a folder (tempfile adds 8 of [a-z0-9_]) and the files put in one (exiftool
# writes NAME_exiftool_tmp beside the file it edits): a user's own /tmp/emowatch-library, or
# any folder holding anything else, is never taken for ours
_NAME = re.compile(re.escape(PREFIX) + "(" + "|".join(KINDS) + r")-[a-z0-9_]{8}")
_CONTENT = re.compile(r"(head\.jpg|packet\.xmp)(_exiftool_tmp)?")
_swept = threading.Event()
_sweeping = threading.Lock()


@contextmanager
def folder(kind: str) -> Iterator[Path]:
    """A new private folder (mode 0700), removed with what is in it on leaving. OSError when
    the system's temp folder is full or unwritable."""
    assert kind in KINDS, kind  # (the sweep removes these kinds only)
    _sweep_once()
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{kind}-") as work:
        yield Path(work)


def sweep_stale(where: str | None = None, older_than_s: float = STALE_S) -> int:
    """Remove the folders a killed emowatch left in the temp folder: only this user's, only
    those older than `older_than_s`, and only ones named and filled as `folder` does. Returns
    how many were removed."""
    where = where or tempfile.gettempdir()
    try:
        entries = list(os.scandir(where))
    except OSError:
        return 0
    removed, now = 0, time.time()
    for entry in entries:
        if not _NAME.fullmatch(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and now - st.st_mtime >= older_than_s
                and _only_ours_in(entry.path)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += not os.path.lexists(entry.path)
    return removed


def _only_ours_in(path: str) -> bool:
    try:
        return all(_CONTENT.fullmatch(name) for name in os.listdir(path))
    except OSError:
        return False


def _sweep_once() -> None:
    if _swept.is_set():
        return
    with _sweeping:
        if not _swept.is_set():
            sweep_stale()
            _swept.set()
