"""The orientation a photo is shown in, read from its metadata as Pillow reads it to turn it.

Pillow takes the EXIF orientation and, where the EXIF has none, the XMP `tiff:Orientation`
(`Image.getexif`), so both are part of the picture: Lightroom writes the XMP one, and a file
whose EXIF says nothing is turned by it. A block that gives no orientation gives nothing to
hash, so metadata added where there was none (a first XMP packet) leaves the digest as it is.
"""

from __future__ import annotations

import re

from .source import Malformed

_ORIENTATION = 0x0112
_XMP = re.compile(rb'tiff:Orientation(="|>)([0-9])')  # Pillow's own pattern (Image.getexif)


def exif(data: bytes) -> bytes:
    """What to hash of an EXIF block (with or without the "Exif\\0\\0" prefix): its orientation."""
    from PIL import Image

    found = Image.Exif()
    try:
        found.load(data)
        return b"exif orientation %d" % int(found[_ORIENTATION]) if _ORIENTATION in found else b""
    except Exception:  # noqa: BLE001 - Pillow's EXIF reader raises many kinds
        raise Malformed("unreadable EXIF") from None


def xmp(data: bytes) -> bytes:
    """What to hash of an XMP packet: the orientation Pillow would find in it, if any."""
    match = _XMP.search(data)
    return b"xmp orientation " + match[2] if match else b""
