"""What a 1/8-scale decode of a JPEG needs from its header, read in pure Python: the frame, the
quantiser of each component's DC, the Huffman tables as lookup tables, the restart interval and
where the entropy-coded data starts.

`plan` returns None for anything jpeg_dc does not decode as libjpeg-turbo does (a progressive,
arithmetic-coded, 12-bit, multi-scan, CMYK or RGB-stored JPEG, sampling factors outside 1-4 or
that do not divide, a header libjpeg would refuse or read otherwise): the photo is then decoded
by Pillow. (Plan.exact says whether the pixels are libjpeg-turbo's to the bit: not for 4:2:0.)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LOOK = 13  # bits one table lookup sees (13 measured ~1% faster than 12, 14 no faster)
_SIZE = 1 << LOOK
# SOF markers of JPEGs that are not baseline or extended-sequential Huffman-coded
_OTHER_FRAMES = {0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _has_length(marker: int) -> bool:
    """A marker a length follows, before the scan: SOFn, DHT, DAC; SOS, DQT, DNL, DRI, DHP, EXP;
    APPn, JPGn, COM (0xC8, JPG, is reserved). Any other here is junk libjpeg scans past."""
    return (0xC0 <= marker <= 0xCF and marker != 0xC8) or 0xDA <= marker <= 0xDF or 0xE0 <= marker <= 0xFE


@dataclass(frozen=True)
class Plan:
    width: int
    height: int
    layout: tuple[tuple[int, int, int, int], ...]  # per component: blocks across and down an
    # MCU, and how many output pixels across and down each block's pixel is copied to
    blocks: tuple[int, ...]  # the component (0: Y or grey, 1: Cb, 2: Cr) of each block of an MCU
    dc_quant: tuple[int, ...]  # per component
    exact: bool  # the pixels are libjpeg-turbo's (False: a chroma it scales by a 2x2 IDCT)
    mcus_x: int
    mcus_y: int
    restart: int  # MCUs per restart interval; 0: none
    start: int  # offset of the entropy-coded data
    tables: "Tables"
    dc_table: tuple[int, ...]  # per component: which of `tables` decodes its DC, its AC
    ac_table: tuple[int, ...]


@dataclass(frozen=True)
class Tables:
    """Every Huffman table of the scan, concatenated (table t at t * 4096, t * 18, t * 257)."""
    sym: np.ndarray  # int16: the symbol of a code of <= LOOK bits starting with these bits
    length: np.ndarray  # int8: its length; 0: the code is longer
    maxcode: np.ndarray  # int64, per length 0..17, for longer codes (17: a sentinel)
    offset: np.ndarray  # int64, per length: value index = code + offset
    values: np.ndarray  # int32, 257 per table
    run: np.ndarray  # int16: an AC table's codes and their extra bits, as many as fit in LOOK
    # bits, at once (_runs); a DC table's code and its extra bits, when both fit (_dc_fast)


def plan(data: bytes) -> Plan | None:
    try:
        return _plan(data)
    except (IndexError, struct.error, ValueError, ZeroDivisionError):
        return None


def _plan(data: bytes) -> Plan | None:
    if data[:2] != b"\xff\xd8":
        return None
    i, huffman, quant = 2, {}, {}
    frame = scan = None
    restart = 0
    adobe_transform = None
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _OTHER_FRAMES or not _has_length(marker):
            return None
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        body = data[i + 4:i + 2 + length]
        if length < 2 or len(body) != length - 2:
            return None
        if marker in (0xC0, 0xC1):
            if frame is not None:
                return None
            frame = body
        elif marker == 0xC4:
            j = 0
            while j < len(body):
                counts = body[j + 1:j + 17]
                n = sum(counts)
                if len(counts) != 16 or n > 256 or j + 17 + n > len(body):
                    return None
                huffman[(body[j] >> 4, body[j] & 15)] = (bytes(counts), bytes(body[j + 17:j + 17 + n]))
                j += 17 + n
        elif marker == 0xDB:
            j = 0
            while j < len(body):
                wide = body[j] >> 4
                if wide > 1:
                    return None
                quant[body[j] & 15] = struct.unpack(">H", body[j + 1:j + 3])[0] if wide else body[j + 1]
                j += 129 if wide else 65
        elif marker == 0xDD:
            (restart,) = struct.unpack(">H", body[:2])
        elif marker == 0xEE and body[:5] == b"Adobe" and len(body) >= 12:
            adobe_transform = body[11]
        elif marker == 0xDA:
            scan = body
            start = i + 2 + length
            break
        i += 2 + length
    if frame is None or scan is None:
        return None
    return _from_frame(frame, scan, start, huffman, quant, restart, adobe_transform)


def _from_frame(frame: bytes, scan: bytes, start: int, huffman: dict, quant: dict,
                restart: int, adobe_transform: int | None) -> Plan | None:
    precision, height, width, nf = struct.unpack(">BHHB", frame[:6])
    if precision != 8 or not width or not height or nf not in (1, 3):
        return None
    comps = [(frame[6 + 3 * k], frame[7 + 3 * k] >> 4, frame[7 + 3 * k] & 15, frame[8 + 3 * k])
             for k in range(nf)]
    ids = [c[0] for c in comps]
    if nf == 3 and (adobe_transform == 0 or (adobe_transform is None and ids == [82, 71, 66])):
        return None  # RGB stored as is ('R', 'G', 'B' or Adobe's transform 0): libjpeg's own rule
    ns = scan[0]
    picked = [(scan[1 + 2 * k], scan[2 + 2 * k] >> 4, scan[2 + 2 * k] & 15) for k in range(ns)]
    ss, se, approx = scan[1 + 2 * ns], scan[2 + 2 * ns], scan[3 + 2 * ns]
    if ns != nf or (ss, se, approx) != (0, 63, 0) or sorted(p[0] for p in picked) != sorted(ids):
        return None  # one scan must hold every component, whole
    order = [ids.index(p[0]) for p in picked]
    if len(set(ids)) != nf:
        return None
    hmax, vmax = max(c[1] for c in comps), max(c[2] for c in comps)
    if any(not 1 <= h <= 4 or not 1 <= v <= 4 or hmax % h or vmax % v for _, h, v, _ in comps):
        return None  # libjpeg refuses factors outside 1-4; those that do not divide are not done here
    if nf == 1:  # a single-component scan is not interleaved: one block per MCU
        layout, blocks, exact = ((1, 1, 1, 1),), (0,), True
        mx, my = -(-width // 8), -(-height // 8)
    else:
        layout = tuple((h, v, hmax // h, vmax // v) for _, h, v, _ in comps)
        exact = all(_idct_size(h, v, hmax, vmax) == 1 for _, h, v, _ in comps)
        blocks = tuple(c for c in order for _ in range(comps[c][1] * comps[c][2]))
        if len(blocks) > 10:
            return None
        mx, my = -(-width // (8 * hmax)), -(-height // (8 * vmax))
    try:
        dc_quant = tuple(quant[comps[c][3]] for c in range(nf))
        keys = sorted({(0, p[1]) for p in picked} | {(1, p[2]) for p in picked})
        tables = _tables(tuple(huffman[k] for k in keys), tuple(k[0] for k in keys))
    except KeyError:
        return None
    if tables is None:
        return None
    by_comp = {ids.index(p[0]): p for p in picked}
    dc_table = tuple(keys.index((0, by_comp[c][1])) for c in range(nf))
    ac_table = tuple(keys.index((1, by_comp[c][2])) for c in range(nf))
    return Plan(width, height, layout, blocks, dc_quant, exact, mx, my, restart, start, tables,
                dc_table, ac_table)


def _idct_size(h: int, v: int, hmax: int, vmax: int) -> int:
    """The pixels across a block of this component becomes in libjpeg-turbo at 1/8 scale: it
    scales a subsampled component up by its IDCT where it can (jdmaster.c), so a 4:2:0 JPEG's
    chroma block becomes 2x2 pixels from 25 of its coefficients, where here it is its DC copied
    to 2x2 (about 1 in 255 of mean difference; reading those coefficients and a 2x2 IDCT cost as
    much time as this decoder saves)."""
    size = 1
    while size < 8 and hmax % (h * size * 2) == 0 and vmax % (v * size * 2) == 0:
        size *= 2
    return size


@lru_cache(maxsize=32)  # a camera or an encoder writes the same tables in every photo
def _tables(specs: tuple[tuple[bytes, bytes], ...], classes: tuple[int, ...]) -> Tables | None:
    parts = [_table(counts, values, ac=bool(cls)) for (counts, values), cls in zip(specs, classes)]
    if any(p is None for p in parts):
        return None
    arrays = [np.concatenate([p[k] for p in parts]) for k in range(6)]
    for a in arrays:
        a.setflags(write=False)
    return Tables(*arrays)


def _table(counts: bytes, values: bytes, ac: bool) -> tuple[np.ndarray, ...] | None:
    """One table's lookups (the `Tables` fields), or None for a table no valid JPEG has."""
    if any((v & 15) > 10 if ac else v > 11 for v in values):
        return None  # 8-bit JPEGs: a DC difference has <= 11 bits, an AC coefficient <= 10
    sym, length = np.zeros(_SIZE, np.int16), np.zeros(_SIZE, np.int8)
    maxcode, offset = np.full(18, -1, np.int64), np.zeros(18, np.int64)
    code = k = 0
    for n in range(1, 17):
        offset[n] = k - code
        for _ in range(counts[n - 1]):
            if n <= LOOK:
                lo = code << (LOOK - n)
                sym[lo:lo + (1 << (LOOK - n))], length[lo:lo + (1 << (LOOK - n))] = values[k], n
            k, code = k + 1, code + 1
        if counts[n - 1] and code >= 1 << n:
            return None  # more codes of this length than fit, or an all-ones code (libjpeg's rule)
        maxcode[n] = code - 1 if counts[n - 1] else -1
        code <<= 1
    maxcode[17] = 1 << 40
    padded = np.zeros(257, np.int32)
    padded[:len(values)] = list(values)
    return sym, length, maxcode, offset, padded, _runs(sym, length) if ac else _dc_fast(sym, length)


