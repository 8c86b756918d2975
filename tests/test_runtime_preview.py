"""Camera JPEGs with an embedded MPF preview: classified from the preview only when it is
certainly the same picture, and the preview itself never disturbed."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import corpus
from emowatch.cli.main import cli
from emowatch.runtime.classify import infer, prepare
from emowatch.runtime.decode import decode
from emowatch.runtime.model import EmotionModel
from emowatch.settings import load_settings
from photos import LARGE_THUMBNAIL_VGA, UNDEFINED, camera_jpeg, patch_mpf_entries, pattern

RED, BLUE = (200, 30, 30), (30, 30, 200)


def solid(w: int, h: int, colour) -> np.ndarray:
    return np.full((h, w, 3), colour, np.uint8)


def colour_of(image: Image.Image) -> tuple[int, ...]:
    return tuple(int(v) for v in np.asarray(image).reshape(-1, 3).mean(axis=0).round())


def near(a, b, tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def test_a_camera_preview_is_what_exiftool_calls_one(tmp_path):
    # the test files are what cameras write: an independent reader finds the preview
    path = camera_jpeg(tmp_path / "cam.jpg", pattern(3000, 2000))
    tags = corpus.tags_of(path)
    assert tags["MPImage2:MPImageType"] == "Large Thumbnail (full HD equivalent)"
    assert corpus.binary(path, "PreviewImage").startswith(b"\xff\xd8")


def test_the_preview_is_decoded_instead_of_the_megapixels(tmp_path):
    # a preview of another colour shows which image was decoded
    path = camera_jpeg(tmp_path / "cam.jpg", solid(3000, 2000, RED), solid(1616, 1077, BLUE))
    decoded = decode(path, min_side=224)
    assert decoded.from_preview
    assert decoded.size == (3000, 2000)  # the photo's size, not the preview's
    assert decoded.image.size == (404, 270)  # the 1616 px preview at 1/4 DCT scale
    assert near(colour_of(decoded.image), BLUE)


def test_the_smallest_preview_that_is_large_enough(tmp_path):
    path = camera_jpeg(tmp_path / "cam.jpg", solid(3000, 2000, RED), solid(640, 427, BLUE),
                       mp_type=LARGE_THUMBNAIL_VGA)
    assert decode(path, min_side=224).from_preview
    # a heatmap needs a short side of 768: a VGA preview cannot give it, the photo can
    big = decode(path, min_side=768)
    assert not big.from_preview and near(colour_of(big.image), RED)
    assert min(big.image.size) >= 768


def _truncate_preview_header(data: bytes) -> bytes:
    at = data.rindex(b"\xff\xd8")  # the preview's start-of-image
    return data[:at + 2] + bytes(64) + data[at + 66:]


def _point_at_a_jpeg_in_the_header(data: bytes) -> bytes:
    """The file with an APP15 segment holding a 404 x 269 blue JPEG right after the MPF
    segment, and the MPF entry pointing at that JPEG instead of the preview."""
    small = io.BytesIO()
    Image.fromarray(solid(404, 269, BLUE)).save(small, "JPEG", quality=50)
    seg = b"\xff\xef" + (2 + len(small.getvalue())).to_bytes(2, "big") + small.getvalue()
    mpf = data.index(b"MPF\0")
    at = mpf - 4 + 2 + int.from_bytes(data[mpf - 2:mpf], "big")  # just past the APP2 segment
    data = data[:at] + seg + data[at:]
    offset = at + 4 - (mpf + 4)
    return patch_mpf_entries(data, lambda attr, size, _: (attr, len(small.getvalue()), offset))


@pytest.mark.parametrize("case", ["gain map", "rotated", "letterboxed", "square photo",
                                  "offset into the photo", "offset past the end", "broken preview",
                                  "preview cut short", "a JPEG among the header segments"])
def test_a_preview_that_may_not_be_the_same_picture_is_not_used(tmp_path, case):
    main, preview, mp_type, patch = solid(3000, 2000, RED), solid(1616, 1077, BLUE), None, None
    if case == "gain map":  # Ultra HDR gain maps and depth maps are MPF images too
        mp_type = UNDEFINED
    elif case == "rotated":
        preview = solid(1077, 1616, BLUE)
    elif case == "letterboxed":  # a 16:9 preview of a 3:2 photo
        preview = solid(1920, 1080, BLUE)
    elif case == "square photo":  # a rotation could not be told
        main, preview = solid(2000, 2000, RED), solid(1000, 1000, BLUE)
    elif case == "offset into the photo":
        patch = lambda attr, size, offset: (attr, size, 100)  # noqa: E731
    elif case == "offset past the end":
        patch = lambda attr, size, offset: (attr, size, offset + 10**7)  # noqa: E731
    path = camera_jpeg(tmp_path / "cam.jpg", main, preview,
                       **({"mp_type": mp_type} if mp_type is not None else {}))
    if patch is not None:
        path.write_bytes(patch_mpf_entries(path.read_bytes(), patch))
    if case == "broken preview":
        path.write_bytes(_truncate_preview_header(path.read_bytes()))
    if case == "preview cut short":  # its header reads, its image data ends early
        path.write_bytes(patch_mpf_entries(path.read_bytes(), lambda attr, size, offset: (attr, size // 2, offset)))
    if case == "a JPEG among the header segments":  # a usable picture, but before the photo's scan
        path.write_bytes(_point_at_a_jpeg_in_the_header(path.read_bytes()))
    decoded = decode(path, min_side=224)
    assert not decoded.from_preview
    assert near(colour_of(decoded.image), RED)


def _mark_centre(image: Image.Image) -> tuple[float, float]:
    """Where the white mark is, as fractions of the width and height."""
    ys, xs = np.nonzero(np.asarray(image.convert("L")) > 230)
    return xs.mean() / image.size[0], ys.mean() / image.size[1]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_the_photo_s_orientation_turns_the_preview_too(tmp_path, orientation):
    arr = pattern(3000, 2000)
    arr[:300, :300] = 255  # a white mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = camera_jpeg(tmp_path / "turned.jpg", arr, exif=exif.tobytes())
    decoded = decode(path, min_side=224)
    photo = decode(path, min_side=224, previews=False)  # Pillow's exif_transpose of the photo
    assert decoded.from_preview and not photo.from_preview
    assert decoded.size == photo.size
    assert (decoded.image.size[0] > decoded.image.size[1]) == (photo.size[0] > photo.size[1])
    assert np.allclose(_mark_centre(decoded.image), _mark_centre(photo.image), atol=0.03)


def _preview_span(data: bytes) -> tuple[int, int]:
    """(absolute start, size) of the file's second MPF image."""
    found = []
    patch_mpf_entries(data, lambda attr, size, offset: found.append((offset, size)) or (attr, size, offset))
    offset, size = found[0]
    return data.index(b"MPF\0") + 4 + offset, size


