"""Pointers from a JPEG's EXIF to what follows its image data: a camera's preview.

Some cameras store a preview after the photo's end marker and point at it from their maker
note: Konica Minolta, Sony DSLRs (newer ones point into the MPF preview), Olympus E-1/E-300,
Pentax, Samsung. The pointer counts bytes from the EXIF block's TIFF header (from the file's
start for Samsung, from the maker note for Nikon-style notes); a Leica S2 or M (Typ 240) stores
the whole maker note there, and the EXIF's pointer to it is one such; a Canon with its
verification kit keeps its original decision data there, counted from the file's start. An
XMP segment that is added, grows or shrinks between the two moves the preview but not the
pointer, which then points into other bytes. exiftool knows these pointers and moves them with
the data; emowatch's own splice does not, so it first asks `pointed` whether any such pointer
would be crossed.

There is no maker-note parser here: every 4-byte value in the maker note, in either byte order,
is tried as an offset from each base against the places where something starts after the image
data: the end of the image itself, and each JPEG start (FF D8 FF; D8 FF DB one byte on, where a
Sony preview's start overlaps the segment before it, or 33 bytes on, past Sony's own header). A
value must hit one of those few exact places and have a byte count beside it that fits in the
file (every camera stores its preview's length by its offset), so a setting is seldom taken for
a pointer. When one is, the write goes through exiftool, which is slower, and its result is
checked as for a real pointer (`kept`): a setting that does not move with the data it seemed to
point at gets the photo refused, untouched.
"""

from __future__ import annotations

import array
import re
import struct

from . import jpeg

_JPEG_START = re.compile(rb"\xff\xd8\xff")
# a Sony preview inside another image: its SOI's FF is the byte before "D8 FF DB", or it has a
# 32-byte header before that byte (almost every Sony since the A700; exiftool accepts both)
_SONY_START = re.compile(rb"\xd8\xff\xdb")
_SONY_HEADERS = (1, 33)
# Canon's original decision data (Data Verification Kit), which a JPEG keeps after its image
# data: FF FF FF FF, then a 4-byte version, as exiftool recognises it
_CANON_ODD = re.compile(rb"\xff{4}.\x00\x00", re.S)
_MAKER_NOTE, _EXIF_IFD = 0x927C, 0x8769
# up to this many (target, base) pairs, each is searched for in the maker note (~10 GB/s); past
# it, the note's 4-byte values are gathered once (~17 ms for 64 KB), so that a trailer of many
# JPEG starts costs one look-up each, not one read of the note each
_SEARCHES = 64


def pointed(data: bytes, lay: jpeg.Layout, *, bases_before: int | None = None) -> set[int]:
    """The offsets past the photo's image data that a value in its maker note points at. With
    `bases_before`, only offsets counted from a base before that offset (bytes moved from there
    on take the pointers counted from their own bytes along)."""
    exif = lay.exif(data)
    if exif is None:
        return set()
    tiff = exif.body + len(jpeg.EXIF_HEADER)
    block = data[tiff:exif.end]
    note = _maker_note(block)
    if note is None:
        return set()  # (only maker notes point past the image data of a JPEG)
    targets = starts(data, lay)
    start, size = note
    bases = {0, tiff, tiff + start, tiff + start + 10}  # file, TIFF header, maker note, Nikon's header
    if bases_before is not None:
        bases = {b for b in bases if b < bases_before}
    found = set()
    if targets and min(targets) <= tiff + start < len(data):  # (the least: the image's end)
        # the maker note is itself stored after the image (Leica S2, M Typ 240, S Typ 006: a
        # trailer, its own offsets counted from the file's start): the EXIF points at it
        values = data[tiff + start:tiff + start + size]
        if tiff in bases:
            found.add(tiff + start)
    else:
        values = block[start:start + size]
    # a camera's few previews: a search of the note each; thousands of JPEG starts (a crafted
    # trailer): the note's values gathered once, each pair a look-up
    words = _words(values) if len(targets) * len(bases) > _SEARCHES else None
    for target in targets:
        for base in bases:
            value = target - base
            if base == 0 and not data.startswith(b"\xff\xd8\xff", target):
                # counted from the file's start only a preview (Samsung's), or Canon's original
                # decision data (OriginalDecisionDataOffset), which has no byte count beside
                # it: the photo's end as a number is otherwise Canon's CanonFileLength, the
                # size of the file the camera wrote
                if _CANON_ODD.match(data, target) and value < 1 << 32 and (
                        value in words if words is not None else _held(values, value)):
                    found.add(target)
                continue
            if 0 <= value < 1 << 32 and (words is None or value in words) \
                    and _with_a_length(values, value, len(data) - target):
                found.add(target)
    return found


