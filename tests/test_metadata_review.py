"""A second reader's findings: each test is a real file that once lost or corrupted data."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

import corpus
from emowatch.errors import EmowatchError, MetadataError
from emowatch.metadata import read_tags, remove_tags, write_tags
from emowatch.xmp import jpeg, png
from photos import patch_mpf_entries

RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'


def _with_xmp_segment(data: bytes, at: int, packet: bytes) -> bytes:
    seg = (b"\xff\xe1" + struct.pack(">H", 2 + len(jpeg.XMP_HEADER) + len(packet))
           + jpeg.XMP_HEADER + packet)
    return data[:at] + seg + data[at:]


def _mpo(path: Path) -> Path:
    """A two-image MPO (JFIF, MPF APP2, ...; the second image after the first one's EOI)."""
    first, second = corpus.pixels(seed=1), corpus.pixels(24, 32, seed=2)
    first.save(path, format="MPO", save_all=True, append_images=[second])
    return path


def _shift_mpf_images(data: bytes, delta: int) -> bytes:
    """The JPEG with MPF's offsets of the further images moved by `delta` bytes."""
    return patch_mpf_entries(data, lambda attr, size, offset: (attr, size, offset + delta))


def _second_image_ok(path: Path) -> bool:
    return corpus.binary(path, "MPImage2").startswith(b"\xff\xd8")


# -- exiftool: a file name that is not UTF-8 ------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_tagged_not_a_crash(photo, tmp_path, et, settings, tags):
    # Linux names are bytes: a Latin-1 name from an old zip or camera card is not UTF-8, and
    # Python holds it with surrogates that cannot be encoded for exiftool's argument file.
    # That raised UnicodeEncodeError (not an EmowatchError), which stopped a whole batch.
    name = os.fsdecode(b"caf\xe9.jpg")
    try:
        path = photo("full.jpg", name)
    except (OSError, UnicodeError):
        pytest.skip("this file system does not take non-UTF-8 names")
    original = path.read_bytes()
    result = write_tags(path, tags, settings=settings, exiftool=et)
    assert result.action == "embedded"
    assert "IPTC:Keywords: +Emotion +Positive" in result.changes
    assert corpus.same_result(read_tags(path, exiftool=et), tags)
    remove_tags(path, settings=settings, exiftool=et)
    assert path.read_bytes() == original


# -- JPEG: XMP after a multi-picture (MPF) index --------------------------------------------


def test_xmp_after_the_mpf_index_is_never_resized(tmp_path, et, settings, tags):
    # MPF locates the further images (camera previews, gain maps) relative to its own APP2
    # segment: growing an XMP segment that sits after it moved those images away from where
    # MPF says they are, and exiftool then reported "MPImage2 is not a valid JPEG image".
    path = _mpo(tmp_path / "multi.jpg")
    data = path.read_bytes()
    mpf = next(s for s in jpeg.layout(data).segments if s.marker == 0xE2)
    packet = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}><rdf:Description '
              'rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="3"/>'
              '</rdf:RDF></x:xmpmeta>').encode()
    # SOI APP0 APP2(MPF) APP1(XMP) ..., MPF's offsets still right
    data = _with_xmp_segment(data, mpf.end, packet)
    data = _shift_mpf_images(data, len(data) - len(path.read_bytes()))
    path.write_bytes(data)
    assert _second_image_ok(path)

    with pytest.raises(MetadataError, match="MPF"):
        write_tags(path, tags, settings=settings, exiftool=et)
    assert path.read_bytes() == data and _second_image_ok(path)

    lay = jpeg.layout(data)
    with pytest.raises(MetadataError, match="MPF"):
        jpeg.splice(data, lay, None)  # removing it would shift the images just the same
    same_size = packet.replace(b'"3"', b'"4"')
    assert jpeg.splice(data, lay, same_size)  # a packet of the same size moves nothing


def test_new_xmp_before_the_mpf_index_keeps_the_other_images(tmp_path, et, settings, tags):
    path = _mpo(tmp_path / "multi.jpg")
    original = path.read_bytes()
    write_tags(path, tags, settings=settings, exiftool=et)
    assert _second_image_ok(path)
    remove_tags(path, settings=settings, exiftool=et)
    assert path.read_bytes() == original


