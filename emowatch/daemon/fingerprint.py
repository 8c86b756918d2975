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

`image_digest()` hashes what makes a JPEG's or PNG's picture (its image data, the tables and
header its decoding needs, its EXIF orientation) and nothing else, which a metadata edit
(Lightroom saving keywords or a rating) leaves as it is: the daemon then has nothing to
classify again. None for other formats.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import EmowatchError
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


def image_digest(path: Path | str) -> str | None:
    """A digest of what makes the photo's picture (JPEG, PNG): the image data and everything
    its decoding depends on - a JPEG's tables and frame (all segments but APPn and comments,
    and Adobe's APP14 colour transform), a PNG's header, palette and transparency - and the
    EXIF orientation it is shown in; none of the metadata around it. None for other formats or
    a file that cannot be read or parsed. Reads the whole file."""
    from PIL import Image

    from ..xmp import jpeg, png

    h = hashlib.blake2b(digest_size=16)
    try:
        with open_regular(path) as f:
            data = f.read()
        if data[:3] == b"\xff\xd8\xff":
            lay = jpeg.layout(data)
            for seg in lay.segments:
                if not (0xE0 <= seg.marker <= 0xEF or seg.marker == 0xFE) or seg.marker == _APP14:
                    h.update(data[seg.start:seg.end])
            h.update(memoryview(data)[lay.scan:])
        elif data[:8] == b"\x89PNG\r\n\x1a\n":
            for chunk in png.chunks(data):
                if chunk.type in (b"IHDR", b"PLTE", b"tRNS", b"IDAT"):
                    h.update(data[chunk.start:chunk.end])
        else:
            return None
        with Image.open(io.BytesIO(data)) as image:
            h.update(b"orientation %d" % int(image.getexif().get(_ORIENTATION, 1) or 1))
    except (EmowatchError, OSError, ValueError, SyntaxError):
        return None
    return h.hexdigest()


_APP14, _ORIENTATION = 0xEE, 0x0112
