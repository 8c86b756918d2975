"""exiftool edits a JPEG's header alone (emowatch/xmp/jpeg_head.py): the same bytes as when it
edits the whole file, the image data and everything after it never handed over, and a fall back
to the whole file whenever the header alone will not do."""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest

import corpus
from emowatch.errors import ExiftoolError, MetadataError
from emowatch.metadata import write_tags
from emowatch.xmp import exif_pointers, jpeg, jpeg_head, scratch
from photos import camera_jpeg, minolta_jpeg, pattern

EDITS = [
    ["-IFD0:XPKeywords=Emotion;Positive"],
    ["-IPTC:Keywords+=Positive"],
    ["-IFD0:XPKeywords=Emotion;Positive", "-IPTC:Keywords+=Positive", "-Photoshop:IPTCDigest=new"],
]


def _camera(tmp_path: Path, et=None) -> Path:
    """A camera JPEG: EXIF with a maker note, then a 1616 px preview indexed by MPF. With `et`,
    it also carries an IPTC keyword, which only exiftool keeps in step (without one, emowatch
    writes its XPKeywords itself: test_xmp_xp_keywords)."""
    exif = corpus._exif_with_makernote()
    path = camera_jpeg(tmp_path / "camera.jpg", pattern(2400, 1600, seed=3), exif=exif)
    if et is not None:
        _iptc(path, et)
    return path


def _iptc(path: Path, et) -> Path:
    et.write_in_place(path, ["-IPTC:Keywords=Family"])
    return path


@pytest.fixture
def jpegs(pristine, tmp_path) -> list[Path]:
    return [corpus.copy(pristine["full.jpg"], tmp_path), corpus.copy(pristine["exif.jpg"], tmp_path),
            _camera(tmp_path)]


@pytest.mark.parametrize("edits", EDITS, ids=["xp", "iptc", "both"])
def test_the_header_comes_out_as_when_exiftool_edits_the_whole_file(jpegs, et, tmp_path, edits):
    for src in jpegs:
        data = src.read_bytes()
        whole = Path(shutil.copy(src, tmp_path / f"whole-{src.name}"))
        et.write_in_place(whole, edits)
        got = jpeg_head.edited(data, jpeg.layout(data), lambda f: et.write_in_place(f, edits))
        assert got is not None, src.name
        assert got == whole.read_bytes(), src.name


def test_a_camera_jpeg_is_tagged_without_handing_exiftool_its_image_data(tmp_path, et, settings, tags):
    path = _camera(tmp_path, et)
    before = path.read_bytes()
    preview = corpus.binary(path, "PreviewImage")
    assert preview.startswith(b"\xff\xd8")  # there is a preview to keep
    sizes: list[int] = []

    class Recording:  # the real exiftool, with the size of each file it is asked to edit noted
        def __getattr__(self, name):
            return getattr(et, name)

        def write_in_place(self, file: Path, args):
            sizes.append(Path(file).stat().st_size)
            return et.write_in_place(file, args)

    result = write_tags(path, tags, settings=settings, exiftool=Recording())
    assert result.action == "embedded"
    assert sizes and max(sizes) < 10_000 < len(before)  # the header only, never the megabytes
    after = path.read_bytes()
    assert after.endswith(before[jpeg.layout(before).scan:])  # scan data, preview and all
    assert corpus.binary(path, "PreviewImage") == preview  # its MPF offsets still find it
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"


def test_when_exiftool_refuses_the_header_the_whole_file_is_edited(tmp_path, et, settings, tags):
    path = _camera(tmp_path, et)
    before = path.read_bytes()
    sizes: list[int] = []

    class RefusingHeaders:  # as exiftool would for a header it cannot make sense of
        def __getattr__(self, name):
            return getattr(et, name)

        def write_in_place(self, file: Path, args):
            sizes.append(Path(file).stat().st_size)
            if Path(file).name == "head.jpg":
                raise ExiftoolError("cannot write the token file", Path(file))
            return et.write_in_place(file, args)

    write_tags(path, tags, settings=settings, exiftool=RefusingHeaders())
    assert max(sizes) > 10_000  # the fall back: the whole temp copy
    assert corpus.jpeg_image_data(path.read_bytes()) == corpus.jpeg_image_data(before)
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"


