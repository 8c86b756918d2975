"""The compiled loops of jpeg_dc (numba, nopython, GIL released): reading every block's DC
coefficient from the entropy-coded data into 1/8-scale planes (jidctred.c's 1x1 IDCT), and
turning those into RGB (chroma copied to the pixels it covers, jdcolor.c's integer YCbCr to RGB).

numba compiles them at their first call in a process, or loads them from its cache (seconds the
first time, ~0.4 s after). Every read is bounds-checked by hand: bytes are read only below the
data's end (zero bits stand in past it, and past any marker), the decoder checks after each
block that it has not read those, a code that no table holds stops it, and the tables hold no
symbol an 8-bit JPEG cannot have (jpeg_dc_plan), so damaged data ends in an error code, never
outside the arrays. Stuffed bytes (0xFF 0x00) and markers are taken as the bits are read: four
bytes at once when none is 0xFF, which all but about one read in 64 are.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from .jpeg_dc_plan import LOOK

_SH = uint64(64 - LOOK)


@njit(nogil=True, boundscheck=False, inline="always")
def _refill(d, n, p, buf, cnt, fake):
    """At least 33 bits in `buf` (top-aligned, `cnt` of them valid): four bytes at once where
    none of them is 0xFF, else byte by byte (_refill_bytes)."""
    if cnt > 32:
        return p, buf, cnt, fake
    if p + 4 <= n:
        w = (uint64(d[p]) << uint64(24)) | (uint64(d[p + 1]) << uint64(16)) \
            | (uint64(d[p + 2]) << uint64(8)) | uint64(d[p + 3])
        x = w ^ uint64(0xFFFFFFFF)  # a zero byte where w has 0xFF
        if ((x - uint64(0x01010101)) & ~x & uint64(0x80808080)) == 0:
            return p + 4, buf | (w << uint64(32 - cnt)), cnt + 32, fake
    return _refill_bytes(d, n, p, buf, cnt, fake)


@njit(nogil=True, boundscheck=False)
def _refill_bytes(d, n, p, buf, cnt, fake):
    """Bytes one at a time: 0xFF 0x00 is a 0xFF byte of data; at a marker (or the end of the
    data) the reading stops there, and zero bits stand in (`fake` counts them: a block that
    reads them has run past its data, as libjpeg-turbo's jdhuff.c fills in zeros)."""
    while cnt <= 56:
        byte = 0
        if p < n and d[p] != 0xFF:
            byte = d[p]
            p += 1
        else:
            q = p + 1
            while q < n and d[q] == 0xFF:  # fill bytes
                q += 1
            if p < n and q < n and d[q] == 0:
                byte = 0xFF
                p = q + 1
            else:
                fake += 8
        buf |= uint64(byte) << uint64(56 - cnt)
        cnt += 8
    return p, buf, cnt, fake


@njit(nogil=True, boundscheck=False)
def _restart_marker(d, n, p, number):
    """Past the restart marker RST<number> at or after p (the bytes before it, which
    libjpeg-turbo skips with a warning, skipped too); -1 when the next marker is another."""
    while p + 1 < n:
        if d[p] == 0xFF and d[p + 1] != 0 and d[p + 1] != 0xFF:
            return p + 2 if d[p + 1] == 0xD0 + (number & 7) else -1
        p += 1
    return -1


@njit(nogil=True, boundscheck=False)
def _longer(buf, t, maxcode, offset, values):
    """A code longer than LOOK bits: (its length, its symbol), or (0, 0) for no valid code."""
    n = LOOK + 1
    code = np.int64(buf >> uint64(64 - n))
    while code > maxcode[t * 18 + n]:
        n += 1
        if n > 16:
            return 0, 0
        code = np.int64(buf >> uint64(64 - n))
    return n, values[t * 257 + code + offset[t * 18 + n]]


@njit(nogil=True, boundscheck=False, inline="always")
def _code(buf, t, sym, length, maxcode, offset, values):
    """The next code of table t: (its length, its symbol), or (0, 0) for no valid code."""
    at = (t << LOOK) + np.int64(buf >> _SH)
    n = np.int64(length[at])
    if n:
        return n, np.int64(sym[at])
    return _longer(buf, t, maxcode, offset, values)


def _dc_sample(v: int) -> int:
    """jidctred.c's 1x1 IDCT as libjpeg-turbo computes it, from _dc_index's value: looked up in
    its range-limit table, which wraps far-out values (only a damaged or crafted file has them)
    instead of clamping them."""
    if v < 128:
        return v + 128
    if v < 512:
        return 255
    if v < 896:
        return 0
    return v - 896


# a table, not branches: whether a sample is above or below mid-grey is a coin toss for the
# branch predictor, and a wrong guess costs more than the lookup
_LIMIT = np.array([_dc_sample(v) for v in range(1024)], np.uint8)


@njit(nogil=True, boundscheck=False, inline="always")
def _dc_index(dc, q):
    """The DC coefficient held in 16 bits, (dc * q + 4) >> 3 as libjpeg-turbo's 1x1 IDCT has it,
    as an index into _LIMIT."""
    return (((((dc + 32768) & 65535) - 32768) * q + 4) >> 3) & 1023


@njit(cache=True, nogil=True, boundscheck=False)
def dc_planes(d, mcus_x, mcus_y, restart, blocks, layout, dc_table,
              ac_table, dc_quant, sym, length, maxcode, offset, values, run, planes):
    """Each component's 1/8-scale plane, [component, row, column]: a block is one pixel, its DC
    (jidctred.c's 1x1 IDCT). `d`: the entropy-coded data as the file has it, from just after
    the SOS header to the end of the file. Returns 0, or -1 for damaged data (an impossible
    code, data that ends early, restart markers missing, misplaced or out of sequence)."""
    end = d.shape[0]
    p, cnt, buf, fake, markers = 0, 0, uint64(0), 0, 0
    pred = np.zeros(3, np.int64)
    per = blocks.shape[0]
    width = planes.shape[2]
    flat = planes.reshape(-1)
    # per block of an MCU: where its pixel goes from the MCU's corner, its tables, its quantiser
    place = np.zeros(per, np.int64)
    dc_at = np.zeros(per, np.int64)
    ac_at = np.zeros(per, np.int64)
    quant = np.zeros(per, np.int64)
    seen = np.zeros(3, np.int64)
    for b in range(per):
        c = blocks[b]
        place[b] = c * planes.shape[1] * width + (seen[c] // layout[c, 0]) * width + seen[c] % layout[c, 0]
        dc_at[b], ac_at[b], quant[b] = dc_table[c] << LOOK, ac_table[c] << LOOK, dc_quant[c]
        seen[c] += 1
    corner = np.zeros(3, np.int64)  # each component's pixel of the MCU's top left block
    mx = my = 0
    left = restart  # MCUs until the next restart marker
    for m in range(mcus_x * mcus_y):
        if restart:
            if left == 0:
                p = _restart_marker(d, end, p, markers)
                if p < 0:
                    return -1
                cnt, buf, fake, markers, left = 0, uint64(0), 0, markers + 1, restart
                pred[:] = 0
            left -= 1
        for c in range(layout.shape[0]):
            corner[c] = my * layout[c, 1] * width + mx * layout[c, 0]
        for b in range(per):
            c = blocks[b]
            p, buf, cnt, fake = _refill(d, end, p, buf, cnt, fake)
            e = np.int64(run[dc_at[b] + np.int64(buf >> _SH)])
            if e:  # the usual case: the code and its extra bits at once, the difference ready
                taken = e & 31
                buf <<= uint64(taken)
                cnt -= taken
                pred[c] += e >> 5
            else:
                n, s = _code(buf, dc_table[c], sym, length, maxcode, offset, values)
                if not n:
                    return -1
                buf <<= uint64(n)
                cnt -= n
                if s:
                    v = np.int64(buf >> uint64(64 - s))
                    buf <<= uint64(s)
                    cnt -= s
                    pred[c] += v if v >= (1 << (s - 1)) else v - (1 << s) + 1
            flat[place[b] + corner[c]] = _LIMIT[_dc_index(pred[c], quant[b])]
            t = ac_table[c]
            k = 1
            while True:
                p, buf, cnt, fake = _refill(d, end, p, buf, cnt, fake)
                e = np.int64(run[ac_at[b] + np.int64(buf >> _SH)])
                taken = e & 31
                if taken:  # the usual case: several codes and their extra bits at once
                    moved = (e >> 5) & 127
                    if e & 4096:
                        if k + moved < 64:
                            buf <<= uint64(taken)
                            cnt -= taken
                            break
                    elif k + moved <= 64:
                        buf <<= uint64(taken)
                        cnt -= taken
                        k += moved
                        if k >= 64:
                            break
                        continue
                n, s = _code(buf, t, sym, length, maxcode, offset, values)
                if not n:
                    return -1
                buf <<= uint64(n)
                cnt -= n
                r, s = s >> 4, s & 15
                if s:
                    p, buf, cnt, fake = _refill(d, end, p, buf, cnt, fake)
                    buf <<= uint64(s)
                    cnt -= s
                    k += r + 1
                elif r == 15:
                    k += 16
                else:
                    break
                if k > 64:
                    return -1
                if k == 64:
                    break
            if cnt < fake:
                return -1  # read past the data: the file ends early, or a marker is misplaced
        mx += 1
        if mx == mcus_x:
            mx, my = 0, my + 1
    return 0


@njit(nogil=True, boundscheck=False, inline="always")
def _widened(planes, c, y, layout, cols, minus, out):
    """Component c's plane row for output row y as int32, less `minus`; a subsampled one
    with each pixel copied across the output pixels it covers (`cols[c]`: whose each is)."""
    row = planes[c, y // layout[c, 3]]
    if layout[c, 2] == 1:
        for x in range(out.shape[0]):
            out[x] = np.int32(row[x]) - minus
    elif layout[c, 2] == 2:
        for x in range(out.shape[0]):
            out[x] = np.int32(row[x >> 1]) - minus
    else:
        at = cols[c]
        for x in range(out.shape[0]):
            out[x] = np.int32(row[at[x]]) - minus


@njit(cache=True, nogil=True, boundscheck=False)
def rgb(planes, layout, out):
    """The planes, subsampled ones replicated, YCbCr converted to RGB (jdcolor.c's integer
    arithmetic) into `out` [height, width, 3]. A row at a time, in plain loops over int32
    rows that the compiler vectorises, then interleaved: ~2.5x faster than pixel by pixel."""
    height, width = out.shape[0], out.shape[1]
    cols = np.empty((3, width), np.int64)
    for c in range(3):
        for x in range(width):
            cols[c, x] = x // layout[c, 2]
    yy = np.empty(width, np.int32)
    cb = np.empty(width, np.int32)
    cr = np.empty(width, np.int32)
    r = np.empty(width, np.uint8)
    g = np.empty(width, np.uint8)
    b = np.empty(width, np.uint8)
    for y in range(height):
        _widened(planes, 0, y, layout, cols, np.int32(0), yy)
        _widened(planes, 1, y, layout, cols, np.int32(128), cb)
        _widened(planes, 2, y, layout, cols, np.int32(128), cr)
        for x in range(width):
            v = yy[x] + ((np.int32(91881) * cr[x] + np.int32(32768)) >> 16)
            r[x] = min(max(v, 0), 255)
            v = yy[x] + ((np.int32(-22554) * cb[x] - np.int32(46802) * cr[x] + np.int32(32768)) >> 16)
            g[x] = min(max(v, 0), 255)
            v = yy[x] + ((np.int32(116130) * cb[x] + np.int32(32768)) >> 16)
            b[x] = min(max(v, 0), 255)
        o = out[y]
        for x in range(width):
            o[x, 0] = r[x]
            o[x, 1] = g[x]
            o[x, 2] = b[x]
