"""The XMP segment of a JPEG: find it, and splice a new one in with every other byte kept.

A JPEG is SOI, marker segments (APPn, DQT, ...), then from the first SOS on the entropy-coded
image data up to EOI (and whatever a camera appends after it). Only the segments before the
first SOS are looked at; everything from SOS to the end of the file is carried over untouched.
XMP lives in one APP1 segment whose payload starts with `http://ns.adobe.com/xap/1.0/\\0`; a
segment holds at most 65,533 payload bytes, so the packet at most 65,502 (XMP spec part 3,
1.1.3). Larger XMP spills into "extended XMP" APP1 segments (`http://ns.adobe.com/xmp/
extension/\\0`, a 32-byte GUID, total length, offset, data) that the main packet names in
xmpNote:HasExtendedXMP.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DecodeError, IncompleteFileError, MetadataError
from . import props
from .packet import NS_XMPNOTE, parse, q

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXT_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
EXIF_HEADER = b"Exif\x00\x00"
PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"
MPF_HEADER = b"MPF\x00"
MAX_PACKET = 65502
APP0, APP1, APP2, APP13, SOS, EOI = 0xE0, 0xE1, 0xE2, 0xED, 0xDA, 0xD9
_STANDALONE = {0x01} | set(range(0xD0, 0xD8))


@dataclass(frozen=True)
class Segment:
    marker: int
    start: int  # offset of its first 0xFF (fill bytes included)
    end: int  # offset just past it
    body: int  # offset of its payload

    def payload(self, data: bytes) -> bytes:
        return data[self.body : self.end]


@dataclass(frozen=True)
class Layout:
    """The header segments of a JPEG and where its image data starts."""

    segments: tuple[Segment, ...]
    scan: int  # offset of the first SOS marker: from here on, nothing is ever changed
    found_end: list = field(default_factory=list, compare=False, repr=False)  # image_end's answer

    def xmp(self, data: bytes) -> Segment | None:
        found = [s for s in self.segments if s.marker == APP1
                 and s.payload(data).startswith(XMP_HEADER)]
        if len(found) > 1:
            raise MetadataError(f"JPEG has {len(found)} XMP segments; emowatch will not guess "
                                "which one applications read")
        return found[0] if found else None

    def extended(self, data: bytes) -> list[Segment]:
        return [s for s in self.segments if s.marker == APP1
                and s.payload(data).startswith(EXT_HEADER)]

    def exifs(self, data: bytes) -> list[Segment]:
        """The Exif APP1 segments (readers use the first)."""
        return [s for s in self.segments if s.marker == APP1 and s.payload(data).startswith(EXIF_HEADER)]

    def exif(self, data: bytes) -> Segment | None:
        """The first Exif APP1 segment: the one readers use."""
        found = self.exifs(data)
        return found[0] if found else None

    def has_exif(self, data: bytes) -> bool:
        return bool(self.exifs(data))

    def mpf(self, data: bytes) -> list[Segment]:
        """The APP2 segments holding a multi-picture (MPF, CIPA DC-007) index."""
        return [s for s in self.segments if s.marker == APP2 and s.payload(data).startswith(MPF_HEADER)]

    def has_photoshop(self, data: bytes) -> bool:
        return any(s.marker == APP13 and s.payload(data).startswith(PHOTOSHOP_HEADER)
                   for s in self.segments)


def layout(data: bytes, path: Path | None = None) -> Layout:
    """Parse the header segments; DecodeError for what is not a complete JPEG."""
    if not data:
        raise DecodeError("file is empty", path)
    if not data.startswith(b"\xff\xd8"):
        raise DecodeError("not a JPEG (no start-of-image marker)", path)
    segments = []
    pos = 2
    while True:
        start = pos
        if pos >= len(data):
            raise IncompleteFileError("JPEG is truncated (it ends before its image data)", path)
        if data[pos] != 0xFF:
            raise DecodeError(f"JPEG is corrupt (no marker at byte {pos})", path)
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        if pos >= len(data):
            raise IncompleteFileError("JPEG is truncated (it ends before its image data)", path)
        marker = data[pos]
        pos += 1
        if marker == SOS:
            break
        if marker == EOI:
            raise DecodeError("JPEG has no image data (end marker before any scan)", path)
        if marker in _STANDALONE:
            segments.append(Segment(marker, start, pos, pos))
            continue
        if pos + 2 > len(data):
            raise IncompleteFileError("JPEG is truncated (inside a marker segment)", path)
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2:
            raise DecodeError(f"JPEG is corrupt (segment length {length} at byte {pos})", path)
        if pos + length > len(data):
            raise IncompleteFileError("JPEG is truncated (inside a marker segment)", path)
        segments.append(Segment(marker, start, pos + length, pos + 2))
        pos += length
    # entropy-coded data never holds FF D9 (FF is stuffed as FF 00): no EOI means cut short
    # (searched from the end, where it is, instead of through megabytes of scan data)
    if data.rfind(b"\xff\xd9", start) < 0:
        raise IncompleteFileError("JPEG is truncated (no end-of-image marker)", path)
    return Layout(tuple(segments), start)


def read_packet(data: bytes, lay: Layout) -> bytes | None:
    seg = lay.xmp(data)
    return seg.payload(data)[len(XMP_HEADER):] if seg else None


def scan_header_end(data: bytes, lay: Layout) -> int | None:
    """Offset just past the first SOS segment's header (its marker, length and fields)."""
    at = lay.scan
    while at < len(data) and data[at] == 0xFF:  # fill bytes, then the SOS marker itself
        at += 1
    if at + 3 > len(data) or data[at] != SOS:
        return None
    (length,) = struct.unpack_from(">H", data, at + 1)
    end = at + 1 + length
    return end if length >= 2 and end <= len(data) else None


