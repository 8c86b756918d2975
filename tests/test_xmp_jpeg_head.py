"""exiftool edits a JPEG's header alone (emowatch/xmp/jpeg_head.py): the same bytes as when it
edits the whole file, the image data and everything after it never handed over, and a fall back
to the whole file whenever the header alone will not do."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import corpus
from emowatch.errors import ExiftoolError
from emowatch.metadata import write_tags
from emowatch.xmp import jpeg, jpeg_head
from photos import camera_jpeg, pattern

EDITS = [
    ["-IFD0:XPKeywords=Emotion;Positive"],
    ["-IPTC:Keywords+=Positive"],
    ["-IFD0:XPKeywords=Emotion;Positive", "-IPTC:Keywords+=Positive", "-Photoshop:IPTCDigest=new"],
]


def _camera(tmp_path: Path) -> Path:
    """A camera JPEG: EXIF with a maker note, then a 1616 px preview indexed by MPF."""
    exif = corpus._exif_with_makernote()
    return camera_jpeg(tmp_path / "camera.jpg", pattern(2400, 1600, seed=3), exif=exif)


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
    path = _camera(tmp_path)
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
    path = _camera(tmp_path)
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
