"""A maker note pointing at a preview after the image data (emowatch/xmp/exif_pointers.py):
adding or resizing the XMP segment moves the preview, so the pointer must move with it. emowatch's
own splice cannot move it: exiftool stores the packet instead (and is verified), and without
exiftool the photo is refused, untouched. Photos with nothing pointing past their image data
keep the fast splice."""

from __future__ import annotations

import io
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

import corpus
from emowatch.errors import ExiftoolMissingError, MetadataError
from emowatch.metadata import read_tags, remove_tags, write_tags
from emowatch.settings import Settings
from emowatch.xmp import exif_pointers, jpeg, jpeg_head
from photos import camera_jpeg, minolta_jpeg, patch_mpf_entries, pattern


def _preview(path: Path) -> bytes:
    """The bytes PreviewImageStart/Length point at, as any reader would take them."""
    tags = corpus.tags_of(path)
    start, size = int(tags["Minolta:PreviewImageStart"]), int(tags["Minolta:PreviewImageLength"])
    return path.read_bytes()[start:start + size]


def _without_xp(settings: Settings) -> Settings:
    return replace(settings, keywords=replace(settings.keywords, xp_keywords=False))


@pytest.mark.parametrize("mpf", [True, False], ids=["into-mpf-preview", "trailer"])
def test_the_preview_pointer_moves_with_the_preview(tmp_path, et, settings, tags, mpf):
    path = minolta_jpeg(tmp_path / "minolta.jpg", mpf=mpf)
    preview = _preview(path)
    assert preview.startswith(b"\xff\xd8\xff") and preview.endswith(b"\xff\xd9")
    image = corpus.jpeg_image_data(path.read_bytes())
    before = corpus.tags_of(path)

    # XMP alone (no XPKeywords): emowatch's own splice would have moved the preview alone
    result = write_tags(path, tags, settings=_without_xp(settings), exiftool=et)
    assert result.action == "embedded"
    assert _preview(path) == preview
    assert corpus.jpeg_image_data(path.read_bytes()) == image
    assert "Emotion|Positive" in corpus.as_list(corpus.tags_of(path)["XMP-lr:HierarchicalSubject"])
    assert corpus.same_result(read_tags(path, exiftool=et), tags)

    remove_tags(path, settings=_without_xp(settings), exiftool=et)  # the segment goes: the preview moves back
    assert _preview(path) == preview
    def kept(listing: dict) -> dict:  # (where the preview now starts, and the file's times)
        return {k: v for k, v in listing.items() if not k.startswith(("System:", "SourceFile"))
                and k not in ("Minolta:PreviewImageStart", "MPImage2:MPImageStart")}

    assert kept(corpus.tags_of(path)) == kept(before)


def test_a_small_trailer_preview_exiftool_would_move_into_the_exif_is_refused(tmp_path, et, settings, tags):
    # exiftool puts a preview that fits into the EXIF block and drops the trailer: the preview
    # survives, but the bytes after the image change, which emowatch does not accept
    path = minolta_jpeg(tmp_path / "minolta.jpg", mpf=False, trailer=(160, 120))
    before = path.read_bytes()
    with pytest.raises(MetadataError, match="would change; nothing was written"):
        write_tags(path, tags, settings=_without_xp(settings), exiftool=et)
    assert path.read_bytes() == before


def test_without_exiftool_such_a_photo_is_refused_untouched(tmp_path, settings, tags):
    path = minolta_jpeg(tmp_path / "minolta.jpg", mpf=True)
    before = path.read_bytes()
    with pytest.raises(ExiftoolMissingError, match="maker note points at data after the image"):
        write_tags(path, tags, settings=settings, exiftool=None)
    with pytest.raises(ExiftoolMissingError):  # --dry-run says so too
        write_tags(path, tags, settings=settings, exiftool=None, dry_run=True)
    assert path.read_bytes() == before


def test_a_retag_that_keeps_the_segment_size_needs_no_exiftool(tmp_path, et, settings, tags):
    path = minolta_jpeg(tmp_path / "minolta.jpg", mpf=True)
    preview = _preview(path)
    write_tags(path, tags, settings=_without_xp(settings), exiftool=et)
    size = path.stat().st_size
    # another result fits in the padding left for it: nothing after the segment moves
    other = corpus.emotion("negative", 0.8)
    write_tags(path, other, settings=_without_xp(settings), exiftool=None)
    assert path.stat().st_size == size
    assert _preview(path) == preview
    assert corpus.same_result(read_tags(path), other)