def image_end(data: bytes, lay: Layout) -> int | None:
    """Offset just past the photo's own end marker: what follows (previews, gain maps, a
    camera's trailer) is not the photo. (Kept in `lay`, the layout of these bytes: one write
    asks up to four times, ~0.6 ms for 3.5 MB each.)"""
    if not lay.found_end:
        header_end = scan_header_end(data, lay)
        lay.found_end.append(None if header_end is None else _end_marker(data, header_end))
    return lay.found_end[0]


_CHUNK = 1 << 20


def _end_marker(data: bytes, start: int) -> int | None:
    """Offset just past the first FF D9 at or after `start` (entropy-coded data never holds
    one). numpy looks for D9 bytes preceded by FF a megabyte at a time: half the time of a
    regex, a third of bytes.find's, both of which stall on the many FF bytes of JPEG data.
    (numpy is imported when a search is made, not whenever the metadata code is.)"""
    import numpy as np

    view = np.frombuffer(data, np.uint8)
    for lo in range(start, len(data) - 1, _CHUNK):
        part = view[lo:min(lo + _CHUNK + 1, len(data))]  # one byte more: a pair across chunks
        at = np.flatnonzero(part[1:] == 0xD9)
        at = at[part[at] == 0xFF]
        if len(at):
            return lo + int(at[0]) + 2
    return None


# (start, end, new): data[start:end] becomes `new`
Edit = tuple[int, int, bytes]


def splice(data: bytes, lay: Layout, packet: bytes | None, also: Edit | None = None) -> bytes:
    """The JPEG with its XMP packet replaced (None: removed), every other byte kept.

    A new segment goes after JFIF's APP0 and the Exif APP1, where the XMP spec and exiftool put
    it and where readers look first. `also`: one more segment replaced in the same copy of the
    file (the EXIF, where emowatch writes XPKeywords: xp_keywords.exif_edit).
    """
    named = [(e, what) for e, what in ((_splice_plan(data, lay, packet), "XMP"), (also, "EXIF"))
             if e is not None and (e[0] != e[1] or e[2])]
    if not named:
        return data  # nothing to remove
    for (start, end, new), what in named:
        _check_mpf(data, lay, start, len(new) - (end - start), what)
    return join_all(data, [e for e, _ in named])


