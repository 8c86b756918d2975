"""Decoding: every supported format, reduced-size JPEG decodes, orientation, and clear failures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emowatch.errors import DecodeError, UnsupportedFormatError
from emowatch.formats import Format, sniff
from emowatch.runtime.classify import infer, prepare
from emowatch.runtime.decode import decode
from emowatch.runtime.model import EmotionModel
from models import make_model
from photos import pattern, save


@pytest.mark.parametrize("name,fmt", [
    ("a.jpg", Format.JPEG), ("a.png", Format.PNG), ("a.tif", Format.TIFF), ("a.webp", Format.WEBP),
    ("a.heic", Format.HEIF),
])
def test_each_format_decodes_to_rgb(tmp_path, name, fmt):
    path = save(tmp_path / name, size=(300, 200))
    decoded = decode(path)
    assert decoded.format is fmt
    assert decoded.image.mode == "RGB"
    assert decoded.size == (300, 200)


def test_content_wins_over_extension(tmp_path):
    path = save(tmp_path / "really_a_png.jpg", size=(64, 64), format="PNG")
    assert sniff(path) is Format.PNG
    assert decode(path).image.size == (64, 64)


def test_large_jpeg_is_decoded_at_reduced_size(tmp_path):
    path = save(tmp_path / "big.jpg", size=(6000, 4000))
    decoded = decode(path, min_side=224)
    assert decoded.size == (6000, 4000)
    assert decoded.image.size == (750, 500)  # 1/8 DCT scale, both sides still >= 224


def test_exif_orientation_is_applied(tmp_path):
    arr = pattern(300, 200)
    arr[:20, :20] = 255  # a white mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, quality=95, exif=exif.tobytes())
    decoded = decode(path)
    assert decoded.size == (200, 300)
    assert decoded.image.size == (200, 300)
    top_right = np.asarray(decoded.image)[:20, -20:]
    assert top_right.mean() > 200


def test_rgba_png_is_composited_on_white(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)  # fully transparent
    path = tmp_path / "clear.png"
    Image.fromarray(rgba, "RGBA").save(path)
    assert np.asarray(decode(path).image).min() == 255


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    arr = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    out = np.asarray(decode(path).image)
    assert out.max() == 255 and out.min() == 0 and 100 < out.mean() < 155


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_dark_16_bit_grey_is_scaled_by_its_depth_not_its_brightest_pixel(tmp_path, suffix):
    decoded = []
    for brightest in (255, 256):  # one level apart: the two photos look the same
        arr = np.full((64, 64), 40, np.uint16)
        arr[0, 0] = brightest
        Image.fromarray(arr).save(tmp_path / f"dark{brightest}{suffix}")
        decoded.append(np.asarray(decode(tmp_path / f"dark{brightest}{suffix}").image, dtype=int))
    assert np.abs(decoded[0] - decoded[1]).max() <= 1
    assert decoded[0][1:, 1:].max() == 0  # 40 of 65535 is black


def test_16_bit_grey_that_older_pillow_opens_as_mode_i_is_scaled_by_its_depth(tmp_path):
    from emowatch.runtime.decode import _to_rgb

    dark = np.full((8, 8), 40, np.int32)
    dark[0, 0] = 255
    grey16 = _to_rgb(Image.fromarray(dark, mode="I"), tmp_path / "x.png", sixteen_bit_grey=True)
    assert np.asarray(grey16).max() <= 1  # 255 of 65535
    unknown = _to_rgb(Image.fromarray(dark, mode="I"), tmp_path / "x.tif")
    assert np.asarray(unknown).max() == 255  # integers of unknown range within 8 bits: as they are


def test_dng_made_with_tifffile_decodes(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "photo.dng"
    tifffile.imwrite(path, pattern(120, 80), photometric="rgb",
                     extratags=[(50706, "B", 4, (1, 4, 0, 0), True)])  # DNGVersion 1.4
    decoded = decode(path)
    assert decoded.format is Format.DNG
    assert decoded.image.size == (120, 80)


def test_a_raw_file_libraw_refuses_is_one_plain_reason(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "IMG_1.NEF"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))  # TIFF inside, as raw files are, but no raw data
    with pytest.raises(DecodeError) as caught:
        decode(path)
    assert caught.value.reason == "cannot decode raw file: Unsupported file format or not RAW file"


@pytest.mark.parametrize("maker,reason", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("hello, I am text\n" * 20), "not a photo"),
    (lambda p: p.write_bytes(save(p, size=(400, 300)).read_bytes()[:3000]), "truncated"),
    (lambda p: p.write_bytes(save(p, size=(400, 300)).read_bytes()[:300]), "file is truncated"),
])
def test_unreadable_photos_are_typed_errors_naming_the_file(tmp_path, maker, reason):
    path = tmp_path / "bad.jpg"
    maker(path)
    with pytest.raises(DecodeError, match=reason) as info:
        decode(path)
    assert info.value.path == path
    assert str(path) in str(info.value)


def test_a_floating_point_tiff_says_what_it_is_not_unknown_content(tmp_path):
    # 32-bit float RGB, as HDR merges and astro stacks are saved: Pillow cannot identify it
    import tifffile
    path = tmp_path / "merged.tif"
    tifffile.imwrite(path, np.random.default_rng(0).random((64, 64, 3), np.float32), photometric="rgb")
    with pytest.raises(DecodeError, match="a TIFF whose pixel layout cannot be decoded "
                                          r"\(such as 32-bit floating point\)"):
        decode(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # a 30000 x 30000 PNG: tiny on disk, 2.7 GB decoded
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * 30000
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    with pytest.raises(DecodeError, match="too large"):
        decode(path)


def test_unknown_content_is_unsupported(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(UnsupportedFormatError):
        sniff(path)


@pytest.mark.parametrize("name,fmt,called", [
    ("a.gif", "GIF", "GIF"), ("a.bmp", "BMP", "BMP"), ("a.ico", "ICO", "an icon (ICO)"),
    ("a.pdf", "PDF", "PDF"), ("a.jp2", "JPEG2000", "JPEG 2000"),
])
def test_other_image_formats_are_named_in_the_error(tmp_path, name, fmt, called):
    path = save(tmp_path / name, size=(64, 48), format=fmt)
    with pytest.raises(UnsupportedFormatError) as raised:
        sniff(path)
    assert raised.value.reason.startswith(f"{called} is not a format emowatch reads (JPEG, PNG")


def test_text_that_starts_like_a_bitmap_is_unknown_content(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("BMW service notes, 2024\n")
    with pytest.raises(UnsupportedFormatError, match="unknown content"):
        sniff(path)


def test_prepare_and_batched_inference(tmp_path):
    model = EmotionModel.load(make_model(tmp_path / "m.onnx"), device="cpu")
    photos = [prepare(save(tmp_path / f"{i}.jpg", seed=i), model) for i in range(3)]
    assert all(p.pixels.shape == (64, 64, 3) and p.pixels.dtype == np.uint8 for p in photos)
    batched = infer(photos, model)
    single = [infer([p], model)[0] for p in photos]
    for a, b in zip(batched, single):
        assert a.label == b.label
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)
        assert sum(a.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_a_heatmap_never_changes_the_models_view(tmp_path):
    # a heatmap needs the photo decoded larger (1/2 DCT scale here, 1/8 without one); the model
    # must still see exactly what it sees without a heatmap, or the label could differ
    model = EmotionModel.load(make_model(tmp_path / "m.onnx"), device="cpu")  # 64 px input
    path = save(tmp_path / "big.jpg", size=(3000, 2000))
    plain = prepare(path, model)
    explained = prepare(path, model, min_side=768)
    assert plain.image.size == (375, 250)
    assert explained.image.size == (1500, 1000)
    assert np.array_equal(explained.pixels, plain.pixels)
    # what the larger decode alone would have shown the model is not the same view
    from emowatch.runtime.preprocess import model_image

    larger_view = model_image(decode(path, min_side=768).image, 64, model.info.resize)
    assert not np.array_equal(larger_view, plain.pixels)


def test_a_photo_smaller_than_the_heatmap_needs_is_shown_whole(tmp_path, monkeypatch):
    import emowatch.runtime.classify as classify

    model = EmotionModel.load(make_model(tmp_path / "m.onnx"), device="cpu")
    calls = []
    monkeypatch.setattr(classify, "decode", lambda *a, **k: calls.append(k) or decode(*a, **k))
    # a PNG is decoded whole anyway: a second decode could not make it any larger
    prepared = prepare(save(tmp_path / "small.png", size=(500, 400)), model, min_side=768)
    assert prepared.image.size == (500, 400)
    assert len(calls) == 1
    # a JPEG classified from 1/4 scale is decoded again, whole, for the heatmap
    calls.clear()
    prepared = prepare(save(tmp_path / "small.jpg", size=(500, 400)), model, min_side=768)
    assert prepared.image.size == (500, 400)
    assert [k["min_side"] for k in calls] == [64, 768]


def test_a_photo_that_fails_the_larger_decode_keeps_its_answer(tmp_path, monkeypatch):
    import emowatch.runtime.classify as classify

    model = EmotionModel.load(make_model(tmp_path / "m.onnx"), device="cpu")
    path = save(tmp_path / "big.jpg", size=(3000, 2000))
    plain = prepare(path, model)

    def fail_when_large(path, min_side, **kwargs):
        if min_side > 64:
            raise DecodeError("damaged past 1/8 scale", path)
        return decode(path, min_side, **kwargs)

    monkeypatch.setattr(classify, "decode", fail_when_large)
    explained = prepare(path, model, min_side=768)
    assert np.array_equal(explained.pixels, plain.pixels)
    assert explained.image.size == plain.image.size  # the heatmap is drawn on what there is