def test_bytes_after_the_photo_that_nothing_points_at_keep_the_fast_splice(tmp_path, settings, tags):
    # a phone's trailer (a motion photo's video, located from the end of the file): nothing in
    # the EXIF points at it, so no exiftool is needed and it stays the file's last bytes
    path = corpus.jpeg_exif_only(tmp_path / "motion.jpg")
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    path.write_bytes(path.read_bytes() + video)
    data = path.read_bytes()
    assert exif_pointers.pointed(data, jpeg.layout(data)) == set()
    assert write_tags(path, tags, settings=settings, exiftool=None).action == "embedded"
    assert path.read_bytes().endswith(video)
    assert corpus.same_result(read_tags(path), tags)


def _with_pointer(base_of, order: str = "<", length: bool = True) -> tuple[bytes, int]:
    """A JPEG whose EXIF holds one 4-byte value counted from `base_of(data, tiff, note)` to a
    preview after its image data, and the preview's length in the next 4 bytes (`length`, as
    Samsung's STMN note stores it); returns it and the preview's offset."""
    exif = Image.Exif()
    exif[0x010F] = "Camera"
    exif.get_ifd(0x8769)[0x927C] = b"Nikon\x00\x02\x10\x00\x00" + b"\x00" * 22 + b"PTR!" + b"\x00" * 8
    out = io.BytesIO()
    Image.fromarray(pattern(320, 240, seed=5)).save(out, format="JPEG", exif=exif.tobytes())
    shown = io.BytesIO()
    Image.fromarray(pattern(160, 120, seed=6)).save(shown, format="JPEG")
    data = bytearray(out.getvalue() + shown.getvalue())
    lay = jpeg.layout(bytes(data))
    app1 = next(s for s in lay.segments if s.marker == jpeg.APP1)
    tiff = app1.body + len(jpeg.EXIF_HEADER)
    note = bytes(data).index(b"Nikon\x00\x02")
    target = jpeg.image_end(bytes(data), lay)
    at = bytes(data).index(b"PTR!")
    struct.pack_into(order + "I", data, at, target - base_of(tiff, note))
    if length:
        struct.pack_into(order + "I", data, at + 4, len(data) - target)
    return bytes(data), target


@pytest.mark.parametrize("base_of", [
    lambda tiff, note: tiff,  # most maker notes, and IFD0
    lambda tiff, note: 0,  # an offset from the file's start (Samsung)
    lambda tiff, note: note,  # from the maker note itself (newer Olympus)
    lambda tiff, note: note + 10,  # from the maker note's own TIFF header (Nikon)
], ids=["tiff", "file", "maker-note", "nikon"])
@pytest.mark.parametrize("order", ["<", ">"], ids=["II", "MM"])
def test_a_pointer_is_found_from_each_base_and_in_either_byte_order(base_of, order):
    data, target = _with_pointer(base_of, order)
    lay = jpeg.layout(data)
    assert exif_pointers.pointed(data, lay) == {target}
    # counted from a base the change moves too, it moves along: nothing is stranded
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1).body + len(jpeg.EXIF_HEADER)
    moved_with_it = base_of(tiff, data.index(b"Nikon\x00\x02"))
    assert exif_pointers.pointed(data, lay, bases_before=moved_with_it) == set()
    assert exif_pointers.pointed(data, lay, bases_before=moved_with_it + 1) == {target}


@pytest.mark.parametrize("length", [0, 15, 10 ** 6], ids=["none", "too-short", "past-the-file"])
def test_a_value_with_no_length_beside_it_is_no_pointer(tmp_path, settings, tags, length):
    # a setting that happens to equal the preview's offset: no byte count that fits sits by it
    data, target = _with_pointer(lambda tiff, note: tiff, length=False)
    lay = jpeg.layout(data)
    at = data.index(struct.pack("<I", target - (next(s for s in lay.segments if s.marker == jpeg.APP1).body + 6)))
    data = data[:at + 4] + struct.pack("<I", length) + data[at + 8:]
    assert exif_pointers.pointed(data, jpeg.layout(data)) == set()
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    assert write_tags(path, tags, settings=settings, exiftool=None).action == "embedded"  # the splice