def test_a_preview_stored_turned_otherwise_than_the_photo_is_not_used(tmp_path):
    # the photo says "rotate 180" but its preview carries its own orientation, 1: it was stored
    # upright, and turning it like the photo would show it upside down
    exif = Image.Exif()
    exif[0x0112] = 3
    path = camera_jpeg(tmp_path / "cam.jpg", solid(3000, 2000, RED), solid(1616, 1077, BLUE),
                       exif=exif.tobytes())
    data = path.read_bytes()
    start, size = _preview_span(data)
    own = Image.Exif()
    own[0x0112] = 1
    payload = b"Exif\0\0" + own.tobytes()
    app1 = b"\xff\xe1" + len(payload + b"12").to_bytes(2, "big") + payload
    data = data[:start + 2] + app1 + data[start + 2:]  # the preview is the file's last part
    path.write_bytes(patch_mpf_entries(data, lambda attr, sz, offset: (attr, sz + len(app1), offset)))
    assert Image.open(io.BytesIO(corpus.binary(path, "PreviewImage"))).getexif()[0x0112] == 1
    decoded = decode(path, min_side=224)
    assert not decoded.from_preview and near(colour_of(decoded.image), RED)


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_the_preview_gives_the_photo_s_answer(tmp_path, name):
    # skimage's public-domain photos at camera size: the default model answers the same from
    # the preview as from the photo (bench/preview.py measures this on labelled photo sets)
    import skimage.data

    array = np.asarray(Image.fromarray(getattr(skimage.data, name)()).resize((3000, 2000)))
    cam = camera_jpeg(tmp_path / "cam.jpg", array)
    plain = tmp_path / "plain.jpg"
    Image.fromarray(array).save(plain, quality=90)
    model = EmotionModel.load(load_settings(None, environ={}).model, device="cpu")
    a, b = prepare(cam, model), prepare(plain, model)
    assert a.from_preview and not b.from_preview
    pa, pb = infer([a, b], model)
    assert pa.label == pb.label
    assert max(abs(pa.probabilities[k] - pb.probabilities[k]) for k in model.labels) < 0.03


def test_a_heatmap_is_drawn_on_the_preview_and_the_answer_is_unchanged(tmp_path):
    import skimage.data

    array = np.asarray(Image.fromarray(skimage.data.coffee()).resize((3000, 2000)))
    cam = camera_jpeg(tmp_path / "cam.jpg", array)
    model = EmotionModel.load(load_settings(None, environ={}).model, device="cpu")
    plain, explained = prepare(cam, model), prepare(cam, model, min_side=768)
    assert plain.from_preview and explained.from_preview
    assert plain.image.size == (404, 270)  # the 1616 px preview at 1/4 scale
    assert explained.image.size == (1616, 1077)  # whole, for the heatmap
    assert np.array_equal(explained.pixels, plain.pixels)


def test_tagging_a_camera_jpeg_keeps_its_preview(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user config
    path = camera_jpeg(tmp_path / "cam.jpg", pattern(3000, 2000))
    preview = corpus.binary(path, "PreviewImage")
    image_data = corpus.jpeg_image_data(path.read_bytes())
    out = CliRunner().invoke(cli, ["tag", "--json", "--no-explain", str(path)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["error"] is None and result["written"]["action"] == "embedded"
    assert corpus.binary(path, "PreviewImage") == preview
    assert corpus.jpeg_image_data(path.read_bytes()) == image_data


def test_camera_previews_can_be_turned_off(tmp_path):
    from emowatch.tagging import Tagger

    path = camera_jpeg(tmp_path / "cam.jpg", solid(3000, 2000, RED), solid(1616, 1077, BLUE))
    model = EmotionModel.load(load_settings(None, environ={}).model, device="cpu")
    on = load_settings(None, environ={})
    off = load_settings(None, environ={"EMOWATCH_CAMERA_PREVIEWS": "false"})
    assert on.camera_previews and not off.camera_previews
    assert Tagger(model, on).prepare(path).from_preview
    prepared = Tagger(model, off).prepare(path)
    assert not prepared.from_preview and near(colour_of(prepared.image), RED)
