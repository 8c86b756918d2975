"""What makes a HEIC's or AVIF's picture: the primary item's coded data and properties.

The items that make the picture are the primary item (`pitm`), the tiles or layers a grid or
overlay is derived from (`dimg` references, in order) and the auxiliary images of those (`auxl`:
an alpha plane). For each: its type, the properties associated with it (`ipma`: `ispe` size,
`hvcC`/`av1C` decoder configuration, `pixi`, `irot`/`imir` orientation, `clap`, `auxC`, a
`colr` of type nclx, whose matrix decides how YCbCr becomes RGB), the references from it
(`prem`: its alpha is premultiplied, which the decoders undo), and its data, read through `iloc`
from the file or from `idat` - by content, never by offset (exiftool moves the media data when
it adds metadata). Not hashed: Exif and XMP items, thumbnails, an ICC profile in `colr`
(nothing here colour-manages, as for JPEG and PNG). An EXIF orientation is not hashed either:
the decoders show a HEIF as its `irot`/`imir` say (pillow-heif and Pillow's AVIF plugin write
the orientation they are given as `irot`, and ignore the EXIF one when reading). But Pillow's
AVIF plugin leaves an XMP `tiff:Orientation` in place, and Pillow turns a picture whose EXIF
has no orientation by it, so that of every XMP item is hashed (`orientation.xmp`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from . import orientation
from .source import MAX_VALUE, Malformed, Source

MAX_BOXES = 10_000
MAX_ITEMS = 10_000
MAX_EXTENTS = 100_000  # and as many property associations: more of either is malformed
_DERIVED, _AUXILIARY = b"dimg", b"auxl"
_XMP = b"application/rdf+xml"


def feed(src: Source, h) -> None:
    meta = _meta(src)
    h.update(b"heif")
    items = meta.picture_items()
    for n, item in enumerate(items):
        if item not in meta.types:
            raise Malformed(f"item {item} is not in iinf")
        h.update(struct.pack(">I", n) + meta.types[item])
        for prop in meta.properties.get(item, []):
            if prop == 0:
                continue  # "no property"
            if prop > len(meta.ipco):
                raise Malformed(f"item {item}: no property {prop}")
            box = meta.ipco[prop - 1]
            if box[4:8] == b"colr" and box[8:12] != b"nclx":
                continue  # an ICC profile
            h.update(box)
        for method, offset, length in meta.extents(item):
            if method == 0:
                src.feed(h, offset, length)
            else:
                h.update(length.to_bytes(8, "little"))
                h.update(meta.idat[offset:offset + length])
    h.update(_relations(meta.references, items))
    for item in meta.xmp:
        extents = meta.extents(item)
        if sum(length for _, _, length in extents) > MAX_VALUE:
            raise Malformed(f"XMP item {item} is too large")
        h.update(orientation.xmp(b"".join(src.read(offset, length) if method == 0 else
                                          meta.idat[offset:offset + length]
                                          for method, offset, length in extents)))


@dataclass
class _Meta:
    primary: int = -1
    types: dict[int, bytes] = field(default_factory=dict)
    locations: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)  # (method, offset, length)
    references: list[tuple[bytes, int, list[int]]] = field(default_factory=list)  # (type, from, to)
    ipco: list[bytes] = field(default_factory=list)
    properties: dict[int, list[int]] = field(default_factory=dict)
    idat: bytes = b""
    xmp: list[int] = field(default_factory=list)  # the XMP items

    def extents(self, item: int) -> list[tuple[int, int, int]]:
        """Where the item's data lies: (0, offset in the file, length) or (1, offset in idat, length)."""
        extents = self.locations.get(item)
        if extents is None:
            raise Malformed(f"item {item} has no location")
        if any(method == 1 and offset + length > len(self.idat) for method, offset, length in extents):
            raise Malformed(f"item {item} lies outside idat")
        return extents

    def picture_items(self) -> list[int]:
        """The primary item, then what it is derived from, then their auxiliary images."""
        derived: dict[int, list[int]] = {}
        auxiliary: dict[int, list[int]] = {}  # item -> the auxiliary images of it
        for kind, frm, tos in self.references:
            if kind == _DERIVED:
                derived.setdefault(frm, []).extend(tos)
            elif kind == _AUXILIARY:
                for to in tos:
                    auxiliary.setdefault(to, []).append(frm)
        order, seen = [self.primary], {self.primary}
        for item in order:  # grows as it goes
            for other in derived.get(item, []) + auxiliary.get(item, []):
                if other not in seen:
                    order.append(other)
                    seen.add(other)
        return order