def _dc_fast(sym: np.ndarray, length: np.ndarray) -> np.ndarray:
    """For each LOOK-bit window: the DC code it starts with and that code's extra bits, read at
    once when both lie wholly in it, as (the difference they give << 5) | the bits they take;
    0: they do not fit (the decoder reads the code, then its bits). Differences of 11 bits are
    left to the slow way, so that every entry fits in 16 bits."""
    windows = np.arange(_SIZE, dtype=np.int64)
    n, s = length.astype(np.int64), sym.astype(np.int64) & 15
    fits = (n > 0) & (n + s <= LOOK) & (s <= 10)
    extra = (windows >> np.clip(LOOK - n - s, 0, None)) & ((1 << s) - 1)
    # JPEG's EXTEND: an extra-bits value whose top bit is 0 stands for a negative difference
    difference = np.where(extra < ((1 << s) >> 1), extra - ((1 << s) - 1), extra)
    return np.where(fits, (difference << 5) | (n + s), 0).astype(np.int16)


def _runs(sym: np.ndarray, length: np.ndarray) -> np.ndarray:
    """For each LOOK-bit window: the AC codes and extra bits that lie wholly in it, taken at once.
    Low 5 bits: the bits they take; bits 5-11: how many coefficients they move on; bit 12: the
    last is the end of the block. 0: not even one fits (the decoder goes code by code)."""
    windows = np.arange(_SIZE, dtype=np.int64)
    used = np.zeros(_SIZE, np.int64)
    moved = np.zeros(_SIZE, np.int64)
    end = np.zeros(_SIZE, bool)
    going = np.ones(_SIZE, bool)
    while going.any():
        at = (windows << used) & (_SIZE - 1)
        n = length[at].astype(np.int64)
        s, r = sym[at] & 15, sym[at] >> 4
        fits = going & (n > 0) & (n + s <= LOOK - used)
        used = np.where(fits, used + n + s, used)
        eob = fits & (s == 0) & (r != 15)
        end |= eob
        moved = np.where(fits & ~eob, moved + np.where(s == 0, 16, r + 1), moved)
        going = fits & ~eob & (moved < 64)
    return (used | (moved << 5) | (end.astype(np.int64) << 12)).astype(np.int16)