def test_a_sony_preview_overlapping_the_segment_before_it_is_a_target():
    # newer Sonys point one byte before "D8 FF DB" inside their MPF preview: that byte is where
    # exiftool says the preview starts, not an FF
    data, target = _with_pointer(lambda tiff, note: tiff)
    inner = data.index(b"\xff\xdb", target + 2)  # the preview's quantization table
    spliced = data[:inner - 2] + b"\x00\xd8" + data[inner:]  # as if its SOI overlapped the segment end
    assert inner - 2 in exif_pointers.starts(spliced, jpeg.layout(spliced))


def test_a_verified_result_must_still_point_at_what_the_photo_pointed_at(tmp_path):
    data, target = _with_pointer(lambda tiff, note: tiff)
    lay = jpeg.layout(data)
    grown = jpeg.splice(data, lay, b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    assert not exif_pointers.kept(data, lay, grown, jpeg.layout(grown))  # our splice strands it
    assert exif_pointers.kept(data, lay, data, lay)


def _leica(path: Path) -> Path:
    """A Leica M (Typ 240) style JPEG: the camera stores its whole maker note after the photo's
    end marker, and the EXIF's MakerNote entry points at it there (from the TIFF header)."""
    exif = Image.Exif()
    exif[0x010F] = "Leica Camera AG"
    exif[0x0110] = "LEICA M (Typ 240)"
    exif.get_ifd(0x8769)[0x927C] = b"MOVEDOUT" + b"\x00" * 24  # aimed at the trailer below
    out = io.BytesIO()
    Image.fromarray(pattern(640, 480, seed=7)).save(out, format="JPEG", quality=90, exif=exif.tobytes())
    data = bytearray(out.getvalue())
    lay = jpeg.layout(bytes(data))
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1).body + len(jpeg.EXIF_HEADER)
    end = "<" if data[tiff:tiff + 2] == b"II" else ">"
    note = (b"LEICA\x00\x02\xff" + struct.pack(end + "H", 1)
            + struct.pack(end + "HHII", 0x0304, 4, 1, 1234) + b"\x00" * 4)  # FocusDistance
    entry = bytes(data).index(struct.pack(end + "H", 0x927C), tiff)  # (Pillow: type BYTE)
    struct.pack_into(end + "II", data, entry + 4, len(note), len(data) - tiff)
    path.write_bytes(bytes(data) + note)
    return path


def _leica_note_start(path: Path) -> int:
    data = path.read_bytes()
    lay = jpeg.layout(data)
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1
                and s.payload(data).startswith(jpeg.EXIF_HEADER)).body + len(jpeg.EXIF_HEADER)
    return tiff + exif_pointers._maker_note(data[tiff:])[0]


def test_a_maker_note_stored_after_the_image_keeps_its_pointer(tmp_path, et, settings, tags):
    # the Leica's MakerNote entry is itself the pointer past the image data: adding XMP moved
    # the note, and exiftool then warned "Invalid Leica MakerNote offset"
    path = _leica(tmp_path / "leica.jpg")
    data = path.read_bytes()
    assert data[_leica_note_start(path):].startswith(b"LEICA\x00")
    assert exif_pointers.pointed(data, jpeg.layout(data)) == {_leica_note_start(path)}

    assert write_tags(path, tags, settings=_without_xp(settings), exiftool=et).action == "embedded"
    assert path.read_bytes()[_leica_note_start(path):].startswith(b"LEICA\x00")
    listing = corpus.tags_of(path)
    assert listing["Leica:FocusDistance"] == "1234" and "ExifTool:Warning" not in listing
    assert corpus.same_result(read_tags(path, exiftool=et), tags)

    other = _leica(tmp_path / "other.jpg")
    before = other.read_bytes()
    with pytest.raises(ExiftoolMissingError):
        write_tags(other, tags, settings=settings, exiftool=None)
    assert other.read_bytes() == before


