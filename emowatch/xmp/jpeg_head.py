"""Let exiftool edit a JPEG's header without handing it the megabytes of image data.

exiftool rewrites the whole file it edits: for XPKeywords (EXIF) or IPTC keywords in a 24 MP
JPEG, most of its time went into copying the 3.5 MB of image data through Perl. It only ever
changes the segments before the first SOS, so it is given those and a token scan instead:
SOI ... SOS header, 16 zero bytes, EOI. Its edited header is then joined to the original
image data and whatever follows it (MPF previews, gain maps, trailers), which exiftool never
sees and so cannot change.

Measured on the test corpus (camera EXIF and maker note, IPTC, Lightroom XMP, an MPF preview),
exiftool's header came out byte for byte as when it edits the whole file. Anything unexpected
(exiftool refuses the token file, adds or drops bytes after its header, moves the multi-picture
index differently from the images it indexes) returns None, and the caller lets exiftool edit
the whole file as before. Either way the result is verified like any other write.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import EmowatchError
from . import jpeg

TOKEN_SCAN = b"\x00" * 16 + b"\xff\xd9"


def edited(data: bytes, lay: jpeg.Layout, edit: Callable[[Path], None]) -> bytes | None:
    """`data` (a whole JPEG, laid out as `lay`) with `edit` applied to its header, or None when
    that cannot be done this way. `edit` changes the file it is given in place."""
    scan = _scan_header_end(data, lay)
    if scan is None:
        return None
    head = data[:scan] + TOKEN_SCAN
    with tempfile.TemporaryDirectory(prefix="emowatch-head-") as work:
        file = Path(work) / "head.jpg"
        file.write_bytes(head)
        try:
            edit(file)
        except EmowatchError:
            return None  # the whole file may still be editable: the caller tries that
        got = file.read_bytes()
    try:
        got_lay = jpeg.layout(got)
    except EmowatchError:
        return None
    got_scan = _scan_header_end(got, got_lay)
    if got_scan is None or got[got_lay.scan:] != head[lay.scan:]:
        return None  # the SOS header or the token scan changed, or something was appended
    if not _mpf_moves_with_images(data, lay, got, got_lay):
        return None
    view = memoryview(data)
    return b"".join((memoryview(got)[:got_lay.scan], view[lay.scan:]))


def _scan_header_end(data: bytes, lay: jpeg.Layout) -> int | None:
    """Offset just past the first SOS segment's header (its marker, length and fields)."""
    at = lay.scan
    while at < len(data) and data[at] == 0xFF:  # fill bytes, then the SOS marker itself
        at += 1
    if at + 3 > len(data) or data[at] != jpeg.SOS:
        return None
    (length,) = struct.unpack_from(">H", data, at + 1)
    end = at + 1 + length
    return end if length >= 2 and end <= len(data) else None


def _mpf_moves_with_images(old: bytes, old_lay: jpeg.Layout, new: bytes, new_lay: jpeg.Layout) -> bool:
    """MPF offsets count from the MPF segment itself: the images after EOI must move by as many
    bytes as that segment does, or every offset would point into the wrong bytes."""
    def mpf(data: bytes, lay: jpeg.Layout) -> list[int]:
        return [s.start for s in lay.segments
                if s.marker == jpeg.APP2 and s.payload(data).startswith(jpeg.MPF_HEADER)]

    before, after = mpf(old, old_lay), mpf(new, new_lay)
    if len(before) != len(after):
        return False
    shift = new_lay.scan - old_lay.scan
    return all(b - a == shift for a, b in zip(before, after))
