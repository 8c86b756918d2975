"""The compiled loops of jpeg_dc (numba, nopython, GIL released): unstuffing the entropy-coded
data, reading every block's DC coefficient into 1/8-scale planes (jidctred.c's 1x1 IDCT), and
turning those into RGB (chroma copied to the pixels it covers, jdcolor.c's integer YCbCr to RGB).

numba compiles them at their first call in a process, or loads them from its cache (seconds the
first time, ~0.4 s after). Every read is bounds-checked by hand: the data is padded with more
zeros than one block can read, the decoder checks after each block that it has not run past
the data, a code that no table holds stops it, and the tables hold no symbol an 8-bit JPEG
cannot have (jpeg_dc_plan), so damaged data ends in an error code, never outside the arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

LOOK = 12
_SH = uint64(64 - LOOK)
PAD = 2048  # zero bytes after the data: more than one block can read past its end


@njit(cache=True, nogil=True, boundscheck=False)
def unstuff(seg, ff, out, restarts):
    """Copy the entropy-coded data without its stuffed zero bytes (`ff`: where seg's 0xFF bytes
    are); note where each restart marker's interval starts. Returns (bytes, restart markers
    seen), or (-1, 0) for more restart markers than the photo can have or one out of sequence
    (libjpeg would resynchronise: Pillow decodes those)."""
    n, i, j, nr = seg.shape[0], 0, 0, 0
    for f in ff:
        if f < i:
            continue  # the second of two 0xFF bytes, already taken
        out[j:j + f - i] = seg[i:f]
        j += f - i
        i = f
        if i + 1 >= n:
            break
        nxt = seg[i + 1]
        if nxt == 0:
            out[j] = 0xFF
            j += 1
            i += 2
        elif nxt == 0xFF:  # fill byte
            i += 1
        elif 0xD0 <= nxt <= 0xD7:
            if nr >= restarts.shape[0] or nxt != 0xD0 + (nr & 7):
                return -1, 0  # more markers than intervals, or one out of sequence
            restarts[nr] = j
            nr += 1
            i += 2
        else:  # EOI, or whatever ends the scan
            return j, nr
    out[j:j + n - i] = seg[i:n]
    return j + n - i, nr


@njit(nogil=True, boundscheck=False, inline="always")
def _refill(d, p, buf, cnt):
    if cnt > 32:
        return p, buf, cnt
    w = (uint64(d[p]) << uint64(24)) | (uint64(d[p + 1]) << uint64(16)) \
        | (uint64(d[p + 2]) << uint64(8)) | uint64(d[p + 3])
    return p + 4, buf | (w << uint64(32 - cnt)), cnt + 32


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


@njit(nogil=True, boundscheck=False, inline="always")
def _dc_sample(dc, q):
    """jidctred.c's 1x1 IDCT as libjpeg-turbo computes it: the coefficient held in 16 bits,
    (dc * q + 4) >> 3 looked up in its range-limit table, which wraps far-out values (only a
    damaged or crafted file has them) instead of clamping them."""
    v = (((((dc + 32768) & 65535) - 32768) * q + 4) >> 3) & 1023
    if v < 128:
        return v + 128
    if v < 512:
        return 255
    if v < 896:
        return 0
    return v - 896


@njit(nogil=True, boundscheck=False, inline="always")
def _clamp(v):
    return 0 if v < 0 else (255 if v > 255 else v)


@njit(cache=True, nogil=True, boundscheck=False)
def dc_planes(d, size, mcus_x, mcus_y, restart, restarts, nrestarts, blocks, layout, dc_table,
              ac_table, dc_quant, sym, length, maxcode, offset, values, run, planes):
    """Each component's 1/8-scale plane, [component, row, column]: a block is one pixel, its DC
    (jidctred.c's 1x1 IDCT). `d` holds `size` bytes of unstuffed data and at least PAD zero
    bytes after them. Returns 0, or -1 for damaged data (an impossible code, data that ends
    early, restart markers that do not match)."""
    if restart and nrestarts != (mcus_x * mcus_y - 1) // restart:
        return -1  # a restart marker missing (or the scan cut short)
    p, cnt, buf = 0, 0, uint64(0)
    pred = np.zeros(3, np.int64)
    per = blocks.shape[0]
    down = np.zeros(per, np.int64)  # each block's place in its MCU, in its component's plane
    across = np.zeros(per, np.int64)
    seen = np.zeros(3, np.int64)
    for b in range(per):
        c = blocks[b]
        down[b] = seen[c] // layout[c, 0]
        across[b] = seen[c] % layout[c, 0]
        seen[c] += 1
    mx = my = 0
    for m in range(mcus_x * mcus_y):
        if restart and m and m % restart == 0:
            p, cnt, buf = restarts[m // restart - 1], 0, uint64(0)
            pred[:] = 0
        for b in range(per):
            c = blocks[b]
            p, buf, cnt = _refill(d, p, buf, cnt)
            t = dc_table[c]
            n, s = _code(buf, t, sym, length, maxcode, offset, values)
            if not n:
                return -1
            buf <<= uint64(n)
            cnt -= n
            if s:
                v = np.int64(buf >> uint64(64 - s))
                buf <<= uint64(s)
                cnt -= s
                pred[c] += v if v >= (1 << (s - 1)) else v - (1 << s) + 1
            t = ac_table[c]
            y = my * layout[c, 1] + down[b]
            x = mx * layout[c, 0] + across[b]
            planes[c, y, x] = _dc_sample(pred[c], dc_quant[c])
            k = 1
            while True:
                p, buf, cnt = _refill(d, p, buf, cnt)
                at = (t << LOOK) + np.int64(buf >> _SH)
                e = np.int64(run[at])
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
                    p, buf, cnt = _refill(d, p, buf, cnt)
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
            if p > size + 8:
                return -1  # read past the data: the file ends early
        mx += 1
        if mx == mcus_x:
            mx, my = 0, my + 1
    if p - cnt // 8 > size + 2:
        return -1
    return 0


@njit(cache=True, nogil=True, boundscheck=False)
def rgb(planes, layout, out):
    """The planes, subsampled ones replicated, YCbCr converted to RGB (jdcolor.c's integer
    arithmetic) into `out` [height, width, 3]."""
    height, width = out.shape[0], out.shape[1]
    cols = np.empty((3, width), np.int64)
    for c in range(3):
        for x in range(width):
            cols[c, x] = x // layout[c, 2]
    for y in range(height):
        ry, rb, rr = y // layout[0, 3], y // layout[1, 3], y // layout[2, 3]
        for x in range(width):
            yy = np.int64(planes[0, ry, cols[0, x]])
            cb = np.int64(planes[1, rb, cols[1, x]]) - 128
            cr = np.int64(planes[2, rr, cols[2, x]]) - 128
            r = yy + ((91881 * cr + 32768) >> 16)
            g = yy + ((-22554 * cb - 46802 * cr + 32768) >> 16)
            b = yy + ((116130 * cb + 32768) >> 16)
            out[y, x, 0] = _clamp(r)
            out[y, x, 1] = _clamp(g)
            out[y, x, 2] = _clamp(b)