def test_a_trailer_of_many_jpeg_starts_is_searched_in_linear_time(monkeypatch):
    # a crafted trailer: every 4 bytes a JPEG start, each to be tried against every value of a
    # maker note as large as EXIF holds (one read of the note each took seconds per 100 KB):
    # the note's values are gathered once, and only a value it holds is searched for
    import os

    calls = {"_words": 0, "_with_a_length": 0}
    for name in calls:
        def counted(*args, real=getattr(exif_pointers, name), name=name):
            calls[name] += 1
            return real(*args)
        monkeypatch.setattr(exif_pointers, name, counted)
    exif = Image.Exif()
    exif[0x010F] = "Sony"
    exif.get_ifd(0x8769)[0x927C] = os.urandom(60_000)
    out = io.BytesIO()
    Image.fromarray(pattern(320, 240, seed=1)).save(out, format="JPEG", exif=exif.tobytes())
    data = out.getvalue() + b"\xff\xd8\xff\xe0" * 25_000
    lay = jpeg.layout(data)
    assert exif_pointers.pointed(data, lay) == set()
    assert calls["_words"] == 1 and calls["_with_a_length"] < 20  # (100,000 pairs tried)
    # the same answer as a search for each (on fewer of them, to be quick)
    few = bytearray(out.getvalue() + b"\xff\xd8\xff\xe0" * 2_000)
    lay = jpeg.layout(bytes(few))
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1).body + len(jpeg.EXIF_HEADER)
    note = tiff + exif_pointers._maker_note(bytes(few[tiff:]))[0]
    planted = sorted(exif_pointers.starts(bytes(few), lay))[::700]
    for k, (target, order, base) in enumerate(zip(planted, "<><", (tiff, 0, note))):
        struct.pack_into(order + "II", few, note + 1001 * k + 3, target - base, 1000)  # unaligned too
    few = bytes(few)
    gathered = exif_pointers.pointed(few, lay)
    assert set(planted) <= gathered
    monkeypatch.setattr(exif_pointers, "_SEARCHES", 10 ** 9)
    assert exif_pointers.pointed(few, lay) == gathered


def _sony(path: Path, gap: int = 0) -> tuple[Path, int]:
    """A JPEG as Sony's SLT, NEX and ILCE cameras write it (exiftool's Sony.pm, Writer.pl): an
    MPF preview whose first segment, an APP1, ends in the last bytes of a 32-byte Sony header
    and "00 D8"; the maker note's PreviewImage (0x2001) points at that header, 33 bytes before
    the preview's "D8 FF DB". `gap`: bytes between the photo's end and the preview (exiftool
    expects more than 32 there). Returns it and where the pointer points."""
    exif = Image.Exif()
    exif[0x010F] = "SONY"
    exif[0x0110] = "SLT-A77V"
    # "SONY DSC " header, then an IFD of 2 entries (filled in below) and 16 bytes of values
    exif.get_ifd(0x8769)[0x927C] = b"SONY DSC \x00\x00\x00" + b"\x00\x02SNYP" + b"\x00" * 26 + b"0123456789abcdef"
    camera_jpeg(path, pattern(800, 600, seed=3), exif=exif.tobytes())
    data = path.read_bytes()
    second = jpeg.image_end(data, jpeg.layout(data))
    dqt = data.index(b"\xff\xdb", second)
    payload = b"Exif\x00\x00" + b"\x00" * 90 + b"SONY PREVIEW" + b"\x00" * 20 + b"\x00\xd8"
    seg = b"\xff\xe1" + struct.pack(">H", 2 + len(payload)) + payload
    grown = len(seg) - (dqt - second - 2)
    data = data[:second] + b"\x00" * gap + data[second:second + 2] + seg + data[dqt:]  # (its APPn replaced)
    data = bytearray(patch_mpf_entries(data, lambda attr, size, offset: (attr, size + grown, offset + gap)))
    second += gap
    lay = jpeg.layout(bytes(data))
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1).body + len(jpeg.EXIF_HEADER)
    end = "<" if data[tiff:tiff + 2] == b"II" else ">"
    ifd = bytes(data).index(b"\x00\x02SNYP" if end == ">" else b"\x02\x00SNYP", tiff)
    start = second + 2 + len(seg) - 34
    assert data[start + 33:start + 36] == b"\xd8\xff\xdb"
    struct.pack_into(end + "HHHII", data, ifd, 2, 0x0001, 7, 16, ifd + 30 - tiff)
    struct.pack_into(end + "HHII", data, ifd + 14, 0x2001, 7, len(data) - start, start - tiff)
    path.write_bytes(bytes(data))
    return path, start


