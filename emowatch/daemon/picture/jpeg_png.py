"""What makes a JPEG's or PNG's picture: the image data and everything its decoding depends on
- a JPEG's tables and frame (all segments but APPn and comments, and Adobe's APP14 colour
transform), a PNG's header, palette and transparency - and the EXIF orientation it is shown
in. Not its metadata, nor an ICC profile (APP2, iCCP): nothing here colour-manages."""

from __future__ import annotations

import io

from ...xmp import jpeg, png

JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", png.SIGNATURE
_APP14, _ORIENTATION = 0xEE, 0x0112


def feed(data: bytes, h) -> None:
    """Hash the picture of the whole JPEG or PNG file `data` into `h`."""
    from PIL import Image

    if data.startswith(JPEG_MAGIC):
        lay = jpeg.layout(data)
        for seg in lay.segments:
            if not (0xE0 <= seg.marker <= 0xEF or seg.marker == 0xFE) or seg.marker == _APP14:
                h.update(data[seg.start:seg.end])
        h.update(memoryview(data)[lay.scan:])
    else:
        for chunk in png.chunks(data):
            if chunk.type in (b"IHDR", b"PLTE", b"tRNS", b"IDAT"):
                h.update(data[chunk.start:chunk.end])
    with Image.open(io.BytesIO(data)) as image:
        h.update(b"orientation %d" % int(image.getexif().get(_ORIENTATION, 1) or 1))
