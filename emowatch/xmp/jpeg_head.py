"""Let exiftool edit a JPEG's header without handing it the megabytes of image data.

exiftool rewrites the whole file it edits: for XPKeywords (EXIF) or IPTC keywords in a 24 MP
JPEG, most of its time went into copying the 3.5 MB of image data through Perl. What it changes
is in the segments before the first SOS, so it is given those and a token scan instead:
SOI ... SOS header, 16 zero bytes, EOI. Its edited header is then joined to the original
image data and the MPF images after it (previews, gain maps), which exiftool never sees and so
cannot change. Files where exiftool changes more than the header get the whole file
(`whole_file_needed`): a tag pointing past the header (a maker note's preview after EOI, whose
pointer exiftool resets), or a trailer it reads and rewrites (AFCP's copy of the IPTC).

Measured on the test corpus (camera EXIF and maker note, IPTC, Lightroom XMP, an MPF preview),
exiftool's header came out byte for byte as when it edits the whole file. Anything unexpected
(exiftool refuses the token file, adds or drops bytes after its header, moves the multi-picture
index differently from the images it indexes) returns None, and the caller lets exiftool edit
the whole file as before. Either way the result is verified like any other write.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Callable

from ..errors import EmowatchError
from . import exif_pointers, jpeg, scratch

TOKEN_SCAN = b"\x00" * 16 + b"\xff\xd9"


def edited(data: bytes, lay: jpeg.Layout, edit: Callable[[Path], None]) -> bytes | None:
    """`data` (a whole JPEG, laid out as `lay`) with `edit` applied to its header, or None when
    that cannot be done this way. `edit` changes the file it is given in place."""
    scan = jpeg.scan_header_end(data, lay)
    if scan is None:
        return None
    head = data[:scan] + TOKEN_SCAN
    try:
        with scratch.folder("head") as work:
            file = work / "head.jpg"
            file.write_bytes(head)
            edit(file)
            got = file.read_bytes()
    except (EmowatchError, OSError):  # (OSError: the system's temp folder full or unwritable)
        return None  # the whole file may still be editable: the caller tries that
    try:
        got_lay = jpeg.layout(got)
    except EmowatchError:
        return None
    got_scan = jpeg.scan_header_end(got, got_lay)
    if got_scan is None or got[got_lay.scan:] != head[lay.scan:]:
        return None  # the SOS header or the token scan changed, or something was appended
    if not _mpf_moves_with_images(data, lay, got, got_lay):
        return None
    view = memoryview(data)
    return b"".join((memoryview(got)[:got_lay.scan], view[lay.scan:]))


def whole_file_needed(data: bytes, lay: jpeg.Layout, info: dict) -> bool:
    """Whether exiftool must see more of `data` than its header to edit it right (`info`: its
    `-j -G1 -a` listing). A maker note pointing at a preview after the image data (Minolta,
    Olympus, Sony, Samsung): exiftool resets the pointer to where it writes the preview, which
    in a header alone is right after the token scan, so in the joined file into the image data.
    Bytes after the photo that are not the images its MPF index lists: a trailer exiftool reads
    and rewrites along with the header (AFCP's copy of the IPTC, Leica's maker note). And a
    pointer exiftool lists under no offset's name (Sony's PreviewImage, into the MPF preview),
    which exif_pointers finds in the maker note itself."""
    return (bool(pointers_past(info, lay.scan)) or not _only_mpf_images_after(data, lay)
            or bool(exif_pointers.pointed(data, lay)))


_POINTER = re.compile(r"(Start|Offset|Offsets)$")


def pointers_past(info: dict, scan: int) -> dict[str, list[int]]:
    """The offsets exiftool lists (file offsets) that point at or past `scan`, by tag."""
    out = {}
    for key, value in info.items():
        group, _, name = key.partition(":")
        if group.startswith("MPImage") or not _POINTER.search(name):
            continue  # (MPF offsets count from the MPF segment: _mpf_moves_with_images)
        numbers = numbers_in(value)
        if any(n >= scan for n in numbers):
            out[key] = numbers
    return out


def numbers_in(value: object) -> list[int]:
    """The whole numbers in a value as exiftool lists it ("107392", "1234 5678")."""
    return [int(n) for n in re.findall(r"\d+", str(value))]


def _only_mpf_images_after(data: bytes, lay: jpeg.Layout) -> bool:
    """Whether the photo's end marker is followed by nothing, or by exactly the images its
    MPF index lists, one after the other."""
    at = jpeg.image_end(data, lay)
    if at is None:
        return False
    if at == len(data):
        return True
    try:
        images = sorted(_mpf_images(data, lay))
    except struct.error:
        return False
    for start, size in images:
        if start != at:
            return False
        at += size
    return bool(images) and at == len(data)


def _mpf_images(data: bytes, lay: jpeg.Layout) -> list[tuple[int, int]]:
    """(offset in the file, size) of each image the MPF index lists after the first."""
    segs = lay.mpf(data)
    if len(segs) != 1:
        return []
    return [(start, size) for _, size, start in jpeg.mpf_images(data, segs[0])]


def _mpf_moves_with_images(old: bytes, old_lay: jpeg.Layout, new: bytes, new_lay: jpeg.Layout) -> bool:
    """MPF offsets count from the MPF segment itself: the images after EOI must move by as many
    bytes as that segment does, or every offset would point into the wrong bytes."""
    before = [s.start for s in old_lay.mpf(old)]
    after = [s.start for s in new_lay.mpf(new)]
    if len(before) != len(after):
        return False
    shift = new_lay.scan - old_lay.scan
    return all(b - a == shift for a, b in zip(before, after))
