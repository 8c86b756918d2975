"""Bad inputs: each gives one clear typed error, and the file is left exactly as it was."""

from __future__ import annotations

import dataclasses
import os

import pytest

import corpus
from emowatch import metadata
from emowatch.errors import (DecodeError, FileChangedError, HardLinkError, IncompleteFileError,
                             MetadataError, ReadOnlyError, UnsupportedFormatError)
from emowatch.metadata import write_tags
from emowatch.xmp import jpeg

BROKEN_PACKET = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'


def unchanged_after(path, error, call):
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(error) as info:
        call()
    if before is not None:
        assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if ".emowatch-tmp-" in p.name]
    return info.value


@pytest.mark.parametrize("exiftool_on", [True, False])
def test_zero_byte_file(tmp_path, et, settings, tags, exiftool_on):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    err = unchanged_after(path, DecodeError, lambda: write_tags(
        path, tags, settings=settings, exiftool=et if exiftool_on else None))
    assert "empty" in str(err)


def test_truncated_jpeg(photo, et, settings, tags):
    path = photo("plain.jpg")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    err = unchanged_after(path, IncompleteFileError,
                          lambda: write_tags(path, tags, settings=settings, exiftool=et))
    assert "truncated" in str(err)


def test_text_file_named_jpg(tmp_path, et, settings, tags):
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo at all\n" * 10)
    unchanged_after(path, UnsupportedFormatError,
                    lambda: write_tags(path, tags, settings=settings, exiftool=et))


@pytest.mark.parametrize("name", ["plain.jpg", "plain.png"])
def test_broken_xmp_packet(name, photo, et, settings, tags):
    path = photo(name)
    data = path.read_bytes()
    if name.endswith(".jpg"):
        path.write_bytes(jpeg.splice(data, jpeg.layout(data), BROKEN_PACKET))
    else:
        from emowatch.xmp import png
        path.write_bytes(png.splice(data, png.chunks(data), BROKEN_PACKET))
    err = unchanged_after(path, MetadataError,
                          lambda: write_tags(path, tags, settings=settings, exiftool=et))
    assert "XMP packet is broken" in str(err)


def test_xmp_that_would_exceed_the_jpeg_limit(photo, et, settings, tags):
    path = photo("plain.jpg")
    data = path.read_bytes()
    # a packet that fits (64,800 bytes, no padding left), but not with our values added
    dense = corpus.lightroom_xmp(padding_lines=0)
    big = dense.replace(b'photoshop:City="Paris"',
                        b'photoshop:City="' + b"P" * (64_800 - len(dense)) + b'"')
    path.write_bytes(jpeg.splice(data, jpeg.layout(data), big))
    err = unchanged_after(path, MetadataError,
                          lambda: write_tags(path, tags, settings=settings, exiftool=et))
    assert "65,502" in str(err)


def test_read_only_file_is_reported_not_forced(photo, et, settings, tags):
    path = photo("plain.jpg")
    os.chmod(path, 0o444)
    err = unchanged_after(path, ReadOnlyError,
                          lambda: write_tags(path, tags, settings=settings, exiftool=et))
    assert "read-only" in str(err)
    assert (os.stat(path).st_mode & 0o777) == 0o444


def test_read_only_folder_is_reported(photo, et, settings, tags):
    path = photo("plain.jpg")
    os.chmod(path.parent, 0o555)
    try:
        unchanged_after(path, ReadOnlyError,
                        lambda: write_tags(path, tags, settings=settings, exiftool=et))
    finally:
        os.chmod(path.parent, 0o755)


def test_hard_linked_photo_is_skipped_with_a_reason(photo, tmp_path, et, settings, tags):
    path = photo("plain.jpg")
    os.link(path, tmp_path / "second-name.jpg")
    err = unchanged_after(path, HardLinkError,
                          lambda: write_tags(path, tags, settings=settings, exiftool=et))
    assert "2 hard links" in str(err)