def _sony_preview(path: Path) -> bytes:
    """The bytes the maker note's PreviewImage entry points at."""
    data = path.read_bytes()
    lay = jpeg.layout(data)
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1
                and s.payload(data).startswith(jpeg.EXIF_HEADER)).body + len(jpeg.EXIF_HEADER)
    end = "<" if data[tiff:tiff + 2] == b"II" else ">"
    entry = data.index(struct.pack(end + "HH", 0x2001, 7), tiff)
    size, offset = struct.unpack_from(end + "II", data, entry + 4)
    return data[tiff + offset:tiff + offset + size]


@pytest.mark.parametrize("gap", [64, 0])
def test_a_sony_preview_behind_its_32_byte_header_keeps_its_pointer(tmp_path, et, settings, tags, gap):
    # the pointer aims 33 bytes before "D8 FF DB" (what exiftool accepts besides an FF D8 FF
    # and the 1-byte overlap): taken for no pointer at all, the splice left it aimed at other bytes
    path, start = _sony(tmp_path / "sony.jpg", gap)
    data = path.read_bytes()
    assert exif_pointers.pointed(data, jpeg.layout(data)) == {start}
    preview = _sony_preview(path)
    assert preview[32:36] == b"\x00\xd8\xff\xdb"
    try:
        write_tags(path, tags, settings=_without_xp(settings), exiftool=et)
    except MetadataError:
        # with the preview right after the photo, exiftool rewrites it without the bytes
        # before its header: refused, untouched
        assert not gap and path.read_bytes() == data
    else:
        assert gap and corpus.same_result(read_tags(path, exiftool=et), tags)
    assert _sony_preview(path) == preview

    other, _ = _sony(tmp_path / "other.jpg", gap)
    with pytest.raises(ExiftoolMissingError):
        write_tags(other, tags, settings=_without_xp(settings), exiftool=None)


def test_exiftool_never_edits_the_header_alone_of_a_photo_with_such_a_pointer(tmp_path, et, settings, tags,
                                                                             monkeypatch):
    # exiftool lists Sony's pointer as PreviewImage (binary), under no offset's name, and the
    # preview is the MPF image after the photo: jpeg_head took the header alone, where exiftool
    # cannot see the preview it points at (the result was refused only by the final check)
    path, _ = _sony(tmp_path / "sony.jpg")
    data = path.read_bytes()
    assert jpeg_head.whole_file_needed(data, jpeg.layout(data), corpus.tags_of(path))

    # tagged before, with room in its packet: a new result needs no splice, only XPKeywords
    monkeypatch.setattr(exif_pointers, "pointed", lambda data, lay, bases_before=None: set())
    write_tags(path, tags, settings=_without_xp(settings), exiftool=None)
    monkeypatch.undo()
    data = bytearray(path.read_bytes())  # (its pointer aimed at the preview again)
    lay = jpeg.layout(bytes(data))
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1
                and s.payload(bytes(data)).startswith(jpeg.EXIF_HEADER)).body + len(jpeg.EXIF_HEADER)
    end = "<" if data[tiff:tiff + 2] == b"II" else ">"
    start = bytes(data).index(b"\xd8\xff\xdb", jpeg.image_end(bytes(data), lay)) - 33
    entry = bytes(data).index(struct.pack(end + "HH", 0x2001, 7), tiff)
    struct.pack_into(end + "II", data, entry + 4, len(data) - start, start - tiff)
    path.write_bytes(bytes(data))
    preview = _sony_preview(path)

    heads = []
    monkeypatch.setattr(jpeg_head, "edited", lambda *a: heads.append(a) or None)
    try:
        write_tags(path, corpus.emotion("negative", 0.8), settings=settings, exiftool=et)
    except MetadataError:
        assert path.read_bytes() == data  # (exiftool's whole-file result refused: untouched)
    assert heads == []
    assert _sony_preview(path) == preview


def test_a_maker_note_offset_into_the_image_data_is_no_trailer(tmp_path, settings, tags):
    # a damaged offset, not Leica's trailer: nothing follows the image, so no exiftool is needed
    path = _leica(tmp_path / "leica.jpg")
    data = bytearray(path.read_bytes())
    lay = jpeg.layout(bytes(data))
    end = jpeg.image_end(bytes(data), lay)
    tiff = next(s for s in lay.segments if s.marker == jpeg.APP1).body + len(jpeg.EXIF_HEADER)
    order = "<" if data[tiff:tiff + 2] == b"II" else ">"
    entry = bytes(data).index(struct.pack(order + "H", 0x927C), tiff)
    struct.pack_into(order + "I", data, entry + 8, lay.scan + 100 - tiff)
    path.write_bytes(bytes(data[:end]))  # (the trailer gone too)
    data = path.read_bytes()
    assert exif_pointers.pointed(data, jpeg.layout(data)) == set()
    assert write_tags(path, tags, settings=settings, exiftool=None).action == "embedded"


