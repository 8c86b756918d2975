"""EXIF XPKeywords written by emowatch itself (emowatch/xmp/xp_keywords.py): IFD0 copied to the
end of the EXIF block with the entry added, nothing else in the block moved. Checked by exiftool
and exiv2 as independent readers, on files built with Pillow and exiftool."""

from __future__ import annotations

import io
from dataclasses import replace
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

import corpus
from emowatch.metadata import remove_tags, write_tags
from emowatch.xmp import jpeg, xp_keywords
from emowatch.xmp.targets import Embedded
from emowatch.formats import Format
from photos import camera_jpeg, minolta_jpeg, pattern

# tags emowatch owns, and facts about the file rather than its metadata
SKIP = ("XMP-", "System:", "File:FileSize", "ExifTool:", "SourceFile", "IFD0:XPKeywords")


def metadata(path: Path) -> dict:
    return {k: v for k, v in corpus.tags_of(path).items() if not k.startswith(SKIP)}


def warnings(path: Path) -> str:
    return corpus.exiftool("-validate", "-warning", "-a", "-s3", path)


def exiv2_xp(path: Path) -> str:
    out = subprocess.run(["exiv2", "-Pt", "-K", "Exif.Image.XPKeywords", str(path)],
                         capture_output=True, text=True)
    return out.stdout.strip()


def camera(path: Path, order: str = "II", xp: str | None = None) -> Path:
    """A camera-like JPEG: IFD0, an Exif IFD with a maker note, GPS, a thumbnail in IFD1;
    `order` its byte order, `xp` the user's own XPKeywords."""
    exif = Image.Exif()
    exif.load(corpus._exif_with_makernote())
    exif.endian = "<" if order == "II" else ">"
    Image.fromarray(pattern(96, 64, seed=5)).save(path, quality=90, exif=exif.tobytes())
    thumb = path.with_suffix(".thumb.jpg")
    Image.fromarray(pattern(32, 24, seed=6)).save(thumb, quality=80)
    args = ["-q", "-overwrite_original", "-GPSLatitude=48.8566", "-GPSLatitudeRef=N",
            f"-ThumbnailImage<={thumb}"]
    if xp is not None:
        args.append(f"-XPKeywords={xp}")
    corpus.exiftool(*args, path)
    thumb.unlink()
    assert _block(path.read_bytes())[:2] == order.encode()
    return path


@pytest.mark.parametrize("order", ["II", "MM"])
def test_written_without_exiftool_and_read_by_exiftool_and_exiv2(tmp_path, settings, tags, order, exiv2_bin):
    path = camera(tmp_path / "camera.jpg", order)
    original = path.read_bytes()
    before, notes = metadata(path), warnings(path)
    note, thumb = corpus.binary(path, "MakerNoteUnknown"), corpus.binary(path, "ThumbnailImage")
    assert note and thumb

    assert write_tags(path, tags, settings=settings, exiftool=None).action == "embedded"
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"
    assert exiv2_xp(path) == "Emotion;Positive"
    assert metadata(path) == before  # GPS, the Exif IFD, the thumbnail's IFD: all as they were
    assert warnings(path) == notes  # exiftool's -validate finds nothing new
    assert corpus.binary(path, "MakerNoteUnknown") == note
    assert corpus.binary(path, "ThumbnailImage") == thumb
    assert corpus.jpeg_image_data(path.read_bytes()) == corpus.jpeg_image_data(original)
    # the block only grew: its bytes before the copy of IFD0 are the camera's, offsets and all
    old = _block(original)
    new = _block(path.read_bytes())
    assert new[:4] == old[:4] and new[8:len(old)] == old[8:]

    # untagged, the photo is the photo it was, byte for byte (no XMP before, none after)
    assert remove_tags(path, settings=settings, exiftool=None).action == "removed"
    assert path.read_bytes() == original


def test_retagging_replaces_the_copy_instead_of_growing_the_block(tmp_path, settings, tags):
    path = camera(tmp_path / "camera.jpg")
    write_tags(path, tags, settings=settings, exiftool=None)
    once = path.read_bytes()
    write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=None)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Negative"
    assert len(_block(path.read_bytes())) == len(_block(once))  # the same length of word
    write_tags(path, tags, settings=settings, exiftool=None)
    assert path.read_bytes() == once
    assert write_tags(path, tags, settings=settings, exiftool=None).action == "unchanged"