@pytest.mark.parametrize("parent,why", [
    ("感情", "cannot be written to this photo's IPTC keywords, which hold Windows Latin-1 (cp1252) text"),
    ("L" * 70, "is longer than IPTC's 64 bytes"),
])
def test_a_keyword_the_photos_iptc_cannot_hold_is_refused_with_why(photo, et, settings, tags,
                                                                    parent, why):
    # exiftool would write "??" or cut the word, and only warn
    path = photo("full.jpg")
    err = unchanged_after(path, MetadataError, lambda: write_tags(
        path, dataclasses.replace(tags, parent=parent), settings=settings, exiftool=et))
    assert why in err.reason and parent in err.reason


def test_iptc_that_declares_utf8_takes_any_keyword(photo, et, settings, tags):
    path = photo("full.jpg")
    corpus.exiftool("-q", "-overwrite_original", "-IPTC:CodedCharacterSet=UTF8", path)
    write_tags(path, dataclasses.replace(tags, parent="感情"), settings=settings, exiftool=et)
    assert "感情" in corpus.as_list(corpus.tags_of(path)["IPTC:Keywords"])


@pytest.mark.parametrize("name", ["plain.jpg", "full.jpg", "photo.tif"])
def test_a_long_name_in_a_multibyte_script_is_written(name, photo, et, settings, tags):
    # 80 CJK characters are 240 bytes, a legal name: the temp file beside it (and exiftool's own
    # temp name for it) must fit in 255 bytes too
    path = photo(name, "感" * 80 + "." + name.split(".")[1])
    assert len(os.fsencode(path.name)) == 244
    result = write_tags(path, tags, settings=settings, exiftool=et)
    assert result.action in ("embedded", "exiftool")
    assert "Emotion|Positive" in corpus.as_list(corpus.tags_of(path)["XMP-lr:HierarchicalSubject"])
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temp file left


@pytest.mark.parametrize("name", ["plain.jpg", "photo.tif"])
@pytest.mark.parametrize("what", ["deleted", "modified"])
def test_file_changed_between_reading_and_writing(name, what, photo, et, settings, tags,
                                                  monkeypatch):
    path = photo(name)
    real_serialize = metadata.serialize

    def meanwhile(*args, **kwargs):  # runs after the photo was read, before it is written
        if what == "deleted":
            path.unlink()
        else:
            with open(path, "ab") as f:
                f.write(b"\0")  # e.g. another program saving it
        return real_serialize(*args, **kwargs)

    monkeypatch.setattr(metadata, "serialize", meanwhile)
    with pytest.raises(FileChangedError) as info:
        write_tags(path, tags, settings=settings, exiftool=et)
    assert info.value.transient
    assert not [p for p in path.parent.iterdir() if ".emowatch-tmp-" in p.name]
    if what == "deleted":
        assert not path.exists()  # not recreated from stale bytes
    else:
        assert path.read_bytes().endswith(b"\0")  # the other program's save survives


def test_keyword_with_a_separator_is_refused(photo, et, settings):
    from emowatch.tags import EmotionTags

    path = photo("plain.jpg")
    bad = EmotionTags("positive", "Happy|Sad", "Emotion", 0.9, {"positive": 0.9}, "m@1")
    unchanged_after(path, MetadataError,
                    lambda: write_tags(path, bad, settings=settings, exiftool=et))


@pytest.mark.parametrize("name", ["plain.jpg", "photo.tif", "IMG_1.CR2"])
def test_a_photo_that_is_not_the_one_classified_gets_no_tags(name, photo, tmp_path, et, settings, tags):
    # the tags were made from the file that was decoded; another one there now gets none
    from emowatch.atomic import identity

    path = corpus.fake_raw(tmp_path / name) if name.endswith(".CR2") else photo(name)
    decoded = identity(path)
    os.utime(path, ns=(decoded.mtime_ns, decoded.mtime_ns + 1_000_000))  # rewritten since
    err = unchanged_after(path, FileChangedError, lambda: write_tags(
        path, tags, settings=settings, exiftool=et, photo=decoded))
    assert "changed while it was classified" in str(err) and err.transient
    assert not list(tmp_path.glob("*.xmp"))
    assert write_tags(path, tags, settings=settings, exiftool=et, photo=identity(path)).written