def _canon(entries: list[tuple[int, int, int, int]]) -> bytes:
    """A Canon JPEG whose maker note is a bare IFD: ImageType "EOS", then `entries` (tag, type,
    count, value), in the EXIF block's byte order."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    count = 1 + len(entries)
    exif.get_ifd(0x8769)[0x927C] = bytes(2 + count * 12 + 4)  # filled in below
    out = io.BytesIO()
    Image.fromarray(pattern(320, 240, seed=8)).save(out, format="JPEG", exif=exif.tobytes())
    data = bytearray(out.getvalue())
    lay = jpeg.layout(bytes(data))
    app1 = next(s for s in lay.segments if s.marker == jpeg.APP1)
    tiff = app1.body + len(jpeg.EXIF_HEADER)
    order = "<" if data[tiff:tiff + 2] == b"II" else ">"
    note = tiff + exif_pointers._maker_note(bytes(data[tiff:app1.end]))[0]
    struct.pack_into(order + "H", data, note, count)
    image_type = (0x0006, 2, 4, int.from_bytes(b"EOS\0", "big" if order == ">" else "little"))
    for i, entry in enumerate((image_type, *entries)):
        struct.pack_into(order + "HHII", data, note + 2 + 12 * i, *entry)
    return bytes(data)


def test_canons_file_length_is_no_pointer_once_something_is_appended(tmp_path, settings, tags):
    # Canon's maker note records the size of the file the camera wrote (CanonFileLength), which
    # is where the photo ends; a tool that appends a trailer makes that number the offset of what
    # follows: it is not a pointer, and the photo keeps the fast splice
    size = len(_canon([(0x000E, 4, 1, 0), (0x0010, 4, 1, 0)]))  # (the same size with any values)
    data = _canon([(0x000E, 4, 1, size), (0x0010, 4, 1, 0x80000000)])  # FileLength, ModelID
    path = tmp_path / "IMG_0001.JPG"
    # megabytes of it (a video, say): then the next entry's tag and type, read as a number, is a
    # byte count that fits, and the length check alone would take the file length for a pointer
    path.write_bytes(bytes(data) + b"appended by another program" + bytes(2_000_000))
    assert int(corpus.tags_of(path)["Canon:CanonFileLength"]) == len(data)  # as exiftool reads it
    assert exif_pointers.pointed(path.read_bytes(), jpeg.layout(path.read_bytes())) == set()
    assert write_tags(path, tags, settings=settings, exiftool=None).action == "embedded"


def test_canons_original_decision_data_after_the_image_keeps_its_pointer(tmp_path, settings, tags):
    # OriginalDecisionDataOffset counts from the file's start (in a JPEG) to the data Canon's
    # verification kit checks, kept after the image data with no byte count beside it: the
    # splice moved the data but not the pointer, and exiftool then found "Invalid original
    # decision data"
    size = len(_canon([(0x0083, 4, 1, 0)]))
    data = _canon([(0x0083, 4, 1, size)])  # OriginalDecisionDataOffset: right after the image
    # version 2 (5D, 20D): FF FF FF FF, version, SHA-1, one record (number, offset, length, SHA-1)
    odd = b"\xff" * 4 + struct.pack("<I", 2) + bytes(20) + struct.pack("<IIII", 1, 0, 0, 1000) + bytes(20)
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(bytes(data) + odd)
    listing = corpus.tags_of(path)  # as exiftool reads it: the data found where the pointer says
    assert int(listing["Canon:OriginalDecisionDataOffset"]) == len(data) and "ExifTool:Warning" not in listing
    assert exif_pointers.pointed(path.read_bytes(), jpeg.layout(path.read_bytes())) == {len(data)}
    before = path.read_bytes()
    with pytest.raises(ExiftoolMissingError, match="maker note points at data after the image"):
        write_tags(path, tags, settings=settings, exiftool=None)
    assert path.read_bytes() == before
