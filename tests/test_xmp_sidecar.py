"""Which sidecar belongs to a photo."""

from __future__ import annotations

from emowatch.formats import Format
from emowatch.xmp.sidecar import choose, find


def test_raw_gets_lightroom_naming(tmp_path):
    assert choose(tmp_path / "IMG_1.CR2", Format.RAW) == tmp_path / "IMG_1.xmp"
    assert find(tmp_path / "IMG_1.CR2", Format.RAW) is None


def test_existing_lightroom_sidecar_is_used_whatever_its_case(tmp_path):
    (tmp_path / "IMG_1.XMP").write_text("x")
    assert choose(tmp_path / "IMG_1.CR2", Format.RAW) == tmp_path / "IMG_1.XMP"


def test_darktable_sidecar_wins_when_both_exist(tmp_path):
    (tmp_path / "IMG_1.xmp").write_text("x")
    (tmp_path / "IMG_1.CR2.xmp").write_text("x")
    assert choose(tmp_path / "IMG_1.CR2", Format.RAW) == tmp_path / "IMG_1.CR2.xmp"


def test_other_formats_use_the_full_name_never_a_raw_files_sidecar(tmp_path):
    (tmp_path / "scan.xmp").write_text("belongs to scan.CR2")
    assert choose(tmp_path / "scan.tif", Format.TIFF) == tmp_path / "scan.tif.xmp"
    assert find(tmp_path / "scan.tif", Format.TIFF) is None