def _relations(references: list[tuple[bytes, int, list[int]]], items: list[int]) -> bytes:
    """The references from the picture's items (`dimg`, `auxl`, `prem`: premultiplied alpha, ...),
    by their items' places in `items`; not those from metadata or thumbnails (`cdsc`, `thmb`)."""
    place = {item: n for n, item in enumerate(items)}
    return b"".join(kind + struct.pack(f">{2 + len(tos)}I", place[frm], len(tos),
                                       *(place.get(to, 0xFFFFFFFF) for to in tos))
                    for kind, frm, tos in references if frm in place)


def _meta(src: Source) -> _Meta:
    """The top-level `meta` box, parsed."""
    pos, found = 0, None
    for _ in range(MAX_BOXES):
        if pos >= src.size:
            break
        kind, body, size = _header(src.read(pos, min(16, src.size - pos)), 0, src.size - pos)
        if kind == b"meta":
            if found is not None:
                raise Malformed("two meta boxes")
            found = _parse_meta(src.read(pos, size), body + 4, size)  # + 4: a full box
        pos += size
    else:
        raise Malformed("too many boxes")
    if found is None:
        raise Malformed("no meta box")
    return found


def _header(data: bytes, pos: int, end: int) -> tuple[bytes, int, int]:
    """(type, start of body, end) of the box at `pos`, which must end by `end`."""
    if end - pos < 8:
        raise Malformed("a box header is cut short")
    size, kind = struct.unpack_from(">I4s", data, pos)
    header = 8
    if size == 1:
        if end - pos < 16:
            raise Malformed("a box header is cut short")
        (size,) = struct.unpack_from(">Q", data, pos + 8)
        header = 16
    elif size == 0:
        size = end - pos
    if kind == b"uuid":
        header += 16
    if size < header or pos + size > end:
        raise Malformed(f"a {kind!r} box runs past its container")
    return kind, pos + header, pos + size


def _children(data: bytes, start: int, end: int):
    pos = start
    for _ in range(MAX_BOXES):
        if pos >= end:
            return
        kind, body, box_end = _header(data, pos, end)
        yield kind, pos, body, box_end
        pos = box_end
    raise Malformed("too many boxes")


def _parse_meta(data: bytes, start: int, end: int) -> _Meta:
    meta = _Meta()
    boxes: dict[bytes, tuple[int, int]] = {}
    for kind, _, body, box_end in _children(data, start, end):
        if kind in boxes and kind in (b"hdlr", b"pitm", b"iinf", b"iloc", b"iref", b"iprp", b"idat"):
            raise Malformed(f"two {kind!r} boxes")
        boxes[kind] = (body, box_end)
    for needed in (b"hdlr", b"pitm", b"iinf", b"iloc", b"iprp"):
        if needed not in boxes:
            raise Malformed(f"no {needed!r} box")
    r = _Reader(data, *boxes[b"hdlr"])
    r.full()
    r.skip(4)
    if r.take(4) != b"pict":
        raise Malformed("not a picture (hdlr)")
    r = _Reader(data, *boxes[b"pitm"])
    meta.primary = r.uint(4 if r.full()[0] else 2)
    if b"idat" in boxes:
        meta.idat = data[slice(*boxes[b"idat"])]
    _items(meta, _Reader(data, *boxes[b"iinf"]))
    _locations(meta, _Reader(data, *boxes[b"iloc"]))
    if b"iref" in boxes:
        _references(meta, data, *boxes[b"iref"])
    _properties(meta, data, *boxes[b"iprp"])
    return meta


class _Reader:
    def __init__(self, data: bytes, start: int, end: int):
        self.data, self.pos, self.end = data, start, end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Malformed("a box is cut short")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        self.take(n)

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big") if n else 0

    def full(self) -> tuple[int, int]:
        """A full box's (version, flags)."""
        return self.uint(1), self.uint(3)