def test_the_same_bytes_with_exiftool_at_hand(tmp_path, settings, tags, et):
    # with no IPTC in the photo, exiftool is not used for XPKeywords even when it is there
    a = camera(tmp_path / "a.jpg")
    b = Path(corpus.copy(a, tmp_path, "b.jpg"))
    write_tags(a, tags, settings=settings, exiftool=None)
    write_tags(b, tags, settings=settings, exiftool=et)
    assert a.read_bytes() == b.read_bytes()


def test_the_users_own_words_are_kept(tmp_path, settings, tags, exiv2_bin):
    path = camera(tmp_path / "camera.jpg", "MM", xp="Family;Beach")
    before = metadata(path)
    write_tags(path, tags, settings=settings, exiftool=None)
    found = corpus.tags_of(path)
    assert found["IFD0:XPKeywords"] == "Family;Beach;Emotion;Positive"
    assert exiv2_xp(path) == "Family;Beach;Emotion;Positive"
    # Windows reads dc:subject first: the words only in XPKeywords are copied there
    assert corpus.as_list(found["XMP-dc:Subject"]) == ["Family", "Beach", "Emotion", "Positive"]
    remove_tags(path, settings=settings, exiftool=None)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Family;Beach"
    assert metadata(path) == before


def test_a_camera_preview_indexed_by_mpf_is_still_found(tmp_path, settings, tags):
    path = camera_jpeg(tmp_path / "sony.jpg", pattern(1200, 800, seed=3), exif=corpus._exif_with_makernote())
    preview = corpus.binary(path, "PreviewImage")
    assert preview.startswith(b"\xff\xd8")
    target = Embedded(path, Format.JPEG, None)
    assert target.writes_xp_itself()
    write_tags(path, tags, settings=settings, exiftool=None)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"
    assert corpus.binary(path, "PreviewImage") == preview  # MPF counts from after the EXIF


def test_a_maker_note_pointer_past_the_image_is_left_to_exiftool(tmp_path, settings, tags, et):
    # moving the preview the pointer finds is exiftool's to do: emowatch does not write these
    path = minolta_jpeg(tmp_path / "minolta.jpg", mpf=False)
    assert not Embedded(path, Format.JPEG, et).writes_xp_itself()
    preview = corpus.binary(path, "PreviewImage")
    write_tags(path, tags, settings=settings, exiftool=et)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"
    assert corpus.binary(path, "PreviewImage") == preview


def test_without_exiftool_a_photo_whose_xp_keywords_only_it_may_change_says_they_were_left_out(
        tmp_path, settings, tags):
    path = _full_block(tmp_path / "full.jpg")
    before = corpus.tags_of(path)
    result = write_tags(path, tags, settings=settings, exiftool=None)
    assert result.action == "embedded" and "XPKeywords not written" in result.reason
    assert "IFD0:XPKeywords" not in corpus.tags_of(path) and "IFD0:XPKeywords" not in before
    # one that emowatch writes itself, or xp_keywords = false: nothing to say
    plain = camera(tmp_path / "camera.jpg")
    assert not write_tags(plain, tags, settings=settings, exiftool=None).reason
    assert not write_tags(path, corpus.emotion("negative"), exiftool=None,
                          settings=replace(settings, keywords=replace(settings.keywords, xp_keywords=False))).reason


def _two_exif_blocks(path: Path) -> Path:
    """A camera JPEG with a second, small EXIF block before its own (as some tools leave)."""
    camera(path)
    data = path.read_bytes()
    small = Image.Exif()
    small[0x0131] = "Another tool"
    payload = small.tobytes()
    payload = payload if payload.startswith(jpeg.EXIF_HEADER) else jpeg.EXIF_HEADER + payload
    at = jpeg.layout(data).exif(data).start
    path.write_bytes(data[:at] + b"\xff\xe1" + struct.pack(">H", 2 + len(payload)) + payload + data[at:])
    assert len(jpeg.layout(path.read_bytes()).exifs(path.read_bytes())) == 2
    return path


def test_two_exif_blocks_are_left_to_exiftool(tmp_path, settings, tags, et, exiv2_bin):
    # readers choose which block they read: emowatch does not choose for them
    path = _two_exif_blocks(tmp_path / "two.jpg")
    assert not Embedded(path, Format.JPEG, et).writes_xp_itself()
    write_tags(path, tags, settings=settings, exiftool=et)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"
    assert exiv2_xp(path) == "Emotion;Positive"
    other = _two_exif_blocks(tmp_path / "other.jpg")
    exifs = jpeg.layout(other.read_bytes()).exifs(other.read_bytes())
    blocks = [s.payload(other.read_bytes()) for s in exifs]
    result = write_tags(other, tags, settings=settings, exiftool=None)
    assert "XPKeywords not written" in result.reason
    data = other.read_bytes()
    assert [s.payload(data) for s in jpeg.layout(data).exifs(data)] == blocks