# where a pointer's byte count sits beside it: the next or previous IFD entry's value (12 bytes;
# Minolta, Pentax, Olympus, Nikon), the entry's own count (4 bytes before: Sony's, Casio's
# UNDEFINED previews), the next word of a binary table (Samsung STMN; Canon's, 12 bytes before)
_LENGTH_AT = (-24, -20, -16, -12, -8, -4, 4, 8, 12, 16, 20, 24)
_SHORTEST = 16  # bytes: no preview is smaller


def _with_a_length(values: bytes, value: int, room: int) -> bool:
    """Whether `value` is held in `values` (either byte order) with a byte count beside it, in
    the same byte order, that fits in the `room` left in the file: every camera stores its
    preview's length by its offset, and a setting that happens to equal an offset seldom has
    such a neighbour."""
    for order in "<>":
        pattern = struct.pack(order + "I", value)
        at = values.find(pattern)
        while at >= 0:
            for d in _LENGTH_AT:
                if 0 <= at + d <= len(values) - 4:
                    (n,) = struct.unpack_from(order + "I", values, at + d)
                    if _SHORTEST <= n <= room:
                        return True
            at = values.find(pattern, at + 1)
    return False


def _held(values: bytes, value: int) -> bool:
    """Whether `value` is held in `values`, in either byte order."""
    return struct.pack("<I", value) in values or struct.pack(">I", value) in values


def _words(values: bytes) -> set[int]:
    """Every 4-byte value in `values`, at any offset, read in either byte order."""
    out: set[int] = set()
    for k in range(4):
        chunk = array.array("I", values[k:k + 4 * ((len(values) - k) // 4)])
        out.update(chunk)
        chunk.byteswap()
        out.update(chunk)
    return out


def starts(data: bytes, lay: jpeg.Layout) -> set[int]:
    """Where something may start after the photo's image data: right after its end marker, and
    at each JPEG start beyond."""
    end = jpeg.image_end(data, lay)
    if end is None or end >= len(data):
        return set()  # nothing follows the image data
    found = {end} | {m.start() for m in _JPEG_START.finditer(data, end)}
    return found | {m.start() - skip for m in _SONY_START.finditer(data, end) for skip in _SONY_HEADERS
                    if m.start() - skip >= end}


def kept(old: bytes, old_lay: jpeg.Layout, new: bytes, new_lay: jpeg.Layout) -> bool:
    """Whether everything `old`'s EXIF pointed at past its image data is still pointed at in
    `new`, whose image data and what follows are `old`'s, moved."""
    before = {t - old_lay.scan for t in pointed(old, old_lay)}
    return not before or before <= {t - new_lay.scan for t in pointed(new, new_lay)}


def _maker_note(block: bytes) -> tuple[int, int] | None:
    """(offset, size) of the maker note in an EXIF block (TIFF header first), if it has one."""
    order = {b"II": "<", b"MM": ">"}.get(block[:2])
    if order is None:
        return None
    try:
        (ifd0,) = struct.unpack_from(order + "I", block, 4)
        exif_ifd = _entry(block, order, ifd0, _EXIF_IFD)
        note = None if exif_ifd is None else _entry(block, order, exif_ifd[1], _MAKER_NOTE)
    except struct.error:
        return None
    if note is None or note[0] <= 4:
        return None  # (a note of 4 bytes or fewer sits in the entry itself: no pointers)
    return note[1], note[0]


def _entry(block: bytes, order: str, ifd: int, wanted: int) -> tuple[int, int] | None:
    """(count, value) of tag `wanted` in the IFD at `ifd`."""
    (count,) = struct.unpack_from(order + "H", block, ifd)
    for i in range(count):
        tag, _kind, n, value = struct.unpack_from(order + "HHII", block, ifd + 2 + 12 * i)
        if tag == wanted:
            return n, value
    return None
