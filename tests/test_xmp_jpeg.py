"""The JPEG APP1 splice: only the XMP segment changes, image data never does."""

from __future__ import annotations

import hashlib
import struct

import pytest

import corpus
from emowatch.errors import DecodeError, IncompleteFileError, MetadataError
from emowatch.metadata import write_tags
from emowatch.xmp import jpeg
from emowatch.xmp.targets import TOUCHED
from photos import camera_jpeg, pattern

PACKET = corpus.lightroom_xmp()


def spliced(data: bytes, packet: bytes | None) -> bytes:
    return jpeg.splice(data, jpeg.layout(data), packet)


def test_new_segment_goes_after_jfif_and_exif_and_nothing_else_moves(pristine):
    data = pristine["exif.jpg"].read_bytes()
    new = spliced(data, PACKET)
    before, after = corpus.jpeg_segments(data), corpus.jpeg_segments(new)
    assert after[0][:2] == b"\xff\xe0" and after[1][4:10] == b"Exif\0\0"
    assert after[2] == b"\xff\xe1" + struct.pack(">H", 2 + 29 + len(PACKET)) + jpeg.XMP_HEADER + PACKET
    assert after[:2] + after[3:] == before
    assert corpus.jpeg_image_data(new) == corpus.jpeg_image_data(data)
    assert spliced(new, None) == data


def test_existing_segment_is_replaced_in_place(pristine):
    data = pristine["full.jpg"].read_bytes()
    lay = jpeg.layout(data)
    old = lay.xmp(data)
    new = spliced(data, b"<x/>")
    assert new[: old.start] == data[: old.start] and new[old.start + 4 + 29 + 4:] == data[old.end:]
    assert jpeg.read_packet(new, jpeg.layout(new)) == b"<x/>"


def test_packet_over_the_segment_limit_is_refused(pristine):
    data = pristine["plain.jpg"].read_bytes()
    spliced(data, b" " * jpeg.MAX_PACKET)  # exactly the limit fits
    with pytest.raises(MetadataError, match="65,502"):
        spliced(data, b" " * (jpeg.MAX_PACKET + 1))


def test_a_jpeg_with_two_xmp_segments_is_refused(pristine):
    data = spliced(pristine["plain.jpg"].read_bytes(), PACKET)
    seg = jpeg.layout(data).xmp(data)
    doubled = data[: seg.end] + data[seg.start : seg.end] + data[seg.end :]
    with pytest.raises(MetadataError, match="2 XMP segments"):
        jpeg.read_packet(doubled, jpeg.layout(doubled))


@pytest.mark.parametrize("data, error", [
    (b"", DecodeError),
    (b"GIF89a", DecodeError),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", IncompleteFileError),
    (b"\xff\xd8\xff\xd9", DecodeError),
])
def test_what_is_not_a_complete_jpeg(data, error):
    with pytest.raises(error):
        jpeg.layout(data)


def test_scan_data_cut_short_is_incomplete(pristine):
    data = pristine["plain.jpg"].read_bytes()
    with pytest.raises(IncompleteFileError, match="no end-of-image"):
        jpeg.layout(data[:-10])


def test_iptc_keywords_are_detected_in_photoshop_app13(pristine):
    full = pristine["full.jpg"].read_bytes()
    plain = pristine["plain.jpg"].read_bytes()
    assert jpeg.has_iptc_keywords(full, jpeg.layout(full))
    assert not jpeg.has_iptc_keywords(plain, jpeg.layout(plain))


def _with_extended(data: bytes, extension: bytes) -> bytes:
    """Main packet naming the extension by GUID, then the extension in two segments."""
    guid = hashlib.md5(extension).hexdigest().upper()
    main = PACKET.replace(b'xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
                          b'xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
                          b'    xmlns:xmpNote="http://ns.adobe.com/xmp/note/"\n'
                          b'   xmpNote:HasExtendedXMP="' + guid.encode() + b'"')
    data = spliced(data, main)
    seg = jpeg.layout(data).xmp(data)
    half = len(extension) // 2
    parts = b""
    for off, chunk in ((0, extension[:half]), (half, extension[half:])):
        body = jpeg.EXT_HEADER + guid.encode() + struct.pack(">II", len(extension), off) + chunk
        parts += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return data[: seg.end] + parts + data[seg.end :]


EXTENSION = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
             b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.'
             b'com/photoshop/1.0/"><photoshop:History>' + b"h" * 500 + b"</photoshop:History>"
             b"</rdf:Description></rdf:RDF></x:xmpmeta>")


