"""What makes a TIFF's or DNG's pictures: each image's data and the tags its decoding reads.

Images are IFD0, the IFDs chained after it (pages) and the SubIFDs each one points to (a DNG's
raw data and previews), depth-first. For each image every tag is hashed except those that only
describe the photo (text, dates, ratings, resolution, the XMP/IPTC/Photoshop blocks, pointers to
the EXIF and GPS IFDs, the ICC profile - left out like a JPEG's APP2 and a PNG's iCCP: nothing
here colour-manages), so a tag a decoder may read (dimensions, samples, compression,
photometric, predictor, tiles, colour map, JPEG tables, subsampling, extra samples, orientation,
a DNG's CFA and colour tags) is never missed; of the first image's XMP, the orientation Pillow
falls back to when the EXIF has none (`orientation.xmp`). Values are hashed, never positions:
strips, tiles and an embedded JPEG by the bytes their offsets point at (exiftool moves them when
it rewrites a file), integers as numbers (a SHORT rewritten as a LONG is the same value), and
out-of-line values by their content. Classic TIFF and BigTIFF, either byte order.
"""

from __future__ import annotations

import struct

import numpy as np

from . import orientation
from .source import Malformed, Source

MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
MAX_IFDS = 1024
MAX_ENTRIES = 4096
MAX_DEPTH = 4  # SubIFDs of SubIFDs of ...
MAX_PIECES = 1 << 20  # strips and tiles in all (a Python loop and list entry each)

_DATA = {273: 279, 324: 325, 513: 514}  # StripOffsets, TileOffsets, JPEGInterchangeFormat -> their sizes
_SIZES = frozenset(_DATA.values())
_SUBIFDS = 330
_XMP = 0x02BC
_SLICE = 1 << 16  # numbers of a value hashed at a time
# old-style JPEG's per-component tables: offsets to data of no recorded size, so they cannot be
# hashed by content; such a file gets no digest
_UNSUPPORTED = frozenset({519, 520, 521})
_DESCRIBES = frozenset({
    0x000B,  # ProcessingSoftware
    0x010D, 0x010E, 0x010F, 0x0110,  # DocumentName, ImageDescription, Make, Model
    0x011A, 0x011B, 0x0128,  # XResolution, YResolution, ResolutionUnit
    0x011D, 0x0120, 0x0121,  # PageName, FreeOffsets, FreeByteCounts
    0x0131, 0x0132, 0x013B, 0x013C,  # Software, DateTime, Artist, HostComputer
    0x83BB, 0x8649,  # IPTC, Photoshop resources (XMP: _XMP)
    0x4746, 0x4749,  # Rating, RatingPercent
    0x800D, 0x8298,  # ImageID, Copyright
    0x8769, 0x8825, 0xA005,  # EXIF, GPS and interoperability IFDs
    0x8773,  # ICC profile
    0x9003, 0x9004, 0x9010, 0x9011, 0x9012,  # dates and their time zones (TIFF/EP puts them here)
    0x9211, 0x9212, 0x9213, 0x927C, 0x9286,  # ImageNumber, SecurityClassification, ImageHistory,
                                             # MakerNote, UserComment
    0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F,  # Windows XPTitle .. XPSubject (XPKeywords)
    0xA420, 0xA430, 0xA431, 0xA432, 0xA433, 0xA434, 0xA435,  # ImageUniqueID, owner, serial, lens
    0xC4A5,  # PrintIM
    0xC62F, 0xC630, 0xC634, 0xC65D,  # DNG CameraSerialNumber, LensInfo, DNGPrivateData, RawDataUniqueID
    0xC68B, 0xC68C, 0xC71D,  # DNG OriginalRawFileName, OriginalRawFileData, OriginalRawFileDigest
    0xC71B,  # DNG PreviewDateTime
    0xC6F5,  # DNG ExtraCameraProfiles: offsets to profile IFDs, which neither decoder here reads
})

# type -> (bytes per value, numpy dtype of a value's numbers, or None for raw bytes)
_TYPES = {
    1: (1, None), 2: (1, None), 7: (1, None), 6: (1, "i1"),  # BYTE, ASCII, UNDEFINED, SBYTE
    3: (2, "u2"), 8: (2, "i2"), 4: (4, "u4"), 9: (4, "i4"), 13: (4, "u4"),  # SHORT, LONG, IFD
    5: (8, "u4"), 10: (8, "i4"),  # (S)RATIONAL: two numbers each
    11: (4, "f4"), 12: (8, "f8"),  # FLOAT, DOUBLE
    16: (8, "u8"), 17: (8, "i8"), 18: (8, "u8"),  # BigTIFF's LONG8, SLONG8, IFD8
}


def feed(src: Source, h) -> None:
    """Hash the pictures of the TIFF in `src` into `h`; Malformed if its structure is broken."""
    head = src.read(0, 8)
    if head[:4] not in MAGIC:
        raise Malformed("not a TIFF")
    layout = _Layout(src, "<" if head[:2] == b"II" else ">", big=head[:4] in MAGIC[2:])
    if layout.big:
        if struct.unpack(layout.e + "HH", head[4:8]) != (8, 0):
            raise Malformed("BigTIFF with an offset size other than 8")
        (first,) = struct.unpack(layout.e + "Q", src.read(8, 8))
    else:
        (first,) = struct.unpack(layout.e + "I", head[4:8])
    h.update(b"tiff")
    offset, pages = first, 0
    while offset:
        offset = layout.image(h, offset, f"page {pages}", 0)
        pages += 1
    if pages == 0:
        raise Malformed("no image")


