"""Which files a command line means: folders by content and extension, hidden and our own files skipped."""

from __future__ import annotations

import os
from pathlib import Path

from emowatch.inputs import InputProblem, collect, path_list
from photos import save


def test_folders_files_recursion_and_skips(tmp_path):
    save(tmp_path / "a.jpg")
    save(tmp_path / "no_extension", format="PNG")  # a photo recognised by content
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "mystery").write_text("not a photo either")
    save(tmp_path / ".hidden.jpg")
    save(tmp_path / ".emowatch" / "a.jpg.heatmap.png")
    save(tmp_path / ".a.jpg.emowatch-tmp-1234", format="JPEG")
    save(tmp_path / "sub" / "b.png")
    flat = [p.name for p in collect([tmp_path])]
    assert flat == ["a.jpg", "no_extension"]
    deep = [p.name for p in collect([tmp_path], recursive=True)]
    assert deep == ["a.jpg", "no_extension", "b.png"]


def test_named_files_are_taken_and_missing_ones_reported(tmp_path):
    text = tmp_path / "text.jpg"
    text.write_text("hello")
    items = list(collect([text, tmp_path / "missing.jpg", text]))
    assert items[0] == text  # named explicitly: decoding will report it, for that file alone
    assert isinstance(items[1], InputProblem) and "no such file" in str(items[1].error)
    assert len(items) == 2  # the duplicate is taken once


def test_tiff_based_raw_files_are_never_treated_as_writable_tiff(tmp_path):
    from emowatch.formats import Format, sniff

    for name in ("shot.3fr", "shot.iiq", "shot.mos", "shot.kdc", "shot.unknownraw", "shot.nef"):
        path = save(tmp_path / name, format="TIFF")
        assert sniff(path) is Format.RAW, name
        assert not sniff(path).writable
    assert sniff(save(tmp_path / "scan.tif")) is Format.TIFF
    assert sniff(save(tmp_path / "scan.TIFF", format="TIFF")) is Format.TIFF


def test_a_photo_given_by_several_names_is_taken_once(tmp_path):
    photo = save(tmp_path / "d" / "a.jpg")
    (tmp_path / "link.jpg").symlink_to(photo)
    dotted = tmp_path / "d" / ".." / "d" / "a.jpg"
    items = list(collect([tmp_path / "d", tmp_path / "link.jpg", dotted, photo]))
    assert items == [photo]


def test_an_empty_path_and_our_own_sidecars_are_refused_not_taken(tmp_path, monkeypatch):
    save(tmp_path / "a.jpg")
    heatmap = save(tmp_path / "a.jpg.heatmap.png")  # "beside" sidecars, named by a shell glob
    monkeypatch.chdir(tmp_path)
    items = list(collect(["", heatmap, tmp_path / "a.jpg"]))
    assert isinstance(items[0], InputProblem) and "empty path" in str(items[0].error)
    assert isinstance(items[1], InputProblem) and "emowatch's own sidecar" in str(items[1].error)
    assert items[2] == tmp_path / "a.jpg" and len(items) == 3  # not the whole current folder


def test_a_path_that_cannot_be_checked_is_that_paths_problem_not_a_traceback(tmp_path):
    # Path.is_dir() let ENAMETOOLONG (and EACCES, under a locked folder) out of collect()
    photo = save(tmp_path / "a.jpg")
    long_name = tmp_path / ("a" * 300 + ".jpg")
    items = list(collect([long_name, photo]))
    assert isinstance(items[0], InputProblem) and items[0].path == long_name
    assert str(items[0].error).endswith("cannot read: File name too long")
    assert items[1] == photo


def deeper_than_path_max(top: Path) -> Path:
    """Nested folders whose full path is longer than PATH_MAX: the deepest cannot be listed by
    its path (ENAMETOOLONG), a real error that root meets too."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(18):  # 18 * 251 > 4096
            os.mkdir("d" * 250, dir_fd=fd)
            deeper = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
    finally:
        os.close(fd)
    return top


def test_a_subfolder_that_cannot_be_read_is_reported_not_skipped(tmp_path):
    photo = save(tmp_path / "a.jpg")
    deeper_than_path_max(tmp_path)
    items = list(collect([tmp_path], recursive=True))
    assert items[0] == photo
    [problem] = items[1:]
    assert isinstance(problem, InputProblem) and len(str(problem.path)) > 4000
    assert problem.error.reason == "cannot read this folder: File name too long"


def test_a_path_list_is_read_as_find_and_windows_write_it():
    latin1 = os.fsdecode(b"caf\xe9.jpg")  # an old card's name, not UTF-8: kept as the disk has it
    assert path_list(b"a.jpg\r\nshoot/b b.jpg\n\n" + b"caf\xe9.jpg\n") == ["a.jpg", "shoot/b b.jpg", latin1]
    assert path_list(b"two\nlines.jpg\0c.jpg\0\0", null=True) == ["two\nlines.jpg", "c.jpg"]
    assert path_list(b"") == [] and path_list(b"\n\n") == []
    assert os.fsencode(path_list(b"caf\xe9.jpg")[0]) == b"caf\xe9.jpg"


def test_a_path_lists_byte_order_mark_is_no_part_of_its_first_name():
    # Notepad and PowerShell 5 (`Out-File -Encoding utf8`) start a UTF-8 file with one: the first
    # photo was reported "not found"
    assert path_list(b"\xef\xbb\xbfC:/shoot/a.jpg\r\nC:/shoot/b.jpg\r\n") == ["C:/shoot/a.jpg", "C:/shoot/b.jpg"]
    assert path_list(b"\xef\xbb\xbfa.jpg\0", null=True) == ["a.jpg"]
