"""The picture digest on hostile or ambiguous structures: a few kilobytes of TIFF offsets or HEIF
references that would ask for terabytes of hashing or millions of Python objects, and a tag or
item given twice (a decoder may read the other one), give no digest (the daemon classifies the
photo again), at once."""

from __future__ import annotations

import struct
import time

import numpy as np

from emowatch.daemon.picture import image_digest
from emowatch.daemon.picture.heif import MAX_EXTENTS, MAX_ITEMS
from emowatch.daemon.picture.tiff import MAX_PIECES
from test_daemon_picture import _box

u16, u32 = (lambda n: struct.pack(">H", n)), (lambda n: struct.pack(">I", n))


def _strips(offsets: list[int], sizes: list[int], size: int) -> bytes:
    """An 8 x 8 grey classic TIFF whose strips are at `offsets`, `sizes` long, `size` bytes in all."""
    n, entries = len(offsets), 6
    at = 8 + 2 + 12 * entries + 4
    ifd = b"".join(struct.pack("<HHII", *entry) for entry in [
        (256, 4, 1, 8), (257, 4, 1, 8), (258, 3, 1, 8), (262, 3, 1, 1),
        (273, 4, n, at if n > 1 else offsets[0]), (279, 4, n, at + 4 * n if n > 1 else sizes[0])])
    head = b"II*\x00" + u32(8)[::-1] + struct.pack("<H", entries) + ifd + bytes(4)
    tables = struct.pack(f"<{n}I", *offsets) + struct.pack(f"<{n}I", *sizes) if n > 1 else b""
    return (head + tables).ljust(size, b"\x01")


def test_strips_that_point_at_the_same_bytes_over_and_over_give_no_digest(tmp_path):
    path = tmp_path / "strips.tif"
    path.write_bytes(_strips([1024], [1024], 2048))
    assert image_digest(path) is not None
    path.write_bytes(_strips([0] * 64, [1 << 16] * 64, 1 << 16))  # 64 times the whole file
    assert image_digest(path) is None


def test_more_strips_than_any_photo_has_give_no_digest(tmp_path):
    path = tmp_path / "strips.tif"
    n = MAX_PIECES + 1  # empty strips: nothing to hash, but a Python loop and a list each
    path.write_bytes(_strips([0] * n, [0] * n, 0))
    assert image_digest(path) is None