def size_change(data: bytes, lay: Layout, packet: bytes | None) -> tuple[int, int]:
    """(offset, bytes): where splicing `packet` in makes the file grow or shrink, and by how
    much; everything from that offset on moves by as many bytes."""
    cut, resume, insert = _splice_plan(data, lay, packet)
    return cut, len(insert) - (resume - cut)


def _splice_plan(data: bytes, lay: Layout, packet: bytes | None) -> tuple[int, int, bytes]:
    """(cut, resume, insert): the new file is data[:cut] + insert + data[resume:]."""
    seg = lay.xmp(data)
    if packet is None:
        return (0, 0, b"") if seg is None else (seg.start, seg.end, b"")
    if len(packet) > MAX_PACKET:
        raise MetadataError(f"the XMP packet would be {len(packet):,} bytes, more than the "
                            f"{MAX_PACKET:,} a JPEG segment holds; nothing was written")
    new = b"\xff\xe1" + struct.pack(">H", 2 + len(XMP_HEADER) + len(packet)) + XMP_HEADER + packet
    if seg is not None:
        return seg.start, seg.end, new
    at = 2
    for s in lay.segments:
        if s.marker == APP0 or (s.marker == APP1 and s.payload(data).startswith(EXIF_HEADER)):
            at = s.end
        else:
            break
    return at, at, new


def _check_mpf(data: bytes, lay: Layout, at: int, delta: int, what: str = "XMP") -> None:
    """Refuse to move bytes that a multi-picture index (MPF, CIPA DC-007) points across.

    MPF gives the offsets of the further images (camera previews, gain maps, depth maps) after
    EOI relative to its own APP2 segment: growing or shrinking a segment before MPF moves both
    alike, but one after it would leave every offset pointing into the wrong bytes.
    """
    if delta and any(s.start < at for s in lay.mpf(data)):
        raise MetadataError(f"JPEG's {what} sits after its multi-picture (MPF) index, and resizing it "
                            "would break the offsets of the other images; nothing was written")


