"""emowatch's own 1/8-scale JPEG decoder (runtime/jpeg_dc): libjpeg-turbo's pixels (through
Pillow's draft mode) where it promises them, close to them for 4:2:0, Pillow's turn for
everything else, and no crash on damaged data."""

from __future__ import annotations

import io
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from emowatch.errors import DecodeError
from emowatch.runtime import jpeg_dc
from emowatch.runtime.decode import decode
from emowatch.runtime.jpeg_dc_plan import plan
from photos import pattern

def jpeg(array: np.ndarray, **options) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", **{"quality": 90, **options})
    return out.getvalue()


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def grey_jpeg(width: int, height: int, bits: str, *, sampling: int = 0x11, restart: int = 0,
              dc_table: bytes = b"\x01" + bytes(15) + b"\x0b", between: bytes = b"") -> bytes:
    """A hand-made greyscale baseline JPEG: quantiser 8 everywhere, a DC table (counts and
    values) whose one code is '0' and means 11 extra bits, an AC table whose one code is '0' and means end of block,
    and `bits` as the entropy-coded data (padded with ones, 0xFF stuffed)."""
    bits += "1" * (-len(bits) % 8)
    data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    return (b"\xff\xd8" + segment(0xDB, b"\x00" + bytes([8]) * 64)
            + segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, sampling, 0]))
            + segment(0xC4, b"\x00" + dc_table) + segment(0xC4, b"\x10\x01" + bytes(15) + b"\x00")
            + (segment(0xDD, struct.pack(">H", restart)) if restart else b"") + between
            + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + data + b"\xff\xd9")


