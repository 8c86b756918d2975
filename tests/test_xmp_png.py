"""The PNG iTXt splice: one uncompressed XML:com.adobe.xmp chunk, every other chunk kept."""

from __future__ import annotations

import zlib

import pytest

import corpus
from emowatch.errors import DecodeError, IncompleteFileError, MetadataError
from emowatch.xmp import png

PACKET = corpus.lightroom_xmp()


def test_new_chunk_goes_before_idat_with_a_right_crc(pristine):
    data = pristine["plain.png"].read_bytes()
    new = png.splice(data, png.chunks(data), PACKET)
    chunks = corpus.png_chunks(new)
    assert all(ok for _, _, ok in chunks)
    types = [t for t, _, _ in chunks]
    assert types.index(b"iTXt") == types.index(b"IDAT") - 1
    xmp = [raw for t, raw, _ in chunks if t == b"iTXt"][0]
    assert xmp[8:8 + 22] == b"XML:com.adobe.xmp\0\0\0\0\0"  # uncompressed, no language
    assert [c for c in chunks if c[0] != b"iTXt"] == corpus.png_chunks(data)
    assert png.splice(new, png.chunks(new), None) == data


def test_existing_chunk_is_replaced_in_place(pristine):
    data = pristine["xmp.png"].read_bytes()
    cs = png.chunks(data)
    # exiftool wrote it, marking it end="r" (not to be edited in place)
    assert png.read_packet(data, cs) == PACKET.replace(b'end="w"', b'end="r"')
    new = png.splice(data, cs, b"<x/>")
    before = [c for c in corpus.png_chunks(data)]
    after = [c for c in corpus.png_chunks(new)]
    i = [t for t, _, _ in before].index(b"iTXt")
    assert before[:i] == after[:i] and before[i + 1:] == after[i + 1:]
    assert png.read_packet(new, png.chunks(new)) == b"<x/>"


def test_compressed_xmp_is_read():
    body = png.XMP_KEYWORD + b"\0\x01\x00\0\0" + zlib.compress(PACKET)
    data = (png.SIGNATURE + png.make_chunk(b"IHDR", bytes(13)) + png.make_chunk(b"iTXt", body)
            + png.make_chunk(b"IDAT", b"x") + png.make_chunk(b"IEND", b""))
    assert png.read_packet(data, png.chunks(data)) == PACKET


def test_corrupt_xmp_chunk_and_two_xmp_chunks_are_refused(pristine):
    data = pristine["xmp.png"].read_bytes()
    c = png.xmp_chunk(data, png.chunks(data))
    flipped = data[: c.start + 40] + bytes([data[c.start + 40] ^ 1]) + data[c.start + 41 :]
    with pytest.raises(MetadataError, match="CRC"):
        png.read_packet(flipped, png.chunks(flipped))
    doubled = data[: c.end] + data[c.start : c.end] + data[c.end :]
    with pytest.raises(MetadataError, match="2 XMP chunks"):
        png.read_packet(doubled, png.chunks(doubled))


@pytest.mark.parametrize("cut, error", [(0, DecodeError), (20, IncompleteFileError),
                                        (-12, IncompleteFileError)])
def test_what_is_not_a_complete_png(pristine, cut, error):
    data = pristine["plain.png"].read_bytes()
    with pytest.raises(error):
        png.chunks(data[:cut] if cut else b"")