def mpf_images(data: bytes, seg: Segment) -> list[tuple[int, int, int]]:
    """(MP attribute, size, offset in the file) of each further image an MPF index lists (the
    photo itself, offset 0, left out). Raises struct.error for an index that runs out of bytes."""
    tiff = seg.payload(data)[len(MPF_HEADER):]
    base = seg.body + len(MPF_HEADER)  # offsets count from this TIFF header
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(tiff[:4])
    if order is None:
        return []
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for i in range(count):
        tag, kind, n, value = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * i)
        if tag == 0xB002 and kind == 7:  # MPEntry, UNDEFINED: 16 bytes per image
            entries = (struct.unpack_from(order + "III", tiff, value + 16 * k) for k in range(n // 16))
            return [(attr, size, base + offset) for attr, size, offset in entries if offset > 0]
    return []


def join(data: bytes, cut: int, insert: bytes, resume: int) -> bytes:
    """data[:cut] + insert + data[resume:], copying the megabytes once, not three times."""
    return join_all(data, [(cut, resume, insert)])


def join_all(data: bytes, edits: list[Edit]) -> bytes:
    """`data` with every edit made, in one copy of the megabytes. Edits may touch but not
    overlap (ValueError)."""
    view, parts, at = memoryview(data), [], 0
    for start, end, new in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < at or end < start:
            raise ValueError(f"edits overlap at byte {start}")
        parts += [view[at:start], new]
        at = end
    parts.append(view[at:])
    return b"".join(parts)


def same_tail(old: bytes, old_at: int, new: bytes, new_at: int) -> bool:
    """old[old_at:] == new[new_at:] without copying either (a memcmp)."""
    return (len(old) - old_at == len(new) - new_at
            and new.startswith(memoryview(old)[old_at:], new_at))


def check_extended(data: bytes, lay: Layout, main: bytes | None, touched: tuple[str, ...]) -> None:
    """Refuse a JPEG whose extended XMP we cannot leave alone safely.

    Leaving the extension segments byte-identical is correct (their GUID is the MD5 of their
    own content, not of the main packet) as long as they are complete and hold none of the
    properties we edit - else a reader would merge two conflicting keyword lists.
    """
    segs = lay.extended(data)
    if not segs:
        return
    guid = props.simple(parse(main), q(NS_XMPNOTE, "HasExtendedXMP")) if main else None
    if not guid:
        raise MetadataError("JPEG has extended XMP segments that no main XMP packet refers to; "
                            "emowatch will not rewrite it")
    parts: dict[int, bytes] = {}
    total = None
    for s in segs:
        body = s.payload(data)[len(EXT_HEADER):]
        if len(body) < 40 or body[:32].decode("ascii", "replace") != guid:
            continue  # another GUID: not the extension readers use; left as it is
        total, offset = struct.unpack_from(">II", body, 32)
        parts[offset] = body[40:]
    joined = b"".join(parts[k] for k in sorted(parts))
    if total is None or len(joined) != total or hashlib.md5(joined).hexdigest().upper() != guid.upper():
        raise MetadataError("JPEG's extended XMP is incomplete or corrupt; emowatch will not "
                            "rewrite it")
    ext = parse(joined)
    for tag in touched:
        if props.properties(ext, tag) or props.simple(ext, tag) is not None:
            raise MetadataError("JPEG keeps its keywords in extended XMP, which emowatch does not "
                                "rewrite; use a tool that rewrites extended XMP first")


def has_iptc_keywords(data: bytes, lay: Layout) -> bool:
    """Whether the APP13 Photoshop block holds IPTC keywords (IIM dataset 2:25)."""
    for s in lay.segments:
        body = s.payload(data)
        if s.marker == APP13 and body.startswith(PHOTOSHOP_HEADER):
            iim = _irb_resource(body[len(PHOTOSHOP_HEADER):], 0x0404)
            if iim is not None and _iim_has(iim, 2, 25):
                return True
    return False


def _irb_resource(irb: bytes, wanted: int) -> bytes | None:
    """One Photoshop image resource: '8BIM', id, padded Pascal name, size, padded data."""
    pos = 0
    while pos + 12 <= len(irb) and irb[pos : pos + 4] == b"8BIM":
        (rid,) = struct.unpack_from(">H", irb, pos + 4)
        name_len = irb[pos + 6]
        pos += 6 + ((name_len + 2) & ~1)
        if pos + 4 > len(irb):
            break
        (size,) = struct.unpack_from(">I", irb, pos)
        pos += 4
        if rid == wanted:
            return irb[pos : pos + size]
        pos += (size + 1) & ~1
    return None


def _iim_has(iim: bytes, record: int, dataset: int) -> bool:
    pos = 0
    while pos + 5 <= len(iim) and iim[pos] == 0x1C:
        rec, ds = iim[pos + 1], iim[pos + 2]
        (size,) = struct.unpack_from(">H", iim, pos + 3)
        pos += 5
        if size & 0x8000:  # extended dataset: the next (size & 0x7fff) bytes hold the length
            n = size & 0x7FFF
            size = int.from_bytes(iim[pos : pos + n], "big")
            pos += n
        if (rec, ds) == (record, dataset):
            return True
        pos += size
    return False


def same_except(old: bytes, old_lay: Layout, new: bytes, new_lay: Layout,
                may_change: tuple[bytes, ...]) -> bool:
    """Whether `new` keeps every byte of `old` but the segments whose payloads start with one of
    `may_change`: image data from SOS on identical, other segments identical and in order."""
    if not same_tail(old, old_lay.scan, new, new_lay.scan):
        return False

    def kept(data: bytes, lay: Layout) -> list[bytes]:
        return [data[s.start : s.end] for s in lay.segments
                if not (s.marker in (APP1, APP13) and s.payload(data).startswith(may_change))]

    return kept(old, old_lay) == kept(new, new_lay)
