"""Is a photo file structurally whole? Cheap checks on its head and tail, no decoding.

A copy in progress, a download cut short or a network write that stalled leaves a file that
is shorter than its own structure says. These checks read at most a few kilobytes:

- JPEG: ends with the EOI marker FFD9 (trailing zero padding allowed);
- PNG: ends with the IEND chunk;
- WebP: the RIFF size covers the whole file;
- HEIF/AVIF/CR3 (ISO BMFF): the top-level boxes tile the file exactly;
- TIFF, DNG and TIFF-based raws: IFD0 and the image strips/tiles it points to lie inside.

`True` means "whole as far as we can tell"; formats we cannot judge are `True`, and the
decoder has the last word. Some whole JPEGs carry data after EOI (motion photos, maker
trailers): for those the daemon's settler gives up waiting after a few checks and lets the
decoder decide, so they cost a few seconds, never a photo.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ..formats import TIFF_TYPE_SIZES, Format, NotRegularFile, open_regular, sniff_bytes

_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TAIL = 4096


def is_complete(path: Path | str) -> bool:
    """Raises OSError (FileNotFoundError included) if the file cannot be read. Opened without
    blocking: a named pipe named like a photo would wait for a writer, and the daemon with it;
    anything but a regular file is "complete" (the pipeline then says what it is)."""
    try:
        f = open_regular(path)
    except NotRegularFile:
        return True
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return False
        head = f.read(32)
        fmt = sniff_bytes(head, Path(path).suffix)
        if fmt is Format.JPEG:
            return _jpeg_whole(f, size)
        if fmt is Format.PNG:
            return _tail(f, size, len(_PNG_IEND)) == _PNG_IEND
        if fmt is Format.WEBP:
            return size >= struct.unpack("<I", head[4:8])[0] + 8
        if head[4:8] == b"ftyp":
            return _bmff_whole(f, size)
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_whole(f, size, head)
        return True


def _tail(f, size: int, n: int) -> bytes:
    f.seek(max(0, size - n))
    return f.read(n)


def _jpeg_whole(f, size: int) -> bool:
    tail = _tail(f, size, _TAIL).rstrip(b"\x00")
    return tail.endswith(b"\xff\xd9")


def _bmff_whole(f, size: int) -> bool:
    offset = 0
    for _ in range(10_000):  # a photo has a handful of top-level boxes; stop runaway files
        if offset == size:
            return True
        f.seek(offset)
        header = f.read(16)
        if len(header) < 8:
            return False
        box = struct.unpack(">I", header[:4])[0]
        if box == 1:
            if len(header) < 16:
                return False
            box = struct.unpack(">Q", header[8:16])[0]
        elif box == 0:  # "extends to the end of the file"
            return True
        if box < 8:
            return False
        offset += box
        if offset > size:
            return False
    return False


_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_OFFSETS, _TILE_COUNTS = 273, 279, 324, 325


def _tiff_whole(f, size: int, head: bytes) -> bool:
    e = "<" if head[:2] == b"II" else ">"
    ifd = struct.unpack(e + "I", head[4:8])[0]
    if ifd < 8 or ifd + 2 > size:
        return False
    f.seek(ifd)
    count = struct.unpack(e + "H", f.read(2))[0]
    if ifd + 2 + 12 * count + 4 > size:
        return False
    entries = f.read(12 * count)
    values: dict[int, list[int]] = {}
    for i in range(count):
        tag, typ, n, raw = struct.unpack(e + "HHI4s", entries[12 * i:12 * i + 12])
        if tag not in (_STRIP_OFFSETS, _STRIP_COUNTS, _TILE_OFFSETS, _TILE_COUNTS) or typ not in (3, 4):
            continue
        width = TIFF_TYPE_SIZES[typ]
        if n * width <= 4:
            data = raw[:n * width]
        else:
            where = struct.unpack(e + "I", raw)[0]
            if where + n * width > size:
                return False
            f.seek(where)
            data = f.read(n * width)
        values[tag] = list(struct.unpack(e + ("H" if typ == 3 else "I") * n, data))
    for offsets, counts in ((_STRIP_OFFSETS, _STRIP_COUNTS), (_TILE_OFFSETS, _TILE_COUNTS)):
        if offsets in values and counts in values:
            ends = [o + c for o, c in zip(values[offsets], values[counts])]
            if ends and max(ends) > size:
                return False
    return True
