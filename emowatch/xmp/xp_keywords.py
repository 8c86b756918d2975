"""EXIF XPKeywords (what Windows shows as a photo's Tags) in a JPEG, read and written without
re-serialising its EXIF.

XPKeywords (tag 0x9C9E) lives in the EXIF block's IFD0 as UTF-16LE text ending in a null
character. Adding an entry to IFD0 where it is would shift everything stored after its entry
table, and every offset that points there with it (a maker note relies on its own). So IFD0 is
not edited in place: a copy of it, with the XPKeywords entry added, changed or removed, is
appended at the end of the EXIF block, and the TIFF header's offset of IFD0 (4 bytes) is pointed
at the copy. Every other byte of the block keeps its place: the Exif, GPS and thumbnail IFDs,
their values, the maker note. The old IFD0 stays behind, unreferenced, its bytes intact. A copy
that is the last thing in the block (emowatch's own, from an earlier tag) is replaced instead of
appended to again, so re-tagging does not make the block grow; removing XPKeywords that were
all emowatch's points the header back at the old IFD0, so untagging gives the block back byte
for byte.

`read` answers None for a block it cannot parse with certainty (another byte order mark, an
entry or value outside the block, two XPKeywords entries, text that is not UTF-16), and
`editable` False for one whose IFD0 values could not all be checked: such a photo is left to
exiftool. `same_but_keywords` is the check a rewritten block must pass before it is written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import MetadataError
from ..formats import TIFF_TYPE_SIZES
from . import jpeg

XP_KEYWORDS = 0x9C9E
_BYTE = 1  # how exiftool and Windows store it: int8u[n]
_ORDERS = {b"II*\x00": "<", b"MM\x00*": ">"}
# room an APP1 segment's payload has (65,535 less its 2-byte length)
_SEGMENT_ROOM = 65533
# characters of XPKeywords a block must have room for before it is written this way: ROOM_ASKED
# in all, and ROOM_MORE beyond the text already there (a user's long list of words)
ROOM_ASKED = 1024
ROOM_MORE = 256


@dataclass(frozen=True)
class Ifd0:
    """IFD0 of an EXIF block as stored: `offset` in the block, its 12-byte entries, the 4-byte
    offset of the next IFD (the thumbnail's), and XPKeywords' text (None: no such entry)."""

    order: str
    offset: int
    entries: tuple[bytes, ...]
    next_ifd: bytes
    xp: str | None

    def tag(self, entry: bytes) -> int:
        return struct.unpack_from(self.order + "H", entry)[0]

    def others(self) -> list[bytes]:
        """The entries other than XPKeywords', in order."""
        return [e for e in self.entries if self.tag(e) != XP_KEYWORDS]

    def end(self) -> int:
        """Offset just past the entry table and next-IFD offset."""
        return self.offset + 2 + 12 * len(self.entries) + 4


def read(block: bytes) -> Ifd0 | None:
    """IFD0 of an EXIF block, or None where it cannot be read with certainty."""
    order = _ORDERS.get(block[:4])
    if order is None or len(block) < 8:
        return None
    (offset,) = struct.unpack_from(order + "I", block, 4)
    if offset < 8 or offset % 2 or offset + 2 > len(block):
        return None
    (count,) = struct.unpack_from(order + "H", block, offset)
    end = offset + 2 + 12 * count + 4
    if end > len(block):
        return None
    entries = tuple(block[offset + 2 + 12 * i: offset + 14 + 12 * i] for i in range(count))
    xp = [e for e in entries if struct.unpack_from(order + "H", e)[0] == XP_KEYWORDS]
    if len(xp) > 1:
        return None
    text = None
    if xp:
        raw = _value(block, order, xp[0])
        text = None if raw is None else _text(raw)
        if text is None:
            return None  # XPKeywords that exiftool reads its own way (another type, damaged)
    return Ifd0(order, offset, entries, block[end - 4:end], text)


def _value(block: bytes, order: str, entry: bytes) -> bytes | None:
    """The bytes of a BYTE/UNDEFINED entry's value, or None (another type, outside the block)."""
    _tag, kind, n, at = struct.unpack_from(order + "HHII", entry)
    if kind not in (1, 7):
        return None
    if n <= 4:
        return entry[8:8 + n]
    return block[at:at + n] if at >= 8 and at + n <= len(block) else None


def _text(raw: bytes) -> str | None:
    """The text of XPKeywords' bytes, or None where exiftool may read another: an odd length,
    a null inside, or a byte order mark, which exiftool honours (FE FF: big-endian) and drops."""
    if len(raw) % 2 or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    try:
        text = raw.decode("utf-16-le").rstrip("\x00")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _spans(block: bytes, ifd: Ifd0, entries: list[bytes]) -> list[tuple[int, int]] | None:
    """Where the out-of-line values of `entries` lie in the block; None for a type not known."""
    out = []
    for e in entries:
        _tag, kind, n, at = struct.unpack_from(ifd.order + "HHII", e)
        size = TIFF_TYPE_SIZES.get(kind)
        if size is None:
            return None
        if size * n > 4:
            out.append((at, at + size * n))
    return out


# links to further IFDs: Exif, GPS, SubIFDs (in IFD0), Interoperability (in the Exif IFD)
_SUB_IFDS = (0x8769, 0x8825, 0x014A, 0xA005)
# image data an IFD points at, offsets -> byte counts: a JPEG thumbnail, a TIFF one's strips
_IMAGE_DATA = {0x0201: 0x0202, 0x0111: 0x0117}
_MOST_IFDS = 64


def _numbers(block: bytes, order: str, entry: bytes) -> list[int]:
    """The SHORT/LONG/IFD numbers an entry holds ([] for another type, or values outside the
    block, which its span shows)."""
    _tag, kind, n, at = struct.unpack_from(order + "HHII", entry)
    code = {3: "H", 4: "I", 13: "I"}.get(kind)
    if code is None:
        return []
    size = TIFF_TYPE_SIZES[kind] * n
    raw = entry[8:8 + size] if size <= 4 else block[at:at + size]
    return list(struct.unpack(order + code * n, raw)) if len(raw) == size else []


def _linked(block: bytes, ifd: Ifd0) -> list[tuple[int, int]] | None:
    """Where what IFD0 links to lies: the Exif, GPS, Interoperability and SubIFDs' tables,
    the next IFDs (the thumbnail's IFD1), their out-of-line values and image data. None past
    _MOST_IFDS of them. The copy of IFD0 goes after the block's end: a link that points
    there, in a block cut short, would make a reader take the copy for another IFD. (A maker
    note's own offsets are not followed: its bytes, and those they count from, are kept.)"""
    order = ifd.order
    out: list[tuple[int, int]] = []
    todo = [(at, ifd.tag(e) == 0x014A) for e in ifd.others()
            if ifd.tag(e) in _SUB_IFDS for at in _numbers(block, order, e)]
    todo += [(at, True) for at in struct.unpack(order + "I", ifd.next_ifd) if at]
    seen: set[int] = set()
    while todo:
        at, chained = todo.pop()  # chained: readers follow its next-IFD link
        if at in seen:
            continue  # (a loop: read once)
        seen.add(at)
        if len(seen) > _MOST_IFDS:
            return None
        if at + 2 > len(block):
            out.append((at, at + 2))
            continue
        (count,) = struct.unpack_from(order + "H", block, at)
        end = at + 2 + 12 * count + 4
        out.append((at, end))
        if end > len(block):
            continue
        entries = [block[at + 2 + 12 * i:at + 14 + 12 * i] for i in range(count)]
        # (an entry of a type no reader knows the size of points nowhere a reader goes)
        known = [e for e in entries if struct.unpack_from(order + "H", e, 2)[0] in TIFF_TYPE_SIZES]
        out += _spans(block, ifd, known) or []
        numbers = {ifd.tag(e): _numbers(block, order, e) for e in entries}
        for where, sizes in _IMAGE_DATA.items():
            out += [(o, o + n) for o, n in zip(numbers.get(where, []), numbers.get(sizes, []))]
        todo += [(o, tag == 0x014A) for tag in _SUB_IFDS for o in numbers.get(tag, [])]
        if chained:
            todo += [(o, True) for o in struct.unpack_from(order + "I", block, end - 4) if o]
    return out


def _tail_copy(block: bytes, ifd: Ifd0) -> bool:
    """Whether IFD0 is the last thing in the block, only its XPKeywords' value after it, and
    none of its other values beyond its start: a copy appended before, to be replaced."""
    end = ifd.end()
    for e in ifd.entries:
        if ifd.tag(e) == XP_KEYWORDS:
            _tag, _kind, n, at = struct.unpack_from(ifd.order + "HHII", e)
            if n > 4 and at == end:
                end += n
    spans = _spans(block, ifd, ifd.others())
    return end == len(block) and spans is not None and all(stop <= ifd.offset for _, stop in spans)


def with_keywords(block: bytes, ifd: Ifd0, text: str) -> bytes:
    """The EXIF block with XPKeywords holding `text` ("" removes the entry), IFD0 copied to its
    end (or over the copy already there). Removing them points the header back at the IFD0
    the block had before they were added, where its bytes are still there, unchanged: a photo
    untagged is then the photo it was."""
    order = ifd.order
    value = text.encode("utf-16-le", "surrogatepass") + b"\x00\x00" if text else b""
    cut = ifd.offset if _tail_copy(block, ifd) else len(block)
    entries = ifd.others()
    if not value:
        table = struct.pack(order + "H", len(entries)) + b"".join(entries) + ifd.next_ifd
        earlier = _only_copy(block, table, cut)
        if earlier is not None:
            return block[:4] + struct.pack(order + "I", earlier) + block[8:cut]
    base = cut + cut % 2  # a pad byte keeps the copy at an even offset
    if value:
        after = base + 2 + 12 * (len(entries) + 1) + 4
        field = value.ljust(4, b"\x00") if len(value) <= 4 else struct.pack(order + "I", after)
        entry = struct.pack(order + "HHI", XP_KEYWORDS, _BYTE, len(value)) + field
        at = next((i for i, e in enumerate(entries) if ifd.tag(e) > XP_KEYWORDS), len(entries))
        entries.insert(at, entry)
    table = struct.pack(order + "H", len(entries)) + b"".join(entries) + ifd.next_ifd
    out = block[:4] + struct.pack(order + "I", base) + block[8:cut] + b"\x00" * (base - cut) + table
    return out + value if len(value) > 4 else out


def _only_copy(block: bytes, table: bytes, cut: int) -> int | None:
    """The even offset before `cut` where `table` (an IFD's bytes) is stored, if it is stored
    exactly once there."""
    at = block.find(table, 8, cut)
    if at < 0 or at % 2 or block.find(table, at + 1, cut) >= 0:
        return None
    return at


def editable(block: bytes, ifd: Ifd0, text: str) -> bool:
    """Whether XPKeywords holding `text` can be written this way: every value of IFD0's other
    entries is of a known type and inside the block, the block as rewritten passes the check
    made before the write (`same_but_keywords`), and it still fits in its APP1 segment."""
    return _checked(block, ifd, text) is not None


def _checked(block: bytes, ifd: Ifd0, text: str) -> bytes | None:
    """The block as `with_keywords` rewrites it, where that is `editable`; else None."""
    spans = _spans(block, ifd, ifd.others())
    if spans is None or any(start < 8 or stop > len(block) for start, stop in spans):
        return None
    # the size of the block as written, not an estimate: re-tagging replaces emowatch's copy at
    # the end and untagging may drop it, so a block tagged once near the limit stays writable
    written = with_keywords(block, ifd, text)
    if len(jpeg.EXIF_HEADER) + len(written) > _SEGMENT_ROOM or not same_but_keywords(block, written, text):
        return None
    return written


def roomy(block: bytes, ifd: Ifd0) -> bool:
    """Whether the block can be given XPKeywords this way with room to spare: ROOM_ASKED
    characters, and ROOM_MORE more than it holds (the words to be kept, emowatch's added to
    them). Asked before the words are known: a photo without it is left to exiftool, which
    rewrites IFD0 in place, rather than refused at the write."""
    return editable(block, ifd, "x" * max(ROOM_ASKED, len(ifd.xp or "") + ROOM_MORE))


def exif_edit(data: bytes, lay: jpeg.Layout, text: str, path: Path | None = None) -> jpeg.Edit:
    """The JPEG's EXIF segment as it is to be replaced so that XPKeywords hold `text`, every
    other byte of it kept (jpeg.splice makes the edit). MetadataError where that cannot be done
    this way (the caller checked that it can: `read`, `editable`)."""
    seg = lay.exif(data)
    block = None if seg is None else seg.payload(data)[len(jpeg.EXIF_HEADER):]
    ifd = None if block is None else read(block)
    written = None if seg is None or block is None or ifd is None else _checked(block, ifd, text)
    if seg is None or written is None:
        raise MetadataError("the EXIF block has no room for these XPKeywords; nothing was written", path)
    new = jpeg.EXIF_HEADER + written
    return seg.start, seg.end, b"\xff\xe1" + struct.pack(">H", 2 + len(new)) + new


def same_but_keywords(old: bytes, new: bytes, text: str) -> bool:
    """Whether EXIF block `new` is `old` with XPKeywords holding `text` ("": none) and nothing
    else a reader can reach changed: the header's IFD0 offset aside, every byte of `old` is kept
    up to its IFD0 if that is a copy at the end (see `with_keywords`), else all of them; IFD0's
    other entries and its link to the next IFD are identical, and each of their values lies in
    the kept bytes, as does all that IFD0 links to (`_linked`) unless it lies past the end."""
    a, b = read(old), read(new)
    if a is None or b is None or old[:4] != new[:4]:
        return False
    kept = a.offset if _tail_copy(old, a) else len(old)
    if len(new) < kept or new[8:kept] != old[8:kept]:
        return False
    if b.others() != a.others() or b.next_ifd != a.next_ifd or (b.xp or "") != text:
        return False
    spans = _spans(new, b, b.others())
    linked = _linked(new, b)
    # what IFD0 links to lies in the kept bytes, or past the new block's end: a link that led
    # out of the block before still does, none leads into the bytes written after `kept`
    return spans is not None and linked is not None and all(
        8 <= start and stop <= kept for start, stop in spans) and all(
        stop <= kept or start >= len(new) for start, stop in linked)


def kept_but_keywords(old: bytes, old_lay: jpeg.Layout, new: bytes, new_lay: jpeg.Layout,
                      text: str) -> bool:
    """`same_but_keywords` for the EXIF blocks of two JPEGs, which must have as many Exif
    segments (the first is the one readers use, and the one written)."""
    a, b = old_lay.exifs(old), new_lay.exifs(new)
    if not a or len(a) != len(b) or any(x.payload(old) != y.payload(new) for x, y in zip(a[1:], b[1:])):
        return False
    skip = len(jpeg.EXIF_HEADER)
    return same_but_keywords(a[0].payload(old)[skip:], b[0].payload(new)[skip:], text)