def pillow_eighth(data: bytes) -> np.ndarray:
    """What Pillow's draft mode decodes at 1/8 scale (libjpeg-turbo's scaled IDCT)."""
    image = Image.open(io.BytesIO(data))
    w, h = image.size
    image.draft(image.mode, (w // 8, h // 8))
    image.load()
    return np.asarray(image)


@pytest.mark.parametrize("size", [(203, 157), (1000, 680), (8, 8), (17, 9)])
@pytest.mark.parametrize("subsampling", [0, 1])  # 4:4:4, 4:2:2
@pytest.mark.parametrize("restart", [0, 1, 5])  # restart markers every n MCU rows' blocks
def test_pixels_are_libjpeg_turbos(size, subsampling, restart):
    extra = {"restart_marker_blocks": restart} if restart else {}
    data = jpeg(pattern(*size, seed=subsampling + restart), subsampling=subsampling, **extra)
    assert plan(data).exact
    ours = jpeg_dc.decode(data)
    assert ours.mode == "RGB"
    assert np.array_equal(np.asarray(ours), pillow_eighth(data))


@pytest.mark.parametrize("size", [(203, 157), (640, 480)])
def test_greyscale_pixels_are_libjpeg_turbos(size):
    data = jpeg(pattern(*size)[:, :, 1])
    ours = jpeg_dc.decode(data)
    assert ours.mode == "L"
    assert np.array_equal(np.asarray(ours), pillow_eighth(data))


@pytest.mark.parametrize("restart", [0, 2])
def test_420_chroma_is_close_to_libjpeg_turbos(restart):
    """libjpeg-turbo makes a 4:2:0 chroma block 2x2 pixels by a 2x2 IDCT; here it is its DC,
    copied. The same size, and within a few levels of 255 on average."""
    extra = {"restart_marker_blocks": restart} if restart else {}
    data = jpeg(pattern(1200, 800, seed=3), subsampling=2, **extra)
    assert not plan(data).exact
    ours, theirs = np.asarray(jpeg_dc.decode(data)).astype(int), pillow_eighth(data).astype(int)
    assert ours.shape == theirs.shape == (100, 150, 3)
    difference = np.abs(ours - theirs)
    assert difference.mean() < 2.0
    assert np.percentile(difference, 99) <= 12


def test_photos_it_does_not_read_are_left_to_pillow():
    array = pattern(320, 240)
    cmyk = io.BytesIO()
    Image.fromarray(array).convert("CMYK").save(cmyk, "JPEG")
    rgb_stored = bytearray(jpeg(array, subsampling=0))
    sof = rgb_stored.index(b"\xff\xc0")
    for k, letter in enumerate(b"RGB"):  # component ids 'R', 'G', 'B', and no JFIF segment
        rgb_stored[sof + 10 + 3 * k] = letter
    app0 = rgb_stored.index(b"\xff\xe0")
    del rgb_stored[app0:app0 + 2 + int.from_bytes(rgb_stored[app0 + 2:app0 + 4], "big")]
    png = io.BytesIO()
    Image.fromarray(array).save(png, "PNG")
    for data in (jpeg(array, progressive=True), cmyk.getvalue(), bytes(rgb_stored), png.getvalue(),
                 b"", b"\xff\xd8\xff", jpeg(array)[:300]):
        assert plan(data) is None
        assert jpeg_dc.decode(data) is None


@pytest.mark.parametrize("restart", [0, 3])
def test_damaged_data_gives_none_or_pixels_never_a_crash(restart):
    data = jpeg(pattern(400, 300, seed=7), subsampling=2, **({"restart_marker_blocks": restart} if restart else {}))
    start = plan(data).start
    rng = np.random.default_rng(0)
    outcomes = set()
    for trial in range(300):
        damaged = bytearray(data)
        if trial % 3 == 0:  # bytes changed in the entropy-coded data
            for at in rng.integers(start, len(data) - 2, size=int(rng.integers(1, 20))):
                damaged[at] = int(rng.integers(0, 256))
        elif trial % 3 == 1:  # cut short
            damaged = damaged[:int(rng.integers(start, len(data) - 2))]
        else:  # markers where they do not belong
            at = int(rng.integers(start, len(data) - 2))
            damaged[at:at + 2] = bytes([0xFF, int(rng.choice([0xD0, 0xD3, 0xD9, 0xC4, 0xFF]))])
        image = jpeg_dc.decode(bytes(damaged))
        outcomes.add(image is None)
        if image is not None:
            assert image.size == (50, 38)
    assert True in outcomes  # most damage is noticed; the rest decodes to garbage of the right size


def test_a_jpeg_cut_short_is_noticed():
    data = jpeg(pattern(1600, 1200, seed=2), subsampling=2)
    for keep in (0.3, 0.9, 0.99):
        assert jpeg_dc.decode(data[:int(len(data) * keep)]) is None


def test_decode_uses_it_for_large_jpegs_with_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "big.jpg"
    array = pattern(2400, 1800, seed=5)
    Image.fromarray(array).save(path, quality=90, exif=exif.tobytes())
    decoded = decode(path, min_side=224)
    assert decoded.size == (1800, 2400)
    ours = jpeg_dc.decode(path.read_bytes()).transpose(Image.Transpose.ROTATE_270)
    assert decoded.image.size == (225, 300)
    assert np.array_equal(np.asarray(decoded.image), np.asarray(ours))


def test_a_truncated_large_jpeg_is_still_a_decode_error(tmp_path):
    path = tmp_path / "cut.jpg"
    path.write_bytes(jpeg(pattern(2000, 1800, seed=1))[:-20000])
    with pytest.raises(DecodeError):
        decode(path, min_side=224)


def test_without_numba_pillow_decodes(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(pattern(2000, 1800, seed=4)).save(path, quality=90)
    code = (
        "import sys, numpy as np, pickle\n"
        "sys.modules['numba'] = None  # as if it were not installed\n"
        "from emowatch.runtime import jpeg_dc\n"
        "from emowatch.runtime.decode import decode\n"
        "assert jpeg_dc.kernels() is None\n"
        f"sys.stdout.buffer.write(np.asarray(decode({str(path)!r}).image).tobytes())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    theirs = pillow_eighth(path.read_bytes())
    assert out == theirs.tobytes()
    assert out != np.asarray(decode(path).image).tobytes()  # 4:2:0: this process decoded it itself


def test_fast_jpeg_can_be_turned_off(tmp_path):
    from emowatch.runtime.model import EmotionModel
    from emowatch.runtime.preprocess import model_image
    from emowatch.settings import load_settings
    from emowatch.tagging import Tagger

    path = tmp_path / "big.jpg"
    Image.fromarray(pattern(2400, 1800, seed=6)).save(path, quality=90)  # 4:2:0: the two differ
    on = load_settings(None, environ={})
    off = load_settings(None, environ={"EMOWATCH_FAST_JPEG": "false"})
    assert on.fast_jpeg and not off.fast_jpeg
    model = EmotionModel.load(on.model, device="cpu")
    size, resize = model.info.input_size, model.info.resize
    ours = model_image(jpeg_dc.decode(path.read_bytes()), size, resize)
    theirs = model_image(Image.fromarray(pillow_eighth(path.read_bytes())), size, resize)
    assert not np.array_equal(ours, theirs)
    assert np.array_equal(Tagger(model, on).prepare(path).pixels, ours)
    assert np.array_equal(Tagger(model, off).prepare(path).pixels, theirs)


def test_a_fault_of_the_decoder_leaves_decoding_to_pillow(tmp_path, monkeypatch, caplog):
    """Fault injection: a compiled loop that raises (as a numba that cannot compile would)."""
    kernels = jpeg_dc.kernels()
    monkeypatch.setattr(jpeg_dc, "_kernels", kernels)  # restored after the test

    class Broken:
        def __getattr__(self, name):
            if name == "rgb":
                def rgb(*args):
                    raise RuntimeError("no code for this machine")
                return rgb
            return getattr(kernels, name)

    monkeypatch.setattr(jpeg_dc, "_kernels", Broken())
    path = tmp_path / "big.jpg"
    Image.fromarray(pattern(2000, 1800, seed=8)).save(path, quality=90)
    with caplog.at_level("WARNING", logger="emowatch.runtime"):
        first, second = decode(path), decode(path)
    assert np.array_equal(np.asarray(first.image), pillow_eighth(path.read_bytes()))
    assert np.array_equal(np.asarray(second.image), np.asarray(first.image))
    warnings = [r.getMessage() for r in caplog.records if "JPEG decoder failed" in r.getMessage()]
    assert warnings == ["emowatch's JPEG decoder failed (RuntimeError: no code for this machine); "
                        "Pillow decodes from now on"]
    assert jpeg_dc.kernels() is None


def test_dc_values_out_of_range_wrap_as_libjpeg_turbos_do():
    """A crafted stream: each block's DC is 2047 more than the last, far past 255, kept in
    16 bits and looked up in a table that wraps, as libjpeg-turbo does."""
    data = grey_jpeg(256, 8, ("0" + "1" * 11 + "0") * 32)
    ours = np.asarray(jpeg_dc.decode(data))
    assert np.array_equal(ours, pillow_eighth(data))
    assert len(set(ours.ravel().tolist())) > 3  # wrapped, not all clamped to 255


def test_dc_codes_read_with_their_bits_at_once_or_one_by_one_agree_with_libjpeg_turbo():
    """DC codes whose extra bits fit in one lookup with them (a 1-bit code and 10 bits, a 2-bit
    code and 3 bits) and ones that do not (a 3-bit code and 11 bits), positive and negative
    differences mixed: libjpeg-turbo's pixels either way."""
    rng = np.random.default_rng(7)
    table = b"\x01\x01\x01" + bytes(13) + b"\x0a\x03\x0b"  # '0': 10 bits, '10': 3, '110': 11
    codes = {10: "0", 3: "10", 11: "110"}
    blocks = []
    for category in rng.choice([10, 3, 11], 256, p=[0.45, 0.45, 0.1]):
        extra = "".join(rng.choice(["0", "1"], int(category)))
        blocks.append(codes[int(category)] + extra + "0")  # then end of block
    data = grey_jpeg(2048, 8, "".join(blocks), dc_table=table)
    ours = np.asarray(jpeg_dc.decode(data))
    assert np.array_equal(ours, pillow_eighth(data))
    assert len(set(ours.ravel().tolist())) > 20


def test_restart_markers_out_of_sequence_are_left_to_pillow():
    block = "0" + "0" * 11 + "0"  # a DC difference of -2047, then end of block
    def with_markers(numbers):
        parts = []
        for k in range(4):
            bits = block * 2
            bits += "1" * (-len(bits) % 8)
            parts.append(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)))
        body = b"".join(p + (bytes([0xFF, 0xD0 + n]) if n is not None else b"") for p, n in zip(parts, numbers))
        good = grey_jpeg(64, 8, "", restart=2)
        return good[:-2] + body + b"\xff\xd9"
    # in sequence; and with one more after the last block, which libjpeg-turbo passes over
    for numbers in ([0, 1, 2, None], [0, 1, 2, 3]):
        data = with_markers(numbers)
        assert np.array_equal(np.asarray(jpeg_dc.decode(data)), pillow_eighth(data)), numbers
    for numbers in ([0, 0, 0, None], [0, 2, 3, None], [0, 1, None, None]):
        assert jpeg_dc.decode(with_markers(numbers)) is None, numbers


def test_fill_bytes_and_stray_bytes_before_a_restart_marker_are_passed_over_as_libjpeg_turbo_does():
    """0xFF fill bytes may come before any marker; bytes that are no data at all before a
    restart marker are skipped by libjpeg-turbo (with a warning): the same pixels here."""
    data = jpeg(pattern(320, 240, seed=5), subsampling=0, restart_marker_blocks=2)
    for before in (b"\xff\xff", b"\x12\x34"):
        at = data.index(b"\xff\xd1", plan(data).start)
        changed = data[:at] + before + data[at:]
        assert np.array_equal(np.asarray(jpeg_dc.decode(changed)), pillow_eighth(changed)), before


def test_a_marker_inside_a_restart_interval_is_noticed():
    data = jpeg(pattern(320, 240, seed=5), subsampling=2, restart_marker_blocks=4)
    at = data.index(b"\xff\xd2", plan(data).start)
    early = data.index(b"\xff\xd1", plan(data).start) + 20
    moved = data[:early] + data[at:at + 2] + data[early:at] + data[at + 2:]
    assert jpeg_dc.decode(moved) is None


def test_headers_libjpeg_would_refuse_or_read_otherwise_are_left_to_pillow():
    bits = ("0" + "1" * 11 + "0") * 4
    assert plan(grey_jpeg(32, 8, bits)) is not None
    assert plan(grey_jpeg(32, 8, bits, sampling=0x51)) is None  # a sampling factor of 5
    assert plan(grey_jpeg(32, 8, bits, dc_table=b"\x02" + bytes(15) + b"\x0b\x0b")) is None  # codes '0', '1'
    assert plan(grey_jpeg(32, 8, bits, between=b"\xff\x00\x00\x06")) is None  # junk, not a segment


def test_a_frame_pillow_reads_otherwise_is_left_to_it(tmp_path):
    """A reviewer's find: junk (FF 00) that libjpeg scans past, but that a parser taking it for
    a segment would skip a length of, can hide a 65535 x 65535 frame from Pillow's bomb check
    in 18 KB (restart markers re-reading the same zeros). The frame emowatch would decode must
    be the one Pillow measured."""
    big = segment(0xC0, struct.pack(">BHHB", 8, 65535, 65535, 1) + b"\x01\x11\x00")
    small = segment(0xC0, struct.pack(">BHHB", 8, 2000, 2000, 1) + b"\x01\x11\x00")
    data = (b"\xff\xd8\xff\x00\x00\x06\xff\xe1" + struct.pack(">H", 2 + len(big) + 4) + big
            + b"\xff\xe2" + struct.pack(">H", 2 + len(small)) + small
            + segment(0xDB, b"\x00" + b"\x08" * 64)
            + segment(0xC4, b"\x00\x01" + bytes(16)) + segment(0xC4, b"\x10\x01" + bytes(16))
            + segment(0xDD, b"\xff\xff") + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
            + b"".join(bytes([255, 0xD0 + k % 8]) for k in range(1024)) + bytes(16400) + b"\xff\xd9")
    assert Image.open(io.BytesIO(data)).size == (2000, 2000)
    assert plan(data) is None
    assert jpeg_dc.decode(data, (2000, 2000)) is None
    path = tmp_path / "disguised.jpg"
    path.write_bytes(data)
    try:
        decoded = decode(path, min_side=224)
    except DecodeError:
        return
    assert decoded.image.size == (250, 250)


@pytest.mark.parametrize("across, down", [(1, 1), (2, 2), (2, 1), (1, 2), (3, 1), (4, 1), (4, 4)])
def test_rgb_is_jdcolors_arithmetic_with_chroma_copied_across_what_it_covers(across, down):
    """The row-at-a-time conversion against jdcolor.c's formulas written out in numpy, for
    chroma subsampled by each factor a JPEG may use (the photo tests cover 1 and 2 only)."""
    k = jpeg_dc.kernels()
    rng = np.random.default_rng(across * 10 + down)
    height, width = 37, 53
    layout = np.array([[across, down, 1, 1], [1, 1, across, down], [1, 1, across, down]], np.int64)
    planes = rng.integers(0, 256, (3, height, width), dtype=np.uint8)
    ours = np.empty((height, width, 3), np.uint8)
    k.rgb(planes, layout, ours)
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    y = planes[0].astype(np.int64)
    cb = planes[1][rows // down, cols // across].astype(np.int64) - 128
    cr = planes[2][rows // down, cols // across].astype(np.int64) - 128
    expected = np.stack([y + ((91881 * cr + 32768) >> 16),
                         y + ((-22554 * cb - 46802 * cr + 32768) >> 16),
                         y + ((116130 * cb + 32768) >> 16)], axis=-1)
    assert np.array_equal(ours, np.clip(expected, 0, 255).astype(np.uint8))
