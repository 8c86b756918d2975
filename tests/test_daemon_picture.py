"""The picture digest of TIFF, DNG, WebP, HEIC and AVIF: real files, edited by the real exiftool.

A metadata-only edit (a rating, keywords, IPTC, an EXIF text field, emowatch's own write) keeps
the digest even though exiftool moves the image data around; a few changed pixels, another
orientation or another compression change it; a truncated or corrupt file has none.
"""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import corpus
from emowatch.daemon.picture import image_digest
from emowatch.metadata import write_tags
from photos import pattern

W, H = 96, 64
EDITS = [["-Rating=3"], ["-XMP-xmp:Rating=5"], ["-XMP-dc:Subject+=x"], ["-IPTC:Keywords+=x"], ["-EXIF:Artist=x"]]


def exiftool(*args):
    subprocess.run(["exiftool", "-q", "-overwrite_original", *map(str, args)], check=True)


def picture(changed: bool = False) -> np.ndarray:
    array = pattern(W, H, seed=3)
    if changed:
        array[10:12, 20:22] = 255 - array[10:12, 20:22]  # four pixels
    return array


def _pillow(**options):
    def make(path, array, **more):
        Image.fromarray(array).save(path, **options, **more)
    return make


def _tifffile(**options):
    def make(path, array):
        import tifffile

        tifffile.imwrite(path, array, photometric="rgb", **options)
    return make


def _pages(path, array):
    import tifffile

    tifffile.imwrite(path, np.stack([array, array[::-1]]), photometric="rgb")


def _dng(path, array):
    """As a DNG is laid out: a preview in IFD0, the raw (CFA-like) data in a SubIFD."""
    import tifffile

    raw = (array[..., 1].astype(np.uint16) << 4) | array[..., 0].astype(np.uint16) >> 4
    with tifffile.TiffWriter(path) as tif:
        tif.write(array[::2, ::2], photometric="rgb", subfiletype=1, subifds=1,
                  extratags=[(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "FakeCam", True)])
        tif.write(raw, photometric="minisblack", tile=(32, 32), compression="zlib")


def _with_alpha(**options):
    def make(path, array):
        alpha = np.full(array.shape[:2], 200, np.uint8)
        alpha[:8] = 40
        Image.fromarray(np.dstack([array, alpha])).save(path, **options)
    return make


def _heif(**options):
    def make(path, array, **more):
        import pillow_heif

        pillow_heif.register_heif_opener()
        Image.fromarray(array).save(path, "HEIF", **options, **more)
    return make


BUILDERS = {
    "strips.tif": _pillow(),
    "lzw.tif": _pillow(compression="tiff_lzw"),
    "jpeg.tif": _pillow(compression="jpeg", quality=90),
    "tiled.tif": _tifffile(tile=(32, 32), compression="zlib"),
    "motorola.tif": _tifffile(byteorder=">", predictor=True, compression="zlib"),
    "pages.tif": _pages,
    "photo.dng": _dng,
    "lossy.webp": _pillow(quality=80),
    "lossless.webp": _pillow(lossless=True),
    "alpha.webp": _with_alpha(lossless=True),
    "alpha-lossy.webp": _with_alpha(quality=80),
    "photo.heic": _heif(quality=90),
    "alpha.heic": _with_alpha(format="HEIF", quality=90),
    "photo.avif": _pillow(format="AVIF", quality=90),
    "alpha.avif": _with_alpha(format="AVIF", quality=90),
}


def build(tmp_path, name: str, changed: bool = False):
    import pillow_heif

    pillow_heif.register_heif_opener()
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / name
    BUILDERS[name](path, picture(changed))
    return path


@pytest.mark.parametrize("name", BUILDERS)
def test_metadata_only_edits_keep_the_digest(name, tmp_path, et, settings, tags):
    path = build(tmp_path, name)
    before = image_digest(path)
    assert before is not None
    for edit in EDITS:
        if edit[0].startswith("-IPTC") and not name.endswith((".tif", ".dng")):
            continue  # exiftool writes no IPTC into WebP or HEIF
        data = path.read_bytes()
        exiftool(*edit, path)
        changed = path.read_bytes() != data
        assert changed, edit
        assert image_digest(path) == before, edit
    write_tags(path, tags, settings=settings, exiftool=et)  # emowatch's own write
    assert image_digest(path) == before