def _heif(*, extents: int = 1, references: list[tuple[int, list[int]]] = (), associations: int = 1,
          second: tuple[int, int] = (2, 2)) -> bytes:
    """A minimal HEIF for the digest (not for a decoder): item 1, coded in `extents` one-byte
    pieces of the mdat (past 60000, the rest go to item 2), with `references` (dimg, from, to)
    and `associations` ipma entries; `second`: the ids of the second item in iinf and iloc."""
    first = min(extents, 60_000)
    iloc = u16(0x4400) + u16(2) + u16(1) + u16(0) + u16(0) + u16(first)
    iloc += b"".join(u32(0) + u32(1) for _ in range(first))  # offsets patched in below
    iloc += u16(second[1]) + u16(0) + u16(0) + u16(extents - first) + b"".join(u32(0) + u32(1) for _ in range(extents - first))
    refs = b"".join(_box(b"dimg", u16(frm) + u16(len(tos)) + b"".join(map(u16, tos))) for frm, tos in references)
    ipma = u32(associations) + b"".join(u16(1 + i % 2) + b"\x01\x81" for i in range(associations))
    meta = _box(b"meta", b"".join([
        _box(b"hdlr", bytes(4) + b"pict" + bytes(13), 0), _box(b"pitm", u16(1), 0),
        _box(b"iinf", u16(2) + _box(b"infe", u16(1) + u16(0) + b"hvc1\0", 2)
             + _box(b"infe", u16(second[0]) + u16(0) + b"hvc1\0", 2), 0),
        _box(b"iloc", iloc, 1), _box(b"iref", refs, 0),
        _box(b"iprp", _box(b"ipco", _box(b"ispe", u32(8) + u32(8), 0)) + _box(b"ipma", ipma, 0))]), 0)
    ftyp = _box(b"ftyp", b"heic" + bytes(4) + b"mif1heic")
    mdat = len(ftyp) + len(meta) + 8
    at = meta.index(iloc) + 12
    meta = bytearray(meta)
    for i in range(first):
        meta[at + 8 * i:at + 8 * i + 4] = u32(mdat + i)  # one byte each
    return ftyp + bytes(meta) + _box(b"mdat", bytes(range(256)) * (first // 256 + 1))


def test_a_heif_in_more_pieces_than_any_photo_has_gives_no_digest(tmp_path):
    path = tmp_path / "pieces.heic"
    path.write_bytes(_heif(extents=1000))
    assert image_digest(path) is not None
    path.write_bytes(_heif(extents=MAX_EXTENTS + 1))
    assert image_digest(path) is None
    path.write_bytes(_heif(associations=MAX_ITEMS + 1))
    assert image_digest(path) is None
    path.write_bytes(_heif(references=[(1, [2] * (MAX_ITEMS + 1))]))
    assert image_digest(path) is None


def test_a_long_chain_of_derived_items_is_followed_in_linear_time(tmp_path):
    path = tmp_path / "chain.heic"
    path.write_bytes(_heif(references=[(i, [i + 1]) for i in range(1, MAX_ITEMS - 1)]))
    start = time.perf_counter()
    assert image_digest(path) is None  # item 3 on is not in iinf; found only after the whole chain
    assert time.perf_counter() - start < 1  # (quadratic: seconds)


def test_a_tiff_tag_given_twice_gives_no_digest(tmp_path):
    # libtiff decodes by one Predictor, the digest would hash the other: not a picture to trust
    import tifffile

    from emowatch.runtime.decode import decode

    path = tmp_path / "twice.tif"
    tifffile.imwrite(path, np.arange(64 * 48 * 3, dtype=np.uint8).reshape(48, 64, 3), photometric="rgb",
                     compression="zlib", predictor=True, resolution=(72, 72))
    assert image_digest(path) is not None
    data = bytearray(path.read_bytes())
    ifd = int.from_bytes(data[4:8], "little")
    entries = [ifd + 2 + 12 * i for i in range(int.from_bytes(data[ifd:ifd + 2], "little"))]
    tags = [int.from_bytes(data[at:at + 2], "little") for at in entries]
    assert tags[-1] == 317 and 296 in tags  # Predictor (2) last; ResolutionUnit to replace
    shown = decode(path, 32).image.tobytes()
    at = entries[tags.index(296)]
    data[at:at + 12] = struct.pack("<HHIHH", 317, 3, 1, 1, 0)  # Predictor 1, before the real one
    path.write_bytes(bytes(data))
    assert decode(path, 32).image.tobytes() != shown
    assert image_digest(path) is None


def test_a_heif_item_given_twice_gives_no_digest(tmp_path):
    path = tmp_path / "twice.heic"
    for second in ((2, 2), (1, 2), (2, 1)):  # as it should be; item 1 twice in iinf; in iloc
        path.write_bytes(_heif(second=second))
        assert (image_digest(path) is None) == (second != (2, 2)), second


def test_a_tiff_tag_of_megabytes_of_numbers_is_hashed_in_little_memory(tmp_path):
    # 8 M SHORTs (16 MB) as 64-bit numbers at once would be 64 MB, and a copy of those
    import tracemalloc

    n = 8 << 20
    entries = [(256, 4, 1, 8), (257, 4, 1, 8), (258, 3, 1, 8), (262, 3, 1, 1), (273, 4, 1, 200),
               (279, 4, 1, 64), (50712, 3, n, 512)]  # ... and a LinearizationTable of n values
    head = b"II*\x00" + u32(8)[::-1] + struct.pack("<H", len(entries)) \
        + b"".join(struct.pack("<HHII", *entry) for entry in entries) + bytes(4)
    path = tmp_path / "table.tif"
    path.write_bytes(head.ljust(512, b"\x01") + bytes(2 * n))
    tracemalloc.start()
    try:
        assert image_digest(path) is not None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * 2 * n  # the value itself, and a little more


def test_mutated_photos_give_a_digest_or_none_never_an_exception_nor_a_wait(tmp_path):
    # a fixed-seed fuzz, small enough for every run (a few thousand cases per format found nothing)
    import random

    from test_daemon_picture import build

    rng = random.Random(7)
    for name in ("tiled.tif", "photo.dng", "alpha-lossy.webp", "alpha.heic", "photo.avif"):
        data = build(tmp_path, name).read_bytes()
        for case in range(50):
            mutated = bytearray(data)
            at = rng.randrange(min(len(data), 2048) - 4)
            if case % 3 == 0:
                mutated = mutated[:rng.randrange(len(data))]
            elif case % 3 == 1:
                mutated[at:at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x01\x00\x00"])
            else:
                for _ in range(4):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            path = tmp_path / f"mutated-{name}"
            path.write_bytes(bytes(mutated))
            start = time.perf_counter()
            image_digest(path)  # a digest or None; an exception fails the test
            assert time.perf_counter() - start < 1, (name, case)
