"""A camera JPEG's embedded preview (an MPF "Large Thumbnail", CIPA DC-007), to decode instead.

Some cameras (recent Sony models store a 1616x1080 one) keep a reduced copy of the photo,
640x480- or 1920x1080-class, after the main image's end marker, indexed by an APP2 "MPF"
segment. Reading a 24 MP JPEG costs its entropy decoding, megabytes of it even at 1/8 scale; the
preview is a few hundred kilobytes of the same picture, already rendered by the camera. An
editor that changes the pixels writes a new file without that trailer (libjpeg stops at the end
marker), and one that keeps a stale index is caught by the checks below.

A preview is used only when it certainly shows the same picture at the same orientation: its
MPF type is a Large Thumbnail, it is a JPEG inside the file after the main image, its stored
shape has the main image's aspect ratio (a rotated or letterboxed preview is not used, and a
square photo never uses one, since a rotation could not be told), an EXIF orientation of its own
(if it has one) is the photo's, and its short side is at least what the caller needs; the
photo's orientation then turns it upright. Otherwise `find` returns None and the main image is
decoded. Nothing here raises: a malformed index is simply not used.
"""

from __future__ import annotations

import io
import math
import struct

from PIL import Image

from ..errors import EmowatchError
from ..xmp import jpeg

LARGE_THUMBNAILS = (0x010001, 0x010002)  # VGA-equivalent, full-HD-equivalent
ASPECT_TOLERANCE = 0.015  # Sony's 1616x1080 for 6000x4000 is 0.3% off; 640x424 would be 0.6%
SQUARE = 0.05  # |log(w/h)| below this: too near square to tell a rotated preview
ORIENTATION = 0x0112  # EXIF


def find(data: bytes, main_size: tuple[int, int], min_side: int,
         orientation: int = 1) -> Image.Image | None:
    """The smallest usable preview in `data` (a JPEG whose photo has this EXIF orientation),
    opened but not decoded; or None."""
    w, h = main_size
    if not w or not h or abs(math.log(w / h)) < SQUARE:
        return None
    try:
        lay = jpeg.layout(data)
    except EmowatchError:
        return None
    best = None
    for start, size in _large_thumbnails(data, lay):
        if start <= lay.scan or start + size > len(data) or data[start:start + 2] != b"\xff\xd8":
            continue
        try:
            image = Image.open(io.BytesIO(data[start:start + size]), formats=["JPEG"])
        except Exception:  # Pillow raises many kinds on a bad header; this one is just not used
            continue
        pw, ph = image.size
        if (min(pw, ph) < min_side or pw >= w or ph >= h
                or abs((pw / ph) / (w / h) - 1) > ASPECT_TOLERANCE):
            continue
        try:  # a preview that says it is stored turned otherwise than the photo: not the same view
            own = image.getexif().get(ORIENTATION)
        except Exception:
            continue
        if own is not None and own != orientation:
            continue
        if best is None or pw < best.size[0]:
            best = image
    return best


def _large_thumbnails(data: bytes, lay: jpeg.Layout) -> list[tuple[int, int]]:
    """(absolute offset, size) of each Large Thumbnail JPEG the MPF index lists."""
    out: list[tuple[int, int]] = []
    for seg in lay.mpf(data):
        try:
            out += [(start, size) for attr, size, start in jpeg.mpf_images(data, seg)
                    if (attr >> 24) & 0x7 == 0 and attr & 0xFFFFFF in LARGE_THUMBNAILS]  # JPEG data
        except struct.error:
            continue
    return out