def _items(meta: _Meta, r: _Reader) -> None:
    version, _ = r.full()
    count = r.uint(2 if version == 0 else 4)
    if count > MAX_ITEMS:
        raise Malformed("too many items")
    for kind, _, body, end in _children(r.data, r.pos, r.end):
        if kind != b"infe":
            continue
        e = _Reader(r.data, body, end)
        version, _ = e.full()
        if version < 2:
            raise Malformed("an item info entry older than version 2")
        item = e.uint(2 if version == 2 else 4)
        if e.uint(2):
            raise Malformed(f"item {item} is protected")
        if item in meta.types:
            raise Malformed(f"item {item} twice in iinf")
        meta.types[item] = e.take(4)
        if meta.types[item] == b"mime":
            _, content_type = (e.take(e.end - e.pos).split(b"\0") + [b"", b""])[:2]
            if content_type == _XMP:
                meta.xmp.append(item)


def _locations(meta: _Meta, r: _Reader) -> None:
    version, _ = r.full()
    if version > 2:
        raise Malformed(f"iloc version {version}")
    sizes = r.uint(2)
    offset_size, length_size, base_size = sizes >> 12, sizes >> 8 & 15, sizes >> 4 & 15
    index_size = sizes & 15 if version else 0
    if any(n not in (0, 4, 8) for n in (offset_size, length_size, base_size, index_size)):
        raise Malformed("iloc field sizes")
    count = r.uint(2 if version < 2 else 4)
    if count > MAX_ITEMS:
        raise Malformed("too many items")
    pieces, seen = 0, set()
    for _ in range(count):
        item = r.uint(2 if version < 2 else 4)
        method = r.uint(2) & 15 if version else 0
        elsewhere = r.uint(2)  # data_reference_index: 0 is this file
        if method not in (0, 1) or elsewhere:  # by item offset, or in another file: not read here
            method = -1
        base = r.uint(base_size)
        extents, n = [], r.uint(2)
        pieces += n
        if pieces > MAX_EXTENTS:
            raise Malformed("too many extents")
        for _ in range(n):
            r.skip(index_size)
            offset, length = base + r.uint(offset_size), r.uint(length_size)
            if length == 0 or length > 1 << 40:
                method = -1  # "to the end of the file", or absurd: not read here
            extents.append((method, offset, length))
        if item in seen:
            raise Malformed(f"item {item} twice in iloc")
        seen.add(item)
        if method != -1:
            meta.locations[item] = extents
        # an item located in a way not read here has no location: Malformed if it is part of the picture


def _references(meta: _Meta, data: bytes, start: int, end: int) -> None:
    r = _Reader(data, start, end)
    version, _ = r.full()
    width, targets = 2 if version == 0 else 4, 0
    for kind, _, body, box_end in _children(data, r.pos, end):
        e = _Reader(data, body, box_end)
        frm, count = e.uint(width), e.uint(2)
        targets += count
        if targets > MAX_ITEMS:
            raise Malformed("too many references")
        meta.references.append((kind, frm, [e.uint(width) for _ in range(count)]))


def _properties(meta: _Meta, data: bytes, start: int, end: int) -> None:
    entries = associations = 0  # over all ipma boxes
    for kind, _, body, box_end in _children(data, start, end):
        if kind == b"ipco":
            if meta.ipco:
                raise Malformed("two ipco boxes")
            meta.ipco = [data[pos:prop_end] for _, pos, _, prop_end in _children(data, body, box_end)]
        elif kind == b"ipma":
            r = _Reader(data, body, box_end)
            version, flags = r.full()
            count = r.uint(4)
            entries += count
            if entries > MAX_ITEMS:
                raise Malformed("too many items")
            for _ in range(count):
                item = r.uint(2 if version < 1 else 4)
                wide, n = flags & 1, r.uint(1)
                associations += n
                if associations > MAX_EXTENTS:
                    raise Malformed("too many property associations")
                indices = [r.uint(2 if wide else 1) & (0x7FFF if wide else 0x7F) for _ in range(n)]
                meta.properties.setdefault(item, []).extend(indices)
    if not meta.ipco:
        raise Malformed("no ipco box")
