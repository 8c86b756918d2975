"""The picture digest: a hash of what makes a photo's picture and of nothing around it.

A metadata edit by another program (Lightroom saving a rating or keywords into the file)
leaves this digest as it is, so the daemon has nothing to classify again; a change to the image
data, to anything its decoding reads, or to its orientation changes it. One module per
container family:

- `jpeg_png` JPEG segments and scan, PNG chunks (reads the whole file)
- `tiff`     TIFF and DNG (classic and BigTIFF): every image's data and decoding tags
- `webp`     the RIFF image chunks and features
- `heif`     HEIC/AVIF: the primary item's coded data and properties
- `orientation` the EXIF and XMP orientation, read as Pillow reads it to turn the picture
- `source`   bounded reads: a broken structure is `Malformed`, and the digest None
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

from ...errors import EmowatchError
from ...formats import Format, open_regular, sniff_bytes
from . import heif, jpeg_png, tiff, webp
from .source import Source

_STREAMED = {Format.TIFF: tiff.feed, Format.DNG: tiff.feed, Format.WEBP: webp.feed, Format.HEIF: heif.feed}


def image_digest(path: Path | str) -> str | None:
    """The picture digest of a JPEG, PNG, TIFF, DNG, WebP or HEIC/AVIF photo; None for other
    formats (camera raw files among them: their metadata goes to sidecars), and for a file that
    cannot be read or whose structure does not hold together (the daemon then classifies it
    again, the safe answer)."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            fmt = sniff_bytes(f.read(32), Path(path).suffix)
            f.seek(0)
            if fmt in (Format.JPEG, Format.PNG):
                jpeg_png.feed(f.read(), h)
            elif fmt in _STREAMED:
                _STREAMED[fmt](Source(f, size), h)
            else:
                return None
    except (EmowatchError, OSError, ValueError, SyntaxError, struct.error):
        return None
    return h.hexdigest()