def _insert_after_mpf(file: Path) -> None:
    """An edit that adds a segment after the MPF index: the index would no longer move with
    the images it points to."""
    data = file.read_bytes()
    lay = jpeg.layout(data)
    mpf = next(s for s in lay.segments if s.marker == jpeg.APP2)
    comment = b"\xff\xfe" + struct.pack(">H", 6) + b"hey!"
    file.write_bytes(data[:mpf.end] + comment + data[mpf.end:])


def _append(file: Path) -> None:
    file.write_bytes(file.read_bytes() + b"trailer")


def _refuse(file: Path) -> None:
    raise ExiftoolError("no", file)


@pytest.mark.parametrize("edit", [_insert_after_mpf, _append, _refuse], ids=["mpf-moved", "appended", "refused"])
def test_an_edit_the_header_alone_cannot_take_is_left_to_the_whole_file(tmp_path, edit):
    data = _camera(tmp_path).read_bytes()
    assert jpeg_head.edited(data, jpeg.layout(data), edit) is None


def test_a_header_edit_keeps_fill_bytes_and_everything_after_the_scan_header(tmp_path):
    path = tmp_path / "fill.jpg"
    from PIL import Image

    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    lay = jpeg.layout(data)
    data = data[:lay.scan] + b"\xff\xff" + data[lay.scan:]  # fill bytes before SOS are allowed
    lay = jpeg.layout(data)

    def add_comment(file: Path) -> None:
        d = file.read_bytes()
        file.write_bytes(d[:2] + b"\xff\xfe\x00\x04hi" + d[2:])

    got = jpeg_head.edited(data, lay, add_comment)
    assert got == data[:2] + b"\xff\xfe\x00\x04hi" + data[2:]


def test_a_maker_note_preview_after_the_image_data_still_points_at_it(tmp_path, et, settings, tags):
    path = minolta_jpeg(tmp_path / "minolta.jpg", mpf=True)
    start = int(corpus.tags_of(path)["Minolta:PreviewImageStart"])
    assert path.read_bytes()[start:start + 3] == b"\xff\xd8\xff"  # exiftool lists file offsets

    write_tags(path, tags, settings=settings, exiftool=et)
    after = corpus.tags_of(path)
    assert after["IFD0:XPKeywords"] == "Emotion;Positive"
    start = int(after["Minolta:PreviewImageStart"])
    assert path.read_bytes()[start:start + 3] == b"\xff\xd8\xff"  # not into the image data


def _with_afcp_iptc(path: Path) -> Path:
    """An AFCP trailer (AXS) after the photo, holding a copy of its IPTC keywords: exiftool
    edits that copy along with the APP13 one, but only when it is given the whole file."""
    data = path.read_bytes()
    iim = b"\x1c\x02\x00\x00\x02\x00\x04" + b"".join(
        b"\x1c\x02\x19" + struct.pack(">H", len(w)) + w for w in (b"Beach", b"Family", b"Places"))
    start = len(data)
    head = b"AXS!" + b"\x01\x00" + struct.pack(">H", 1) + b"\x00" * 4
    entry = b"IPTC" + struct.pack(">II", len(iim), start + 24)
    path.write_bytes(data + head + entry + iim + b"AXS!" + struct.pack(">I", start) + b"\x00" * 4)
    return path


def test_a_trailer_holding_a_copy_of_the_iptc_is_not_left_behind(photo, et, settings, tags):
    path = _with_afcp_iptc(photo("full.jpg"))
    assert corpus.tags_of(path)["IPTC2:Keywords"] == ["Beach", "Family", "Places"]
    try:
        write_tags(path, tags, settings=settings, exiftool=et)
    except MetadataError:
        return  # refused, as before the header alone was handed over: both copies as they were
    after = corpus.tags_of(path)
    assert after["IPTC2:Keywords"] == after["IPTC:Keywords"]


def test_only_the_images_mpf_lists_may_follow_the_photo(tmp_path, pristine):
    data = _camera(tmp_path).read_bytes()
    lay = jpeg.layout(data)
    assert not jpeg_head.whole_file_needed(data, lay, {})
    assert jpeg_head.whole_file_needed(data + b"junk", lay, {})
    plain = pristine["exif.jpg"].read_bytes()
    assert not jpeg_head.whole_file_needed(plain, jpeg.layout(plain), {})
    assert jpeg_head.whole_file_needed(plain + b"PhotoMechanic", jpeg.layout(plain), {})