@pytest.mark.parametrize("problem", ["hard-linked", "empty", "broken"])
def test_a_raw_files_sidecar_problem_names_the_sidecar(problem, tmp_path, et, settings, tags):
    # the raw file was blamed ("A.CR2: has 2 hard links"), though it is never written
    from emowatch.metadata import remove_tags

    raw = corpus.fake_raw(tmp_path / "A.CR2")
    side = tmp_path / "A.xmp"
    side.write_text("" if problem == "empty" else '<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')
    if problem == "hard-linked":
        os.link(side, tmp_path / "copy.xmp")
    calls = [lambda: write_tags(raw, tags, settings=settings, exiftool=et)]
    if problem != "hard-linked":  # untag only writes once it found something of ours
        calls.append(lambda: remove_tags(raw, settings=settings, exiftool=et))
    for call in calls:
        err = unchanged_after(side, (HardLinkError, MetadataError), call)
        assert err.path == raw and str(err).startswith(f"{raw}: its sidecar A.xmp: "), str(err)


def test_a_bigtiff_is_read_and_tagged_in_a_sidecar(tmp_path, et, settings, tags):
    # it was "not a photo emowatch can read (unknown content)"; exiftool cannot write one
    import json
    import subprocess

    import numpy as np
    import tifffile

    from emowatch.metadata import remove_tags
    from emowatch.runtime.decode import decode

    path = tmp_path / "big.tif"
    tifffile.imwrite(path, np.full((40, 60, 3), 90, np.uint8), bigtiff=True, photometric="rgb")
    before = path.read_bytes()
    assert decode(path).image.size == (60, 40)
    result = write_tags(path, tags, settings=settings, exiftool=et)
    assert result.action == "sidecar" and "BigTIFF" in result.reason
    side = tmp_path / "big.tif.xmp"
    read = json.loads(subprocess.run(["exiftool", "-j", "-XMP-lr:HierarchicalSubject", str(side)],
                                     capture_output=True, text=True, check=True).stdout)[0]
    assert read["HierarchicalSubject"] == tags.hierarchical and path.read_bytes() == before
    assert remove_tags(path, settings=settings, exiftool=et).action == "removed" and not side.exists()


@pytest.mark.parametrize("make_at", [50, 0xFFF00], ids=["make-inside", "make-outside"])
def test_exif_that_exiftool_cannot_rewrite_costs_only_the_xpkeywords(tmp_path, et, settings, tags, make_at):
    # a camera EXIF whose Exif IFD pointer leads nowhere: exiftool refuses to write XPKeywords,
    # and the whole photo was refused with exiftool's "Can't read ExifIFD data". emowatch writes
    # them itself into IFD0 (xp_keywords) leaving the rest as it was, unless IFD0 itself cannot
    # be checked (a value outside the block: "make-outside"), when exiftool is asked, refuses,
    # and the photo gets its XMP keywords without them
    import io
    import struct

    from PIL import Image

    def entry(tag, kind, count, value):
        return struct.pack("<HHII", tag, kind, count, value)

    xp = "Holiday".encode("utf-16-le") + b"\x00\x00"  # the user's own word, for Windows
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 3) + entry(0x10F, 2, 6, make_at)
            + entry(0x8769, 4, 1, 0xFFFF0) + entry(0x9C9E, 1, len(xp), 56) + struct.pack("<I", 0)
            + b"Canon\x00" + xp)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 80, 40)).save(buffer, "JPEG", exif=b"Exif\x00\x00" + tiff)
    path = tmp_path / "damaged.jpg"
    path.write_bytes(buffer.getvalue())
    data = corpus.jpeg_image_data(path.read_bytes())
    result = write_tags(path, tags, settings=settings, exiftool=et)
    native = make_at == 50
    assert result.action == "embedded" and ("XPKeywords not written" in (result.reason or "")) != native, result
    found = corpus.tags_of(path)
    assert found["XMP-lr:HierarchicalSubject"] == tags.hierarchical
    assert found["IFD0:XPKeywords"] == ("Holiday;Emotion;Positive" if native else "Holiday")
    # read all the same: Windows reads dc:subject first, so the word only there is copied
    assert corpus.as_list(found["XMP-dc:Subject"]) == ["Holiday", "Emotion", "Positive"]
    assert corpus.jpeg_image_data(path.read_bytes()) == data
    tagged = path.read_bytes()
    assert write_tags(path, tags, settings=settings, exiftool=et).action == "unchanged"
    assert path.read_bytes() == tagged