def test_extended_xmp_is_left_byte_identical_while_the_main_packet_is_tagged(
        pristine, tmp_path, et, settings, tags):
    path = tmp_path / "ext.jpg"
    path.write_bytes(_with_extended(pristine["plain.jpg"].read_bytes(), EXTENSION))
    ext_before = [s for s in corpus.jpeg_segments(path.read_bytes()) if b"xmp/extension" in s[:40]]
    assert write_tags(path, tags, settings=settings, exiftool=et).action == "embedded"
    ext_after = [s for s in corpus.jpeg_segments(path.read_bytes()) if b"xmp/extension" in s[:40]]
    assert ext_after == ext_before
    read = corpus.tags_of(path)  # exiftool joins main and extension
    assert read["XMP-photoshop:History"] == "h" * 500
    assert "Emotion|Positive" in corpus.as_list(read["XMP-lr:HierarchicalSubject"])


def test_keywords_inside_extended_xmp_are_refused(pristine):
    ext = EXTENSION.replace(b"<photoshop:History>", b'<dc:subject xmlns:dc="http://purl.org/dc/'
                            b'elements/1.1/"><rdf:Bag><rdf:li>Hidden</rdf:li></rdf:Bag>'
                            b"</dc:subject><photoshop:History>")
    data = _with_extended(pristine["plain.jpg"].read_bytes(), ext)
    lay = jpeg.layout(data)
    with pytest.raises(MetadataError, match="extended XMP"):
        jpeg.check_extended(data, lay, jpeg.read_packet(data, lay), TOUCHED)


def test_incomplete_extended_xmp_is_refused(pristine):
    data = _with_extended(pristine["plain.jpg"].read_bytes(), EXTENSION)
    lay = jpeg.layout(data)
    last = lay.extended(data)[-1]
    cut = data[: last.start] + data[last.end :]
    lay = jpeg.layout(cut)
    with pytest.raises(MetadataError, match="incomplete"):
        jpeg.check_extended(cut, lay, jpeg.read_packet(cut, lay), TOUCHED)


def test_the_xmp_and_the_exif_are_replaced_in_one_copy_as_one_after_the_other(pristine):
    data = pristine["exif.jpg"].read_bytes()
    lay = jpeg.layout(data)
    exif = lay.exif(data)
    grown_exif = data[exif.start:exif.end] + b"\0" * 8  # what xp_keywords.exif_edit hands over
    grown_exif = grown_exif[:2] + struct.pack(">H", len(grown_exif) - 2) + grown_exif[4:]
    both = jpeg.splice(data, lay, PACKET, also=(exif.start, exif.end, grown_exif))
    first = jpeg.join(data, exif.start, grown_exif, exif.end)
    assert both == spliced(first, PACKET)  # the new XMP segment still lands after the EXIF
    assert corpus.jpeg_image_data(both) == corpus.jpeg_image_data(data)


def test_edits_that_overlap_are_refused():
    data = bytes(range(10))
    assert jpeg.join_all(data, [(6, 8, b"x"), (2, 2, b"ab"), (2, 4, b"")]) == bytes([0, 1]) + b"ab" + bytes([4, 5]) + b"x" + bytes([8, 9])
    with pytest.raises(ValueError):
        jpeg.join_all(data, [(2, 5, b""), (4, 6, b"")])


def test_an_exif_edit_that_would_move_images_mpf_points_at_is_refused_and_named(tmp_path):
    # (a real write never gets here: such a photo's XPKeywords go to exiftool, xp_keywords)
    path = camera_jpeg(tmp_path / "a.jpg", pattern(64, 48), preview=pattern(32, 24),
                       exif=corpus._exif_with_makernote())
    data = path.read_bytes()
    lay = jpeg.layout(data)
    exif, mpf = lay.exif(data), lay.mpf(data)[0]
    assert exif.start < mpf.start
    data = data[:exif.start] + data[mpf.start:mpf.end] + data[exif.start:exif.end] + data[mpf.end:]
    lay = jpeg.layout(data)
    exif = lay.exif(data)
    grown = data[exif.start:exif.end] + b"\0" * 8
    grown = grown[:2] + struct.pack(">H", len(grown) - 2) + grown[4:]
    with pytest.raises(MetadataError, match="EXIF sits after"):
        jpeg.splice(data, lay, None, also=(exif.start, exif.end, grown))


@pytest.mark.parametrize("at", [0, 1, 2**20 - 1, 2**20, 2**20 + 1, 3 * 2**20 - 5])
def test_the_image_end_is_the_first_end_marker_after_the_scan_header_wherever_it_falls(at):
    """The search goes a megabyte at a time: an end marker across two of them is found too, and
    neither the FF bytes before it (stuffed as FF 00 in image data) nor a lone D9 is taken for
    it; a file without one has no image end."""
    head = b"\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    filler = (b"\x12\xff\x00\xd9\x34" * (at // 5 + 1))[:at]
    data = head + filler + b"\xff\xd9" + b"\xff\xd8\xff\xd9"  # then a trailer, a JPEG of its own
    lay = jpeg.layout(data)
    assert jpeg.scan_header_end(data, lay) == len(head)
    assert jpeg.image_end(data, lay) == len(head) + at + 2
    assert jpeg.image_end(data[:len(head) + at + 1], jpeg.Layout(lay.segments, lay.scan)) is None
