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
    for seg in lay.segments:
        if seg.marker != jpeg.APP2 or not seg.payload(data).startswith(jpeg.MPF_HEADER):
            continue
        tiff = seg.payload(data)[len(jpeg.MPF_HEADER):]
        base = seg.body + len(jpeg.MPF_HEADER)  # offsets count from this TIFF header
        try:
            out += [(base + offset, size) for kind, size, offset in _entries(tiff)
                    if kind in LARGE_THUMBNAILS and offset > 0]
        except struct.error:
            continue
    return out


def _entries(tiff: bytes) -> list[tuple[int, int, int]]:
    """(MP type, size, offset) of every image in an MPF index (a small TIFF structure)."""
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(tiff[:4])
    if order is None:
        return []
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for i in range(count):
        tag, kind, n, value = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * i)
        if tag == 0xB002 and kind == 7:  # MPEntry, UNDEFINED: 16 bytes per image
            entries = []
            for k in range(n // 16):
                attr, size, offset = struct.unpack_from(order + "III", tiff, value + 16 * k)
                if (attr >> 24) & 0x7 == 0:  # image data format 0: JPEG
                    entries.append((attr & 0xFFFFFF, size, offset))
            return entries
    return []