@pytest.mark.parametrize("name", BUILDERS)
def test_a_few_pixels_change_the_digest(name, tmp_path):
    same, changed = build(tmp_path, name), build(tmp_path / "other", name, changed=True)
    assert None is not image_digest(same) != image_digest(changed) is not None


@pytest.mark.parametrize("name", [n for n in BUILDERS if not n.endswith((".heic", ".avif"))])
def test_orientation_changes_the_digest(name, tmp_path):
    path = build(tmp_path, name)
    upright = image_digest(path)
    exiftool("-n", "-Orientation=6", path)
    assert None is not upright != image_digest(path) is not None


@pytest.mark.parametrize("name", ["photo.heic", "photo.avif"])
def test_heif_orientation_is_its_irot_property_not_exif(name, tmp_path):
    # the encoders store the orientation they are given as irot; the decoders show that, and
    # ignore an EXIF orientation (which exiftool writes into the Exif item)
    from emowatch.runtime.decode import decode

    path = tmp_path / name
    exif = Image.Exif()
    exif[0x0112] = 6
    save = _pillow(format="AVIF") if name.endswith(".avif") else _heif()
    save(path, picture(), quality=90, exif=exif.tobytes())
    turned, shown = image_digest(path), decode(path, 32).image
    assert shown.size == (H, W)
    data = bytearray(path.read_bytes())
    at = data.index(b"irot") + 4
    assert data[at] == 3  # 270 degrees anticlockwise
    data[at] = 1
    path.write_bytes(bytes(data))
    assert None is not turned != image_digest(path) is not None
    path.write_bytes(bytes(data[:at]) + b"\x03" + bytes(data[at + 1:]))
    exiftool("-n", "-Orientation=3", path)
    assert image_digest(path) == turned and decode(path, 32).image.tobytes() == shown.tobytes()


@pytest.mark.parametrize("name", ["strips.tif", "lossy.webp", "photo.avif"])
def test_an_xmp_orientation_turns_the_picture_and_changes_the_digest(name, tmp_path):
    # Pillow turns a photo whose EXIF has no orientation by its XMP tiff:Orientation (Lightroom
    # writes it); Pillow's AVIF plugin keeps it too (pillow-heif drops it: HEIC is shown as is)
    from emowatch.runtime.decode import decode

    path = build(tmp_path, name)
    before = image_digest(path)
    exiftool("-XMP-xmp:Rating=3", path)  # an XMP packet without an orientation: the same picture
    assert image_digest(path) == before
    exiftool("-XMP-tiff:Orientation=Rotate 90 CW", path)
    assert decode(path, 32).image.size == (H, W)
    assert None is not before != image_digest(path) is not None


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, chunks = 12, []
    while pos + 8 <= len(data):
        kind, n = struct.unpack_from("<4sI", data, pos)
        chunks.append((kind, data[pos + 8:pos + 8 + n]))
        pos += 8 + n + (n & 1)
    return chunks


