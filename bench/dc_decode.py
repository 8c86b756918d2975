"""Would a JPEG decoder that reads only what a 1/8-scale decode needs beat libjpeg-turbo?

    pip install numba   # not an emowatch dependency: this script alone uses it
    python bench/dc_decode.py [--photos 12] [--runs 3]

At 1/8 scale an 8x8 block becomes one pixel, its DC coefficient, so a decoder could skip the
63 AC coefficients of every block. It still has to read them: Huffman codes have no length
prefix, the next block starts where the last code ends. libjpeg-turbo already skips them
(jdhuff.c, decode_mcu_fast with ac_needed false), one table lookup per code plus a second step
for its extra bits. The decoder here does what a decoder written for this alone can do more:
one lookup gives a code's length and its extra bits' together (12-bit tables), and the byte
stuffing (FF 00) is removed beforehand, so the inner loop never looks for it.

Measured on the 24 MP JPEGs bench/tag.py makes (baseline, 4:2:0, quality 90, ~3.5 MB): the
CPU time of Pillow's draft decoding (RGB 750 x 500, what `emowatch tag` does) and of this
decoder's parts (tables, unstuffing, the entropy pass giving every block's DC), one thread,
median of `--photos` x `--runs`; and a check that its luma matches Pillow's.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from machine import machine

LOOK = 12  # bits a table lookup sees


def parse(data: bytes) -> dict:
    """Frame, Huffman and quantisation tables and the entropy data's start of a baseline JPEG
    with one interleaved scan and no restart markers (what the bench's photos are)."""
    i, dht, q = 2, {}, {}
    while True:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        seg = data[i + 4:i + 2 + length]
        if marker in (0xC2, 0xC3, 0xC9, 0xCA, 0xCB) or marker == 0xDD:
            raise SystemExit("only baseline JPEGs without restart markers are measured here")
        if marker in (0xC0, 0xC1):
            h, w = int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big")
            comps = [(seg[7 + 3 * k] >> 4, seg[7 + 3 * k] & 15, seg[8 + 3 * k]) for k in range(seg[5])]
        elif marker == 0xC4:
            j = 0
            while j < len(seg):
                bits = list(seg[j + 1:j + 17])
                dht[(seg[j] >> 4, seg[j] & 15)] = (bits, list(seg[j + 17:j + 17 + sum(bits)]))
                j += 17 + sum(bits)
        elif marker == 0xDB:
            j = 0
            while j < len(seg):
                wide = seg[j] >> 4
                q[seg[j] & 15] = np.frombuffer(seg[j + 1:j + 129], ">u2") if wide else np.frombuffer(seg[j + 1:j + 65], np.uint8)
                j += 129 if wide else 65
        elif marker == 0xDA:
            scan = [(seg[2 + 2 * k] >> 4, seg[2 + 2 * k] & 15) for k in range(seg[0])]
            return dict(size=(w, h), comps=comps, q=q, dht=dht, scan=scan, start=i + 2 + length)
        i += 2 + length


def tables(bits: list[int], values: list[int]) -> tuple[np.ndarray, ...]:
    """sym, length (0: longer than LOOK), maxcode and value offset per length (for longer
    codes), values, and the AC skip table: code + extra bits in one entry (low 5 bits: bits to
    drop, the rest: how far k moves; -1: the extra bits do not fit, 0: a longer code)."""
    sym, ln = np.zeros(1 << LOOK, np.int32), np.zeros(1 << LOOK, np.int32)
    maxcode, offset = np.full(18, -1, np.int64), np.zeros(18, np.int64)
    code = k = 0
    for n in range(1, 17):
        offset[n] = k - code
        for _ in range(bits[n - 1]):
            if n <= LOOK:
                lo = code << (LOOK - n)
                sym[lo:lo + (1 << (LOOK - n))], ln[lo:lo + (1 << (LOOK - n))] = values[k], n
            k, code = k + 1, code + 1
        maxcode[n] = code - 1 if bits[n - 1] else -1
        code <<= 1
    maxcode[17] = 1 << 31
    vals = np.zeros(257, np.int32)
    vals[:len(values)] = values
    s, r = sym & 15, sym >> 4
    step = np.where(s > 0, r + 1, np.where(r == 15, 16, 64))
    fits = (ln > 0) & (ln + s <= LOOK)
    skip = np.where(fits, (ln + s) | (step << 5), np.where(ln > 0, -1, 0)).astype(np.int32)
    return sym, ln, maxcode, offset, vals, skip


def compile_decoder():
    from numba import njit

    @njit(boundscheck=False, nogil=True)
    def unstuff(seg, out):
        n, i, j = seg.shape[0], 0, 0
        while i < n:
            v = seg[i]
            out[j] = v
            j += 1
            if v == 0xFF:
                if i + 1 < n and seg[i + 1] == 0:
                    i += 2
                    continue
                break  # EOI
            i += 1
        return j

    @njit(boundscheck=False, nogil=True, inline="always")
    def refill(d, p, buf, cnt):
        """At least 32 bits in the buffer: the next 4 bytes in, when 32 or fewer are left."""
        if cnt > 32:
            return p, buf, cnt
        w = (np.uint64(d[p]) << np.uint64(24)) | (np.uint64(d[p + 1]) << np.uint64(16)) \
            | (np.uint64(d[p + 2]) << np.uint64(8)) | np.uint64(d[p + 3])
        return p + 4, buf | (w << np.uint64(32 - cnt)), cnt + 32

    @njit(boundscheck=False, nogil=True)
    def longer(buf, t, maxcode, offset, vals):
        n = LOOK + 1
        code = int(buf >> np.uint64(64 - n))
        while code > maxcode[t * 18 + n]:
            n += 1
            code = int(buf >> np.uint64(64 - n))
        return n, vals[t * 257 + code + offset[t * 18 + n]]

    @njit(boundscheck=False, nogil=True)
    def dc_pass(d, mcus, comp_of, dc_tab, ac_tab, out, sym, ln, maxcode, offset, vals, skip):
        p, cnt, buf = 0, 0, np.uint64(0)
        pred = np.zeros(4, np.int64)
        per = comp_of.shape[0]
        for m in range(mcus):
            for b in range(per):
                c = comp_of[b]
                p, buf, cnt = refill(d, p, buf, cnt)
                t = dc_tab[c]
                at = t * 4096 + int(buf >> np.uint64(64 - LOOK))
                n = ln[at]
                if n:
                    s = sym[at]
                else:
                    n, s = longer(buf, t, maxcode, offset, vals)
                buf <<= np.uint64(n)
                cnt -= n
                diff = 0
                if s:
                    r = int(buf >> np.uint64(64 - s))
                    buf <<= np.uint64(s)
                    cnt -= s
                    diff = r if r >= (1 << (s - 1)) else r - (1 << s) + 1
                pred[c] += diff
                out[m * per + b] = pred[c]
                t = ac_tab[c]
                k = 1
                while k < 64:
                    p, buf, cnt = refill(d, p, buf, cnt)
                    at = t * 4096 + int(buf >> np.uint64(64 - LOOK))
                    e = skip[at]
                    if e > 0:  # the usual case: code and extra bits in one step
                        buf <<= np.uint64(e & 31)
                        cnt -= e & 31
                        k += e >> 5
                        continue
                    if e < 0:
                        n, s = ln[at], sym[at]
                    else:
                        n, s = longer(buf, t, maxcode, offset, vals)
                    buf <<= np.uint64(n)
                    cnt -= n
                    r, s = s >> 4, s & 15
                    if s:
                        p, buf, cnt = refill(d, p, buf, cnt)
                        buf <<= np.uint64(s)
                        cnt -= s
                        k += r + 1
                    elif r == 15:
                        k += 16
                    else:
                        break
        return p

    return unstuff, dc_pass


class Decoder:
    def __init__(self) -> None:
        self.unstuff, self.dc_pass = compile_decoder()

    def dc(self, data: bytes, times: dict | None = None) -> tuple[np.ndarray, dict]:
        """Every block's DC coefficient, in stream order; `times` gets each part's CPU seconds."""
        clock = time.thread_time
        t0 = clock()
        info = parse(data)
        keys = sorted(info["dht"])
        built = [tables(*info["dht"][k]) for k in keys]
        sym, ln, maxcode, offset, vals, skip = (np.concatenate([b[i] for b in built]) for i in range(6))
        comps = info["comps"]
        hmax, vmax = max(c[0] for c in comps), max(c[1] for c in comps)
        w, h = info["size"]
        mcus = -(-w // (8 * hmax)) * -(-h // (8 * vmax))
        comp_of = np.array([ci for ci, (hs, vs, _) in enumerate(comps) for _ in range(hs * vs)], np.int64)
        dc_tab = np.array([keys.index((0, td)) for td, _ in info["scan"]], np.int64)
        ac_tab = np.array([keys.index((1, ta)) for _, ta in info["scan"]], np.int64)
        t1 = clock()
        seg = np.frombuffer(data, np.uint8, offset=info["start"])
        d = np.zeros(len(seg) + 16, np.uint8)
        self.unstuff(seg, d)
        t2 = clock()
        out = np.zeros(mcus * len(comp_of), np.int64)
        self.dc_pass(d, mcus, comp_of, dc_tab, ac_tab, out, sym, ln, maxcode, offset, vals, skip)
        t3 = clock()
        if times is not None:
            for part, seconds in (("tables", t1 - t0), ("unstuffing", t2 - t1), ("entropy pass", t3 - t2)):
                times.setdefault(part, []).append(seconds)
        return out, info


def luma(dc: np.ndarray, info: dict) -> np.ndarray:
    """The luma at 1/8 scale as libjpeg computes it (DC x quantiser / 8 + 128), for 2x2 luma
    blocks per MCU (4:2:0)."""
    (hs, vs, tq), w, h = info["comps"][0], *info["size"]
    if (hs, vs) != (2, 2):
        raise SystemExit("the luma check expects 4:2:0")
    mx, my = -(-w // 16), -(-h // 16)
    y = dc.reshape(my, mx, -1)[:, :, :4].reshape(my, mx, 2, 2).transpose(0, 2, 1, 3).reshape(my * 2, mx * 2)
    return np.clip((y * int(info["q"][tq][0]) + 4) // 8 + 128, 0, 255)


def pillow_draft(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (224, 224))
    image.load()
    return image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    try:
        decoder = Decoder()
    except ImportError:
        raise SystemExit("this bench needs numba: pip install numba") from None
    from tag import make_photos

    with tempfile.TemporaryDirectory() as tmp:
        photos = [p.read_bytes() for p in make_photos(Path(tmp), args.photos, (6000, 4000), "big")]
    started = time.thread_time()
    decoder.dc(photos[0])  # numba compiles here
    compile_s = time.thread_time() - started
    pillow: list[float] = []
    parts: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for data in photos:
            start = time.thread_time()
            pillow_draft(data)
            pillow.append(time.thread_time() - start)
            decoder.dc(data, parts)
    dc, info = decoder.dc(photos[0])
    ours = luma(dc, info)
    theirs = np.asarray(pillow_draft(photos[0]).convert("YCbCr"))[:, :, 0].astype(int)
    h, w = theirs.shape
    mean_diff = float(np.abs(ours[:h, :w] - theirs).mean())

    ms = {k: statistics.median(v) * 1000 for k, v in parts.items()}
    base = statistics.median(pillow) * 1000
    mb = statistics.mean(len(p) for p in photos) / 1e6
    print(f"1/8-scale JPEG decoding — {date.today()} — {machine()}")
    print(f"command: python bench/dc_decode.py --photos {args.photos} --runs {args.runs}; "
          f"{args.photos} photos of 24 MP ({mb:.1f} MB), one thread, median of {args.runs} runs; "
          f"numba compiled in {compile_s:.1f} s (not counted)\n")
    print("| decoder | part | CPU ms/photo | vs Pillow draft |")
    print("|---|---|---|---|")
    print(f"| Pillow draft (libjpeg-turbo), RGB 750 x 500 | whole decode | {base:.1f} | 1.00x |")
    for part, value in ms.items():
        print(f"| DC only (numba) | {part} | {value:.1f} | {value / base:.2f}x |")
    total = sum(ms.values())
    print(f"| DC only (numba) | all, before colour conversion | {total:.1f} | {total / base:.2f}x |")
    print(f"\nits luma against Pillow's: mean |difference| {mean_diff:.2f} of 255 "
          "(Pillow's is the Y of its RGB, after colour conversion and back)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