# -- XMP: a keyword list with a structured item ---------------------------------------------


def test_a_qualified_keyword_item_is_refused_not_blanked(tmp_path, et, settings, tags):
    # <rdf:li rdf:parseType="Resource"><rdf:value>B</rdf:value>...</rdf:li> is a qualified
    # item: it read as "" and was rewritten as an empty <rdf:li/>, losing the keyword "B".
    packet = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}><rdf:Description rdf:about=""'
              ' xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag>'
              '<rdf:li>A</rdf:li><rdf:li rdf:parseType="Resource"><rdf:value>B</rdf:value>'
              '</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    path = tmp_path / "qualified.jpg"
    corpus.jpeg_plain(path)
    data = _with_xmp_segment(path.read_bytes(), 20, packet)
    path.write_bytes(data)
    assert corpus.as_list(corpus.tags_of(path).get("XMP-dc:Subject")) == ["A", "B"]
    with pytest.raises(MetadataError, match="structured"):
        write_tags(path, tags, settings=settings, exiftool=et)
    assert path.read_bytes() == data


# -- PNG: XMP in a tEXt/zTXt chunk ----------------------------------------------------------


@pytest.mark.parametrize("ctype, keyword", [
    (b"zTXt", b"XML:com.adobe.xmp"), (b"tEXt", b"XML:com.adobe.xmp"),
    (b"zTXt", b"Raw profile type xmp"),
])
def test_png_with_xmp_in_another_text_chunk_gets_no_second_packet(ctype, keyword, tmp_path, et,
                                                                 settings, tags):
    # exiftool reads XMP from these chunks too; emowatch did not, and added an iTXt packet
    # beside the user's: exiv2 then showed only the old keywords, exiftool both lists.
    xmp = corpus.lightroom_xmp().replace("\ufeff".encode(), b"")
    if keyword.startswith(b"Raw profile"):  # ImageMagick's hex-dump form
        hexed = xmp.hex()
        text = (f"\nxmp\n{len(xmp):8d}\n" + "\n".join(hexed[i:i + 72]
                                                      for i in range(0, len(hexed), 72)) + "\n")
        xmp = text.encode()
    body = keyword + b"\0" + (b"\0" + zlib.compress(xmp) if ctype == b"zTXt" else xmp)
    path = tmp_path / "text-xmp.png"
    corpus.png_plain(path)
    data = path.read_bytes()
    cs = png.chunks(data)
    data = data[:cs[1].start] + png.make_chunk(ctype, body) + data[cs[1].start:]
    path.write_bytes(data)
    assert "Beach" in corpus.as_list(corpus.tags_of(path).get("XMP-dc:Subject"))
    with pytest.raises(MetadataError, match="non-standard"):
        write_tags(path, tags, settings=settings, exiftool=et)
    assert path.read_bytes() == data


# -- OSErrors become typed errors ----------------------------------------------------------


@pytest.mark.parametrize("make", ["directory", "symlink loop"])
def test_an_unusable_sidecar_is_a_typed_error_not_a_crash(make, tmp_path, settings, tags):
    # read_with_identity only mapped FileNotFoundError: IsADirectoryError, ELOOP, EACCES (a
    # sidecar owned by another user) escaped as bare OSErrors, which the batch does not catch.
    raw = corpus.fake_raw(tmp_path / "IMG_0001.CR2")
    side = tmp_path / "IMG_0001.xmp"
    if make == "directory":
        side.mkdir()
    else:
        side.symlink_to("IMG_0001.xmp")
    for call in (lambda: write_tags(raw, tags, settings=settings, exiftool=None),
                 lambda: remove_tags(raw, settings=settings, exiftool=None),
                 lambda: read_tags(raw, exiftool=None)):
        with pytest.raises(EmowatchError, match="IMG_0001.xmp"):
            call()
    assert raw.read_bytes() == corpus.fake_raw(tmp_path / "again.CR2").read_bytes()
