"""The XMP chunk of a PNG: find it, and splice a new one in with every other chunk kept.

A PNG is its 8-byte signature, then chunks: length (4), type (4), data, CRC-32 of type + data.
XMP lives in one iTXt chunk with keyword `XML:com.adobe.xmp`, uncompressed, empty language and
translated keyword (XMP spec part 3, 1.1.5). Image data is the IDAT chunks (and APNG's fdAT);
they and every other chunk are copied byte for byte.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DecodeError, IncompleteFileError, MetadataError
from .jpeg import join

SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_KEYWORD = b"XML:com.adobe.xmp"
IMAGE_CHUNKS = (b"IDAT", b"fdAT")
IPTC_KEYWORDS = (b"Raw profile type iptc", b"Raw profile type 8bim")


@dataclass(frozen=True)
class Chunk:
    type: bytes
    start: int  # offset of its length field
    end: int  # offset just past its CRC

    def data(self, png: bytes) -> bytes:
        return png[self.start + 8 : self.end - 4]


def chunks(data: bytes, path: Path | None = None) -> list[Chunk]:
    """The chunks of a complete PNG; DecodeError for anything else."""
    if not data:
        raise DecodeError("file is empty", path)
    if not data.startswith(SIGNATURE):
        raise DecodeError("not a PNG (bad signature)", path)
    out = []
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise IncompleteFileError("PNG is truncated", path)
        length, ctype = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise IncompleteFileError("PNG is truncated", path)
        out.append(Chunk(ctype, pos, end))
        pos = end
        if ctype == b"IEND":
            break
    if not out or out[0].type != b"IHDR":
        raise DecodeError("PNG is corrupt (it does not start with IHDR)", path)
    if out[-1].type != b"IEND":
        raise IncompleteFileError("PNG is truncated (no IEND chunk)", path)
    return out


def _is_xmp(data: bytes, c: Chunk) -> bool:
    return c.type == b"iTXt" and c.data(data).startswith(XMP_KEYWORD + b"\x00")


# XMP that exiftool and others also read from other text chunks (tEXt/zTXt, ImageMagick's raw
# profile): a file holding one must not get a second, disagreeing packet beside it
_OTHER_XMP = (XMP_KEYWORD + b"\x00", b"Raw profile type xmp\x00")


def xmp_chunk(data: bytes, cs: list[Chunk]) -> Chunk | None:
    if any(c.type in (b"tEXt", b"zTXt", b"iTXt") and not _is_xmp(data, c)
           and c.data(data).startswith(_OTHER_XMP) for c in cs):
        raise MetadataError("PNG keeps its XMP in a non-standard text chunk; emowatch will not "
                            "add a second packet beside it")
    found = [c for c in cs if _is_xmp(data, c)]
    if len(found) > 1:
        raise MetadataError(f"PNG has {len(found)} XMP chunks; emowatch will not guess which one "
                            "applications read")
    return found[0] if found else None


def read_packet(data: bytes, cs: list[Chunk]) -> bytes | None:
    c = xmp_chunk(data, cs)
    if c is None:
        return None
    body = c.data(data)
    stored_crc = struct.unpack_from(">I", data, c.end - 4)[0]
    if zlib.crc32(data[c.start + 4 : c.end - 4]) != stored_crc:
        raise MetadataError("PNG's XMP chunk is corrupt (CRC mismatch)")
    rest = body[len(XMP_KEYWORD) + 1 :]
    if len(rest) < 2:
        raise MetadataError("PNG's XMP chunk is corrupt")
    compressed, method = rest[0], rest[1]
    try:
        lang_end = rest.index(b"\x00", 2)
        text = rest[rest.index(b"\x00", lang_end + 1) + 1 :]
    except ValueError:
        raise MetadataError("PNG's XMP chunk is corrupt") from None
    if compressed:
        if method != 0:
            raise MetadataError("PNG's XMP chunk uses an unknown compression")
        try:
            text = zlib.decompress(text)
        except zlib.error:
            raise MetadataError("PNG's XMP chunk is corrupt (bad compressed data)") from None
    return text


def make_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def splice(data: bytes, cs: list[Chunk], packet: bytes | None) -> bytes:
    """The PNG with its XMP replaced (None: removed), every other chunk kept; a new chunk goes
    just before the first IDAT, with the other metadata chunks."""
    old = xmp_chunk(data, cs)
    if packet is None:
        return data if old is None else join(data, old.start, b"", old.end)
    new = make_chunk(b"iTXt", XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet)
    if old is not None:
        return join(data, old.start, new, old.end)
    at = next(c.start for c in cs if c.type in (b"IDAT", b"IEND"))
    return join(data, at, new, at)


def same_except_xmp(old: bytes, old_cs: list[Chunk], new: bytes, new_cs: list[Chunk]) -> bool:
    """Whether every chunk but the XMP one is byte-identical and in the same order."""
    return _same_chunks(old, [c for c in old_cs if not _is_xmp(old, c)],
                        new, [c for c in new_cs if not _is_xmp(new, c)])


def same_image_data(old: bytes, old_cs: list[Chunk], new: bytes, new_cs: list[Chunk]) -> bool:
    """Whether the image data chunks (IDAT, fdAT) are byte-identical and in the same order."""
    return _same_chunks(old, [c for c in old_cs if c.type in IMAGE_CHUNKS],
                        new, [c for c in new_cs if c.type in IMAGE_CHUNKS])


def _same_chunks(old: bytes, a: list[Chunk], new: bytes, b: list[Chunk]) -> bool:
    # compared in place (memcmp), not copied: IDAT is megabytes
    return len(a) == len(b) and all(
        x.end - x.start == y.end - y.start
        and new.startswith(memoryview(old)[x.start : x.end], y.start) for x, y in zip(a, b))


def has_iptc(data: bytes, cs: list[Chunk]) -> bool:
    """Whether the PNG carries an IPTC or Photoshop profile (ImageMagick/exiftool style)."""
    return any(c.type in (b"tEXt", b"zTXt", b"iTXt") and c.data(data).startswith(IPTC_KEYWORDS)
               for c in cs)


def has_exif(data: bytes, cs: list[Chunk]) -> bool:
    return any(c.type == b"eXIf" for c in cs)