class _Layout:
    def __init__(self, src: Source, e: str, big: bool):
        self.src, self.e, self.big = src, e, big
        self.seen: set[int] = set()
        self.pieces = 0

    def image(self, h, offset: int, label: str, depth: int) -> int:
        """Hash the image whose IFD is at `offset`, then its SubIFDs; the next IFD's offset."""
        if offset in self.seen or len(self.seen) >= MAX_IFDS or depth > MAX_DEPTH:
            raise Malformed(f"IFD at {offset}: a loop, or too many IFDs")
        self.seen.add(offset)
        values, following = self._entries(offset)
        if _UNSUPPORTED & values.keys():
            raise Malformed("old-style JPEG tables")
        h.update(label.encode())
        xmp = values.pop(_XMP, None)
        if self.seen == {offset}:  # the first image's, which Pillow reads
            h.update(orientation.xmp(xmp[2] if xmp else b""))
        for tag in sorted(values):
            if tag in _DATA or tag in _SIZES or tag == _SUBIFDS:
                continue
            typ, count, data = values[tag]
            h.update(struct.pack("<HHQ", tag, typ if _TYPES[typ][1] is None else 0, count))
            self._feed_value(h, typ, data)
        if not _DATA.keys() & values.keys():
            raise Malformed(f"IFD at {offset} has no image data")
        for where, size in _DATA.items():
            if where in values:
                self._feed_data(h, where, values[where], values.get(size))
        if _SUBIFDS in values:
            typ, _, data = values[_SUBIFDS]
            for i, sub in enumerate(self._numbers(typ, data).tolist()):
                self.image(h, int(sub), f"{label} sub {i}", depth + 1)
        return following

    def _entries(self, offset: int) -> tuple[dict[int, tuple[int, int, bytes]], int]:
        """{tag: (type, count, value bytes)} of the IFD at `offset` but the describing tags, and
        the next IFD's offset."""
        e, big = self.e, self.big
        count_size, entry_size, inline = (8, 20, 8) if big else (2, 12, 4)
        (count,) = struct.unpack(e + ("Q" if big else "H"), self.src.read(offset, count_size))
        if count > MAX_ENTRIES:
            raise Malformed(f"{count} entries in the IFD at {offset}")
        table = self.src.read(offset + count_size, count * entry_size + inline)
        values = {}
        for i in range(count):
            entry = table[i * entry_size:(i + 1) * entry_size]
            tag, typ, n = struct.unpack(e + ("HHQ" if big else "HHI"), entry[:4 + inline])
            if tag in _DESCRIBES or (tag == _XMP and self.seen != {offset}):  # XMP: the first image's
                continue  # not even read: an embedded original raw file can be larger than the picture
            if typ not in _TYPES:
                raise Malformed(f"tag {tag} has unknown type {typ}")
            if tag in values:  # libtiff reads one, this another: which is shown is not known here
                raise Malformed(f"tag {tag} twice in the IFD at {offset}")
            length = n * _TYPES[typ][0]
            if length <= inline:
                data = entry[4 + inline:4 + inline + length]
            else:
                (at,) = struct.unpack(e + ("Q" if big else "I"), entry[4 + inline:])
                data = self.src.read(at, length)
            values[tag] = (typ, n, data)
        (following,) = struct.unpack(e + ("Q" if big else "I"), table[count * entry_size:])
        return values, following

    def _numbers(self, typ: int, data: bytes) -> np.ndarray:
        dtype = _TYPES[typ][1]
        if dtype is None:
            raise Malformed("an offset or size that is not a number")
        return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder(self.e))

    def _feed_value(self, h, typ: int, data: bytes) -> None:
        """Hash a value: bytes as they are, numbers as 64-bit ones (a slice at a time: a value of
        tens of megabytes would take eight times as much memory at once)."""
        dtype = _TYPES[typ][1]
        if dtype is None:
            h.update(data)
            return
        numbers = self._numbers(typ, data)
        wide = "<f8" if dtype.startswith("f") else "<i8"
        for start in range(0, len(numbers), _SLICE):
            h.update(numbers[start:start + _SLICE].astype(wide).tobytes())

    def _feed_data(self, h, tag: int, where: tuple[int, int, bytes], size: tuple[int, int, bytes] | None) -> None:
        if size is None:
            raise Malformed(f"tag {tag} without the sizes of its data")
        offsets, sizes = self._numbers(where[0], where[2]), self._numbers(size[0], size[2])
        if len(offsets) != len(sizes):
            raise Malformed(f"tag {tag}: {len(offsets)} offsets, {len(sizes)} sizes")
        self.pieces += len(offsets)
        if self.pieces > MAX_PIECES:
            raise Malformed(f"more than {MAX_PIECES} strips or tiles")
        h.update(struct.pack("<HQ", tag, len(offsets)))
        for start in range(0, len(offsets), _SLICE):
            for at, n in zip(offsets[start:start + _SLICE].tolist(), sizes[start:start + _SLICE].tolist()):
                self.src.feed(h, int(at), int(n))