def _webp(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"WEBP" + b"".join(k + struct.pack("<I", len(v)) + v + bytes(len(v) & 1) for k, v in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_a_webp_shown_by_its_first_exif_chunk_is_digested_by_it(tmp_path):
    # libwebp hands Pillow the first EXIF chunk; a second one must not hide a change to the first
    from emowatch.runtime.decode import decode

    def exif(orientation):
        found = Image.Exif()
        found[0x0112] = orientation
        return found.tobytes()

    chunks = _webp_chunks(build(tmp_path, "lossy.webp").read_bytes())
    assert [kind for kind, _ in chunks] == [b"VP8 "]
    vp8x = bytes([0x08, 0, 0, 0]) + (W - 1).to_bytes(3, "little") + (H - 1).to_bytes(3, "little")
    chunks.insert(0, (b"VP8X", vp8x))  # an extended WebP with EXIF
    paths = [tmp_path / "turned.webp", tmp_path / "upright.webp"]
    for path, first in zip(paths, (6, 1)):
        path.write_bytes(_webp(chunks + [(b"EXIF", exif(first)), (b"EXIF", exif(1))]))
    assert [decode(p, 32).image.size for p in paths] == [(H, W), (W, H)]
    assert None is not image_digest(paths[0]) != image_digest(paths[1]) is not None


def test_the_alpha_flag_of_a_lossy_webp_with_alpha_is_part_of_its_picture(tmp_path):
    # without the VP8X alpha flag the ALPH chunk is not shown: another picture
    from emowatch.runtime.decode import decode

    path = build(tmp_path, "alpha-lossy.webp")
    chunks = _webp_chunks(path.read_bytes())
    assert [kind for kind, _ in chunks] == [b"VP8X", b"ALPH", b"VP8 "] and chunks[0][1][0] & 0x10
    shown, before = decode(path, 32).image.tobytes(), image_digest(path)
    chunks[0] = (b"VP8X", bytes([chunks[0][1][0] & ~0x10]) + chunks[0][1][1:])
    path.write_bytes(_webp(chunks))
    assert decode(path, 32).image.tobytes() != shown
    assert None is not before != image_digest(path) is not None


@pytest.mark.parametrize("name", ["alpha.heic", "alpha.avif"])
def test_a_heif_whose_alpha_is_premultiplied_is_another_picture(name, tmp_path):
    # a `prem` reference from the colour item to its alpha: the decoders undo the premultiplication
    from emowatch.runtime.decode import decode

    path = tmp_path / name
    alpha = np.full((H, W), 120, np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "camera"  # an Exif item: a `cdsc` reference the same size as a `prem` one
    Image.fromarray(np.dstack([picture(), alpha])).save(path, "AVIF" if name.endswith(".avif") else "HEIF",
                                                        quality=90, exif=exif.tobytes())
    data = bytearray(path.read_bytes())
    iref = dict(_walk(dict(_walk(dict(_walk(bytes(data)))[b"meta"], 4))[b"iref"], 4))
    primary, alpha_item = iref[b"cdsc"][2:4], iref[b"auxl"][:2]
    shown, before = decode(path, 32).image.tobytes(), image_digest(path)
    at = data.index(b"cdsc")
    data[at:at + 10] = b"prem" + primary + b"\x00\x01" + alpha_item
    path.write_bytes(bytes(data))
    assert decode(path, 32).image.tobytes() != shown
    assert None is not before != image_digest(path) is not None


def test_another_compression_of_the_same_pixels_is_another_digest(tmp_path):
    digests = [image_digest(build(tmp_path, name)) for name in ("strips.tif", "lzw.tif", "tiled.tif")]
    digests += [image_digest(build(tmp_path, name)) for name in ("lossy.webp", "lossless.webp")]
    assert None not in digests and len(set(digests)) == len(digests)
    heic = [tmp_path / "q90.heic", tmp_path / "q60.heic"]
    _heif(quality=90)(heic[0], picture())
    _heif(quality=60)(heic[1], picture())
    assert None is not image_digest(heic[0]) != image_digest(heic[1]) is not None


def test_a_bigtiff_is_digested_by_content_not_layout(tmp_path):
    # exiftool cannot write BigTIFF: tifffile writes the same picture with other metadata
    # (a description that moves the image data) and with four pixels changed
    import tifffile

    paths = [tmp_path / f"{i}.tif" for i in range(3)]
    tifffile.imwrite(paths[0], picture(), bigtiff=True, photometric="rgb")
    tifffile.imwrite(paths[1], picture(), bigtiff=True, photometric="rgb", description="x" * 5000,
                     software="another program", datetime=True)
    tifffile.imwrite(paths[2], picture(changed=True), bigtiff=True, photometric="rgb")
    assert paths[0].read_bytes()[:4] == b"II+\x00"
    digests = [image_digest(p) for p in paths]
    assert None is not digests[0] == digests[1] != digests[2] is not None


def test_a_tiff_tag_is_hashed_by_value_not_by_its_type(tmp_path):
    # Compression = 1 as a SHORT, then as a LONG (the same four bytes in a little-endian IFD);
    # another value is another picture
    path = build(tmp_path, "strips.tif")
    data = bytearray(path.read_bytes())
    ifd = int.from_bytes(data[4:8], "little")
    entry = next(ifd + 2 + 12 * i for i in range(int.from_bytes(data[ifd:ifd + 2], "little"))
                 if data[ifd + 2 + 12 * i:ifd + 4 + 12 * i] == (259).to_bytes(2, "little"))
    assert data[entry + 2:entry + 4] == b"\x03\x00" and data[entry + 8:entry + 12] == b"\x01\x00\x00\x00"
    before = image_digest(path)
    data[entry + 2] = 4
    path.write_bytes(bytes(data))
    assert None is not before == image_digest(path)
    data[entry + 8] = 5  # LZW: the same strips decode otherwise
    path.write_bytes(bytes(data))
    assert image_digest(path) != before


@pytest.mark.parametrize("name", BUILDERS)
def test_a_truncated_photo_has_no_digest(name, tmp_path):
    path = build(tmp_path, name)
    assert image_digest(path) is not None
    path.write_bytes(path.read_bytes()[:path.stat().st_size * 2 // 3])
    assert image_digest(path) is None


def test_broken_structures_give_no_digest_and_no_exception(tmp_path):
    tif = build(tmp_path, "strips.tif").read_bytes()
    webp = build(tmp_path, "lossy.webp").read_bytes()
    heic = build(tmp_path, "photo.heic").read_bytes()
    assert None not in [image_digest(tmp_path / name) for name in ("strips.tif", "lossy.webp", "photo.heic")]
    cases = [
        ("IFD0 past the end", ".tif", tif[:4] + (len(tif) + 10).to_bytes(4, "little") + tif[8:]),
        ("an IFD that points at itself", ".tif", _loop(tif)),
        ("a TIFF header and nothing else", ".tif", tif[:8] + bytes(len(tif) - 8)),
        ("a chunk longer than the file", ".webp", webp[:16] + (len(webp) * 2).to_bytes(4, "little") + webp[20:]),
        ("a HEIF without its meta box", ".heic", heic.replace(b"meta", b"xeta", 1)),
        ("a HEIF whose primary item is not there", ".heic",
         heic.replace(b"pitm\x00\x00\x00\x00\x00\x01", b"pitm\x00\x00\x00\x00\x00\x63", 1)),
    ]
    for why, suffix, broken in cases:
        path = tmp_path / f"broken{suffix}"
        path.write_bytes(broken)
        assert broken not in (tif, webp, heic), why
        assert image_digest(path) is None, why


def _loop(tiff: bytes) -> bytes:
    """The TIFF with its IFD0's next-IFD offset pointing back at IFD0."""
    ifd = int.from_bytes(tiff[4:8], "little")
    count = int.from_bytes(tiff[ifd:ifd + 2], "little")
    at = ifd + 2 + 12 * count
    return tiff[:at] + ifd.to_bytes(4, "little") + tiff[at + 4:]


def test_other_formats_and_raw_files_have_none(tmp_path):
    # a camera raw file's metadata edits go to its sidecar: the raw file itself does not change
    cr2 = corpus.fake_raw(tmp_path / "x.cr2")
    nef = tmp_path / "x.nef"
    nef.write_bytes(build(tmp_path, "strips.tif").read_bytes())  # TIFF inside, named as camera raw
    assert image_digest(tmp_path / "strips.tif") is not None
    text = tmp_path / "x.tif"
    text.write_text("not a photo")
    assert [image_digest(p) for p in (cr2, nef, text, tmp_path / "missing.tif")] == [None] * 4


# -- a HEIC as phones write it: the primary item a grid of separately coded tiles -------------
def _box(kind: bytes, payload: bytes, version: int | None = None) -> bytes:
    if version is not None:  # a full box
        payload = bytes([version, 0, 0, 0]) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _walk(data: bytes, start: int = 0, end: int | None = None):
    """(type, body) of each box in data[start:end] (32-bit sizes: all pillow-heif writes)."""
    pos, end = start, len(data) if end is None else end
    while pos < end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        yield kind, data[pos + 8:pos + size]
        pos += size


def _tile(array: np.ndarray) -> tuple[bytes, bytes]:
    """One tile coded on its own: its hvcC box and its HEVC data (the only item of a fresh HEIC)."""
    buf = io.BytesIO()
    _heif(quality=90)(buf, array)
    data = buf.getvalue()
    meta = dict(_walk(data))[b"meta"]
    iprp = dict(_walk(meta, 4))[b"iprp"]
    ipco = dict(_walk(iprp))[b"ipco"]
    hvcc = dict(_walk(ipco))[b"hvcC"]
    return _box(b"hvcC", hvcc), dict(_walk(data))[b"mdat"]


def grid_heic(path: Path, array: np.ndarray, *, swapped: bool = False) -> Path:
    """A 2 x 1 grid of 64 x 64 tiles (`swapped`: the same tiles, referenced right one first)."""
    tiles = [_tile(array[:, :64]), _tile(array[:, 64:])]
    u16, u32 = (lambda n: struct.pack(">H", n)), (lambda n: struct.pack(">I", n))
    infe = [_box(b"infe", u16(i) + u16(0) + kind + b"\0", 2) for i, kind in ((1, b"grid"), (2, b"hvc1"), (3, b"hvc1"))]
    ispe_tile, ispe_grid = (_box(b"ispe", u32(w) + u32(64), 0) for w in (64, 128))
    ipma = u32(3) + u16(1) + b"\x01" + bytes([0x80 | 4]) + u16(2) + b"\x02" + bytes([0x80 | 1, 3]) \
        + u16(3) + b"\x02" + bytes([0x80 | 2, 3])
    order = (3, 2) if swapped else (2, 3)

    def meta(mdat: int) -> bytes:
        iloc = u16(0x4400) + u16(3) + u16(1) + u16(1) + u16(0) + u16(1) + u32(0) + u32(8)  # the grid, in idat
        for item, at in ((2, 0), (3, len(tiles[0][1]))):
            iloc += u16(item) + u16(0) + u16(0) + u16(1) + u32(mdat + at) + u32(len(tiles[item - 2][1]))
        return _box(b"meta", b"".join([
            _box(b"hdlr", bytes(4) + b"pict" + bytes(13), 0), _box(b"pitm", u16(1), 0),
            _box(b"iinf", u16(3) + b"".join(infe), 0), _box(b"iloc", iloc, 1),
            _box(b"iref", _box(b"dimg", u16(1) + u16(2) + u16(order[0]) + u16(order[1])), 0),
            _box(b"iprp", _box(b"ipco", tiles[0][0] + tiles[1][0] + ispe_tile + ispe_grid) + _box(b"ipma", ipma, 0)),
            _box(b"idat", bytes([0, 0, 0, 1]) + u16(128) + u16(64)),  # 1 row, 2 columns, 128 x 64
        ]), 0)

    ftyp = _box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    start = len(ftyp) + len(meta(0)) + 8
    path.write_bytes(ftyp + meta(start) + _box(b"mdat", tiles[0][1] + tiles[1][1]))
    return path


def test_a_grid_heic_is_digested_through_its_tiles(tmp_path, et, settings, tags):
    import pillow_heif

    pillow_heif.register_heif_opener()
    array = pattern(128, 64, seed=4)
    path = grid_heic(tmp_path / "grid.heic", array)
    with Image.open(path) as shown:  # a real grid: the decoder puts the tiles together
        assert shown.size == (128, 64)
        assert np.abs(np.asarray(shown.convert("RGB"), dtype=float) - array).mean() < 8
    before = image_digest(path)
    assert before is not None
    exiftool("-XMP-dc:Subject+=x", "-EXIF:Artist=x", "-Rating=2", path)
    write_tags(path, tags, settings=settings, exiftool=et)
    assert image_digest(path) == before
    changed = array.copy()
    changed[30:32, 100:102] = 255 - changed[30:32, 100:102]  # four pixels of the right tile
    others = [grid_heic(tmp_path / "swapped.heic", array, swapped=True),
              grid_heic(tmp_path / "changed.heic", changed)]
    assert len({before, *map(image_digest, others)}) == 3