def test_a_pointer_past_the_header_that_did_not_move_with_its_data_is_refused(
        tmp_path, et, settings, tags, monkeypatch):
    # as if the header alone had been handed over: exiftool resets the preview pointer to
    # just past its token scan, which the check of the result must catch (and as if emowatch's
    # own search had missed the pointer, which would have exiftool store the XMP too)
    monkeypatch.setattr(jpeg_head, "whole_file_needed", lambda data, lay, info: False)
    monkeypatch.setattr(exif_pointers, "pointed", lambda data, lay, bases_before=None: set())
    path = _iptc(minolta_jpeg(tmp_path / "minolta.jpg", mpf=True), et)
    before = path.read_bytes()
    with pytest.raises(MetadataError, match="PreviewImageStart would no longer point at its data"):
        write_tags(path, tags, settings=settings, exiftool=et)
    assert path.read_bytes() == before


def test_without_a_usable_system_temp_folder_the_whole_file_is_edited(tmp_path, et, settings, tags,
                                                                      monkeypatch):
    import tempfile

    path = _camera(tmp_path, et)
    not_a_folder = tmp_path / "tmp"
    not_a_folder.write_bytes(b"")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    assert write_tags(path, tags, settings=settings, exiftool=et).action == "embedded"
    assert corpus.tags_of(path)["IFD0:XPKeywords"] == "Emotion;Positive"


def test_a_value_that_only_looks_like_an_offset_is_not_taken_for_a_pointer(tmp_path):
    from emowatch.xmp.targets import _check_pointers

    # a maker-note setting named "...Offset" whose number happens to be past the header: it
    # does not move when the header grows, and the write is not refused for it
    before = {"MakerNotes:FocusOffset": "65000", "Minolta:PreviewImageStart": "70000"}
    moved = {"MakerNotes:FocusOffset": "65000", "Minolta:PreviewImageStart": "70046"}
    _check_pointers(before, 3000, moved, 3046, tmp_path / "a.jpg")
    wrong = {"MakerNotes:FocusOffset": "65000", "Minolta:PreviewImageStart": "3064"}
    with pytest.raises(MetadataError, match="PreviewImageStart would no longer point"):
        _check_pointers(before, 3000, wrong, 3046, tmp_path / "a.jpg")


def test_copies_a_killed_run_left_in_the_temp_folder_are_swept(tmp_path, monkeypatch, et):
    import os
    import tempfile

    def made(name: str, age_s: float, folder: bool = True) -> Path:
        path = tmp_path / name
        if folder:
            path.mkdir()
            (path / "head.jpg").write_bytes(b"\xff\xd8GPS and all")
        else:
            path.write_bytes(b"not ours to remove")
        then = time.time() - age_s
        os.utime(path, (then, then))
        return path

    stale = made(f"{scratch.PREFIX}head-0ld_k3j9", 2 * scratch.STALE_S)
    stale_packet = made(f"{scratch.PREFIX}xmp-0ld_x7q2", 2 * scratch.STALE_S)  # a TIFF's, a WebP's
    busy = made(f"{scratch.PREFIX}now", 5)  # another run's edit going on
    other = made("someone-else", 2 * scratch.STALE_S)
    a_file = made(f"{scratch.PREFIX}file", 2 * scratch.STALE_S, folder=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(scratch, "_swept", scratch.threading.Event())  # a fresh process

    data = _camera(tmp_path).read_bytes()  # the first header edit sweeps
    got = jpeg_head.edited(data, jpeg.layout(data), lambda f: et.write_in_place(f, EDITS[0]))
    assert got is not None
    assert not stale.exists() and not stale_packet.exists()
    assert busy.exists() and other.exists() and a_file.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(scratch.PREFIX)
                and p not in (busy, a_file)]  # the edit's own folder is gone too


def test_a_folder_of_the_users_named_like_ours_is_never_swept(tmp_path):
    # only what scratch.folder makes goes, however old: bench/library.py builds its library in
    # /tmp/emowatch-library, and a user's folder of photos may well be named so too
    import os

    library = tmp_path / "emowatch-library"
    backup = tmp_path / f"{scratch.PREFIX}xmp-backup01"  # even one named exactly like ours
    for folder in (library, backup):
        folder.mkdir()
        (folder / "IMG_0001.jpg").write_bytes(b"\xff\xd8the user's photo")
        then = time.time() - 2 * scratch.STALE_S
        os.utime(folder, (then, then))
    assert scratch.sweep_stale(str(tmp_path)) == 0
    assert (library / "IMG_0001.jpg").exists() and (backup / "IMG_0001.jpg").exists()
