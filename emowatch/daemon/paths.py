"""Which paths under the watched folders are photos for the daemon, judged by the path alone.

No I/O here: the watcher's handler calls this for every event, and events come by the
thousand during a copy. Refused: anything inside a hidden folder or hidden itself (our
`.emowatch/` sidecar folders, our atomic-write temp files `.NAME.emowatch-tmp-XXXX`, rsync's
`.NAME.XXXXXX`, `.Trash`), our sidecars wherever they are placed (`*.heatmap.png`, ... in
"beside" mode), exiftool's `*_exiftool_tmp`, partial downloads and the configured ignore
patterns (`*.part`, `*.crdownload`, `*.xmp`, ...). Accepted: the configured photo extensions.
"""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path
from typing import Iterable

from ..atomic import TEMP_MARK
from ..settings import DaemonSettings
from ..sidecars import is_sidecar

# never photos, whatever the settings say: partial downloads and temp files of common tools
ALWAYS_IGNORED = ("*.part", "*.partial", "*.crdownload", "*.download", "*.tmp", "*.temp", "*~",
                  "*_exiftool_tmp", "*.xmp")


class PathFilter:
    def __init__(self, roots: Iterable[Path], settings: DaemonSettings):
        # deepest root first, so that a path is judged relative to the closest watched folder
        self.roots = sorted((str(Path(r)) for r in roots), key=len, reverse=True)
        self.extensions = frozenset(e.lower() if e.startswith(".") else "." + e.lower()
                                    for e in settings.extensions)
        self.patterns = tuple(p.lower() for p in (*ALWAYS_IGNORED, *settings.ignore))
        # one expression for all of them: asked for every file of a library at each start
        self._ignored = re.compile("|".join(fnmatch.translate(p) for p in self.patterns))

    def accepts(self, path: str | Path) -> bool:
        path = os.fspath(path)
        name = os.path.basename(path)
        if not name or name.startswith(".") or TEMP_MARK in name:
            return False
        if os.path.splitext(name)[1].lower() not in self.extensions:
            return False
        if self._ignored.match(name.lower()):
            return False
        if self._in_hidden_folder(path) or is_sidecar(path):
            return False
        return True

    def accepts_dir(self, path: str | Path) -> bool:
        """Folders worth walking: not hidden below a root."""
        return not self._in_hidden_folder(os.path.join(os.fspath(path), "x"))

    def _in_hidden_folder(self, path: str) -> bool:
        for root in self.roots:
            if path == root or path.startswith(root + os.sep):
                rel = path[len(root) + 1:]
                return any(part.startswith(".") for part in rel.split(os.sep)[:-1])
        # outside every root (a move out of the tree): not ours
        return True