def test_a_photo_with_iptc_is_left_to_exiftool(photo, et):
    assert not Embedded(photo("full.jpg"), Format.JPEG, et).writes_xp_itself()
    assert Embedded(photo("exif.jpg"), Format.JPEG, et).writes_xp_itself()


def _full_block(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "FakeCam"
    exif.get_ifd(0x8769)[0x927C] = bytes(64_900)  # a maker note filling the segment
    Image.fromarray(pattern(64, 48)).save(path, exif=exif.tobytes())
    return path


def test_an_exif_block_without_room_is_left_to_exiftool(tmp_path, settings, tags, et):
    path = _full_block(tmp_path / "full.jpg")
    assert not Embedded(path, Format.JPEG, et).writes_xp_itself()
    write_tags(path, tags, settings=settings, exiftool=et)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"


# -- the block itself -----------------------------------------------------------------------


def _block(data: bytes) -> bytes:
    seg = jpeg.layout(data).exif(data)
    return seg.payload(data)[6:]


def _tiff(entries: list[tuple[int, int, int, bytes]], extra: bytes = b"", order: str = "<") -> bytes:
    """A TIFF block: IFD0 at 8 with `entries` (tag, type, count, 4-byte field), then `extra`."""
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    table = struct.pack(order + "H", len(entries)) + b"".join(
        struct.pack(order + "HHI", t, k, n) + f for t, k, n, f in entries) + struct.pack(order + "I", 0)
    return head + table + extra


def test_short_keywords_sit_in_the_entry_itself():
    block = _tiff([(0x010F, 2, 4, b"Cam\x00")])
    ifd = xp_keywords.read(block)
    new = xp_keywords.with_keywords(block, ifd, "a")  # "a\0" + "\0\0": four bytes, in the field
    assert xp_keywords.read(new).xp == "a"
    # IFD0 was the last thing in the block, with no value beyond it: written over, in place
    assert len(new) == 8 + 2 + 12 * 2 + 4
    assert xp_keywords.same_but_keywords(block, new, "a")


def test_the_check_catches_what_a_wrong_write_would_do():
    value = b"FakeCam\x00"
    block = _tiff([(0x010F, 2, len(value), struct.pack("<I", 26)), (0x0110, 2, 4, b"M1\x00\x00")], value)
    ifd = xp_keywords.read(block)
    good = xp_keywords.with_keywords(block, ifd, "Emotion;Positive")
    assert xp_keywords.same_but_keywords(block, good, "Emotion;Positive")
    assert not xp_keywords.same_but_keywords(block, good, "Emotion;Negative")
    damaged = bytearray(good)
    damaged[27] ^= 1  # a byte of Make's value, in the kept part
    assert not xp_keywords.same_but_keywords(block, bytes(damaged), "Emotion;Positive")
    table = xp_keywords.read(good)
    dropped = bytearray(good)
    dropped[table.offset:table.offset + 2] = struct.pack("<H", len(table.entries) - 1)  # Model lost
    assert not xp_keywords.same_but_keywords(block, bytes(dropped), "Emotion;Positive")


@pytest.mark.parametrize("entries", [
    [(0x9C9E, 1, 4, b"a\x00\x00\x00"), (0x9C9E, 1, 4, b"b\x00\x00\x00")],  # two XPKeywords
    [(0x9C9E, 1, 3, b"a\x00\x00\x00")],  # an odd number of bytes: not UTF-16
    [(0x9C9E, 3, 2, b"a\x00\x00\x00")],  # stored as SHORTs: exiftool reads those its own way
    [(0x9C9E, 1, 40, struct.pack("<I", 4000))],  # its value outside the block
    [(0x9C9E, 1, 4, b"\xfe\xff\x00a")],  # a big-endian byte order mark: exiftool reads "a"
    [(0x9C9E, 1, 4, b"\xff\xfea\x00")],  # a little-endian one, which exiftool drops
])
def test_keywords_that_cannot_be_read_with_certainty_are_not_read(entries):
    assert xp_keywords.read(_tiff(entries)) is None


def test_a_value_outside_the_block_is_not_rewritten():
    block = _tiff([(0x010F, 2, 40, struct.pack("<I", 4000))])
    ifd = xp_keywords.read(block)
    assert ifd is not None and not xp_keywords.editable(block, ifd, "Emotion")


def test_a_jpeg_the_same_after_a_tag_and_an_untag_when_it_had_no_xmp(tmp_path, settings, tags):
    # the write goes through write_tags as a daemon or `emowatch tag` would, on a big photo
    buffer = io.BytesIO()
    Image.fromarray(pattern(1600, 1200, seed=9)).save(buffer, "JPEG", quality=90,
                                                      exif=corpus._exif_with_makernote())
    path = tmp_path / "big.jpg"
    path.write_bytes(buffer.getvalue())
    write_tags(path, tags, settings=settings, exiftool=None)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"
    remove_tags(path, settings=settings, exiftool=None)
    assert path.read_bytes() == buffer.getvalue()


def _at_the_limit(path: Path, xp: str | None = None) -> Path:
    """A JPEG whose EXIF block (a big maker note, `xp` the user's XPKeywords) leaves just the
    room for emowatch's copy of IFD0 with ROOM_ASKED characters of keywords."""
    def save(note: int) -> bytes:
        exif = Image.Exif()
        exif[0x010F] = "FakeCam"
        if xp is not None:
            exif[0x9C9E] = xp.encode("utf-16-le") + b"\x00\x00"
        exif.get_ifd(0x8769)[0x927C] = bytes(note)
        buffer = io.BytesIO()
        Image.fromarray(pattern(64, 48)).save(buffer, "JPEG", exif=exif.tobytes())
        return buffer.getvalue()

    block = _block(save(50_000))
    ifd = xp_keywords.read(block)
    asked = "x" * xp_keywords.ROOM_ASKED
    note = 50_000 + 65533 - 6 - len(xp_keywords.with_keywords(block, ifd, asked))
    while not xp_keywords.editable(block := _block(save(note)), xp_keywords.read(block), asked):
        note -= 1  # (Pillow pads a value to an even length)
    path.write_bytes(save(note))
    return path


def test_a_photo_tagged_near_the_segment_limit_is_still_untagged_without_exiftool(tmp_path, settings, tags):
    # re-tagging replaces emowatch's copy of IFD0 and untagging drops it: the room they need is
    # not that of one more copy
    path = _at_the_limit(tmp_path / "full.jpg")
    original = path.read_bytes()
    assert Embedded(path, Format.JPEG, None).writes_xp_itself()
    write_tags(path, tags, settings=settings, exiftool=None)
    assert Embedded(path, Format.JPEG, None).writes_xp_itself()
    write_tags(path, corpus.emotion("negative"), settings=settings, exiftool=None)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Negative"
    assert remove_tags(path, settings=settings, exiftool=None).action == "removed"
    assert path.read_bytes() == original


def test_the_users_own_long_keywords_count_in_the_room_asked(tmp_path, settings, tags, et):
    # room for ROOM_ASKED characters is not room for the user's words and ours: such a photo
    # is exiftool's to write (IFD0 rewritten in place), not refused
    words = ";".join(f"word{i:03d}" for i in range(140))
    path = _at_the_limit(tmp_path / "full.jpg", xp=words)
    assert not Embedded(path, Format.JPEG, et).writes_xp_itself()
    write_tags(path, tags, settings=settings, exiftool=et)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == words + ";Emotion;Positive"


def _cut_at_ifd1(path: Path) -> Path:
    """The photo with its EXIF block cut short where IFD1 (the thumbnail's) began, IFD0's link
    to it left as it was: what a tool that strips thumbnails carelessly leaves."""
    data = path.read_bytes()
    seg = jpeg.layout(data).exif(data)
    block = _block(data)
    (ifd1,) = struct.unpack("<I", xp_keywords.read(block).next_ifd)
    payload = jpeg.EXIF_HEADER + block[:ifd1]
    path.write_bytes(data[:seg.start] + b"\xff\xe1" + struct.pack(">H", 2 + len(payload)) + payload
                     + data[seg.end:])
    return path


def test_a_block_cut_short_is_left_to_exiftool(tmp_path, settings, tags, et):
    # IFD0's link to IFD1 points past the block's end, where the copy of IFD0 would go: readers
    # would take the copy for IFD1 (IFD0 linking to itself). exiftool will not rewrite such an
    # EXIF block ("Bad IFD1 directory"): the XMP is written, XPKeywords are not, and it says so
    path = _cut_at_ifd1(camera(tmp_path / "camera.jpg"))
    assert not Embedded(path, Format.JPEG, et).writes_xp_itself()
    result = write_tags(path, tags, settings=settings, exiftool=et)
    assert "XPKeywords not written" in result.reason
    assert "IFD0:XPKeywords" not in corpus.tags_of(path)
    assert "previous IFD0" not in warnings(path)


@pytest.mark.parametrize("link", ["next", "exif"])
def test_the_check_catches_a_link_into_the_copy(link):
    # a link from the old block to where the copy goes: the copy would be read as another IFD
    entries = [(0x010F, 2, 4, b"Cam\x00")]
    size = 8 + 2 + 12 * 2 + 4 + 2  # IFD0's table, two bytes after it
    if link == "exif":
        entries.append((0x8769, 4, 1, struct.pack("<I", size)))
    block = bytearray(_tiff(entries, b"\x00\x00"))
    if link == "next":
        entries.append((0x0110, 2, 4, b"M1\x00\x00"))
        block = bytearray(_tiff(entries, b"\x00\x00"))
        struct.pack_into("<I", block, 8 + 2 + 12 * 2, size)
    block = bytes(block)
    assert len(block) == size
    ifd = xp_keywords.read(block)
    assert not xp_keywords.editable(block, ifd, "Emotion")
    assert not xp_keywords.same_but_keywords(block, xp_keywords.with_keywords(block, ifd, "Emotion"), "Emotion")


def test_keywords_with_a_byte_order_mark_are_read_by_exiftool(tmp_path, settings, tags, et):
    # exiftool decodes FE FF ... as big-endian: read here as UTF-16LE, the user's word would be
    # garbage, copied into dc:subject and written back before ours (which exiftool would then
    # read as big-endian garbage too)
    exif = Image.Exif()
    exif.load(corpus._exif_with_makernote())
    exif[0x9C9E] = "\ufeffFamily".encode("utf-16-be") + b"\x00\x00"
    path = tmp_path / "bom.jpg"
    Image.fromarray(pattern(64, 48)).save(path, exif=exif.tobytes())
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Family"
    assert not Embedded(path, Format.JPEG, et).writes_xp_itself()
    write_tags(path, tags, settings=settings, exiftool=et)
    found = corpus.tags_of(path)
    assert found["IFD0:XPKeywords"] == "Family;Emotion;Positive"
    assert corpus.as_list(found["XMP-dc:Subject"]) == ["Family", "Emotion", "Positive"]


def test_a_link_out_of_the_block_does_not_hide_one_into_the_copy():
    # the link to IFD1 leads far out of the block (left so), the Exif IFD's into the copy
    size = 8 + 2 + 12 * 2 + 4 + 2
    block = bytearray(_tiff([(0x010F, 2, 4, b"Cam\x00"), (0x8769, 4, 1, struct.pack("<I", size))],
                            b"\x00\x00"))
    struct.pack_into("<I", block, 8 + 2 + 12 * 2, 0xFFFF0)
    block = bytes(block)
    assert len(block) == size
    ifd = xp_keywords.read(block)
    assert not xp_keywords.editable(block, ifd, "Emotion")


def test_an_entry_of_a_type_no_reader_knows_in_the_exif_ifd_is_no_reason_for_exiftool():
    # the Exif IFD's entries are only followed for where they point: one no reader can size
    # points nowhere
    exif = struct.pack("<H", 1) + struct.pack("<HHII", 0x9000, 99, 4, 0x7FFFFFFF) + struct.pack("<I", 0)
    at = 8 + 2 + 12 * 2 + 4
    block = _tiff([(0x010F, 2, 4, b"Cam\x00"), (0x8769, 4, 1, struct.pack("<I", at))], exif)
    ifd = xp_keywords.read(block)
    assert xp_keywords.editable(block, ifd, "Emotion")


def test_once_a_photo_gains_a_photoshop_block_only_exiftool_changes_its_xp_keywords(tmp_path, settings, tags, et):
    # tagged by emowatch itself; then another program adds IPTC (a city, no keywords): the
    # IPTC is exiftool's to keep in step, and the XPKeywords go with it
    from emowatch.errors import MetadataError

    path = camera(tmp_path / "camera.jpg")
    write_tags(path, tags, settings=settings, exiftool=None)
    corpus.exiftool("-q", "-overwrite_original", "-IPTC:City=Paris", path)
    before = path.read_bytes()
    with pytest.raises(MetadataError, match="only exiftool can change"):
        remove_tags(path, settings=settings, exiftool=None)
    assert path.read_bytes() == before
    assert remove_tags(path, settings=settings, exiftool=et).action == "removed"
    found = corpus.tags_of(path)
    assert "IFD0:XPKeywords" not in found and found["IPTC:City"] == "Paris"
