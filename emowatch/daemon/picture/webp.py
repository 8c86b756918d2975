"""What makes a WebP's picture: its image chunks, its features, and its orientation.

Hashed: the VP8 (lossy), VP8L (lossless), ALPH (alpha), ANIM and ANMF (animation) chunks; for
an animation, the canvas and alpha flag of its VP8X chunk too. A still picture's size and alpha
are those of its bitstream (libwebp reads them there, not from VP8X), so a simple WebP that
exiftool turns into an extended one to hold XMP - a VP8X whose alpha flag exiftool 12.57 leaves
unset - keeps its digest; but a lossy picture's ALPH chunk is shown only when the VP8X alpha
flag is set, so with an ALPH chunk that flag is hashed. Not hashed: EXIF, XMP, ICCP (nothing
here colour-manages, as for JPEG and PNG) and unknown chunks, except the orientation the EXIF
and XMP chunks give (`orientation`: every one of them, as the decoder reads the first).
"""

from __future__ import annotations

import struct

from . import orientation
from .source import Malformed, Source

PICTURE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF"})
MAX_CHUNKS = 100_000
_ALPHA, _ANIMATED = 0x10, 0x02


def feed(src: Source, h) -> None:
    head = src.read(0, 12)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise Malformed("not a WebP")
    end = struct.unpack("<I", head[4:8])[0] + 8
    if end > src.size:
        raise Malformed("WebP is truncated")
    h.update(b"webp")
    vp8x, kinds, shown, pos = bytes(10), set(), [], 12
    for _ in range(MAX_CHUNKS):
        if end - pos < 8:  # the end, or a pad byte past the last chunk
            break
        fourcc, length = struct.unpack("<4sI", src.read(pos, 8))
        body = pos + 8
        if body + length > end:
            raise Malformed("a chunk runs past the RIFF's end")
        if fourcc == b"VP8X":
            if length < 10:
                raise Malformed("VP8X chunk too short")
            vp8x = src.read(body, 10)
        if fourcc in PICTURE_CHUNKS:
            kinds.add(fourcc)
            h.update(fourcc)
            src.feed(h, body, length)
        elif fourcc == b"EXIF":
            shown.append(orientation.exif(src.read(body, length)))
        elif fourcc == b"XMP ":
            shown.append(orientation.xmp(src.read(body, length)))
        pos = body + length + (length & 1)
    else:
        raise Malformed("too many chunks")
    if not kinds:
        raise Malformed("no image chunk")
    h.update(_features(vp8x, alpha_chunk=b"ALPH" in kinds) + b"".join(shown))


def _features(vp8x: bytes, alpha_chunk: bool) -> bytes:
    """What the VP8X chunk says about the picture: for an animation its canvas and alpha flag;
    for a still picture with an ALPH chunk the alpha flag (without it the ALPH is not shown)."""
    flags = vp8x[0]
    if flags & _ANIMATED:
        return b"animation alpha %d canvas " % bool(flags & _ALPHA) + vp8x[4:10]
    return b"still alpha %d" % bool(flags & _ALPHA) if alpha_chunk else b"still"
