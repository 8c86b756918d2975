"""What makes a WebP's picture: its image chunks, its features, and the EXIF orientation.

Hashed: the VP8 (lossy), VP8L (lossless), ALPH (alpha), ANIM and ANMF (animation) chunks; for
an animation, the canvas and alpha flag of its VP8X chunk too. A still picture's size and alpha
are those of its bitstream (libwebp reads them there, not from VP8X), so a simple WebP that
exiftool turns into an extended one to hold XMP - a VP8X whose alpha flag exiftool 12.57 leaves
unset - keeps its digest. Not hashed: EXIF, XMP, ICCP (nothing here colour-manages, as for JPEG
and PNG) and unknown chunks, except the EXIF orientation, which the decoder applies.
"""

from __future__ import annotations

import struct

from .source import Malformed, Source

PICTURE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})
MAX_CHUNKS = 100_000
_ORIENTATION = 0x0112
_ALPHA, _ANIMATED = 0x10, 0x02


def feed(src: Source, h) -> None:
    head = src.read(0, 12)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise Malformed("not a WebP")
    end = struct.unpack("<I", head[4:8])[0] + 8
    if end > src.size:
        raise Malformed("WebP is truncated")
    h.update(b"webp")
    animation, orientation, pictures, pos = b"still", 1, 0, 12
    for _ in range(MAX_CHUNKS):
        if end - pos < 8:  # the end, or a pad byte past the last chunk
            break
        fourcc, length = struct.unpack("<4sI", src.read(pos, 8))
        body = pos + 8
        if body + length > end:
            raise Malformed("a chunk runs past the RIFF's end")
        if fourcc == b"VP8X":
            animation = _animation(src.read(body, length))
        if fourcc in PICTURE_CHUNKS:
            pictures += 1
            h.update(fourcc)
            src.feed(h, body, length)
        elif fourcc == b"EXIF":
            orientation = _orientation(src.read(body, length))
        pos = body + length + (length & 1)
    else:
        raise Malformed("too many chunks")
    if not pictures:
        raise Malformed("no image chunk")
    h.update(animation + b" orientation %d" % orientation)


def _animation(vp8x: bytes) -> bytes:
    """What an animation's VP8X says about its picture: canvas and alpha (b"still" otherwise)."""
    if len(vp8x) < 10:
        raise Malformed("VP8X chunk too short")
    flags = vp8x[0]
    if not flags & _ANIMATED:
        return b"still"
    return b"animation alpha %d canvas " % bool(flags & _ALPHA) + vp8x[4:10]


def _orientation(exif: bytes) -> int:
    """The orientation in an EXIF chunk, read as the decoder (Pillow) reads it to turn the picture."""
    from PIL import Image

    found = Image.Exif()
    try:
        found.load(exif)  # with or without the "Exif\0\0" prefix
        return int(found.get(_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - Pillow's EXIF reader raises many kinds
        raise Malformed("unreadable EXIF chunk") from None
