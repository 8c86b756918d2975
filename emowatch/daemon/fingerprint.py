"""Who a photo is: a cheap stamp from stat, and a content fingerprint that survives moves.

`Stamp` (size, mtime_ns, inode) answers "is this still exactly the file we recorded?" with one
stat() and no read; the ledger keeps the stamp of each photo as the daemon left it (after its
own metadata write), so a restart skips finished photos without opening them.

`fingerprint()` hashes the size and the first and last 64 KB. It ignores name, folder, inode and
times, so a photo moved, renamed or copied with a new mtime is recognised. It is taken *after*
our write: the file with our keywords in it is the one that is done (a fresh copy of the
untagged original has another fingerprint, and rightly gets tagged). Photos of the same size
that differ only in their middle would collide; cameras and exports do not produce those (the
head holds EXIF with times and counters, the tail the end of the compressed data).

The picture digest (`picture.image_digest`), which a metadata edit leaves as it is, is the
third way of telling a photo: see `picture`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..formats import open_regular

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Stamp:
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path | str) -> "Stamp":
        """Raises FileNotFoundError (an OSError) when the file is gone."""
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


def fingerprint(path: Path | str) -> str:
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        h = hashlib.blake2b(digest_size=16)
        h.update(size.to_bytes(8, "little"))
        h.update(f.read(CHUNK))
        if size > CHUNK:
            f.seek(max(CHUNK, size - CHUNK))
            h.update(f.read(CHUNK))
    return h.hexdigest()
