"""Large JPEGs decoded at 1/8 scale by emowatch's own entropy decoder, when numba is installed.

At 1/8 scale a JPEG's 8x8 block is one pixel, its DC coefficient, and nearly all of a decode
is entropy decoding: the 63 AC codes of every block must still be read to find where the next
block starts. The decoder in jpeg_dc_kernels reads them several at a time (one lookup for every
code and its extra bits that fit in 13 bits), where libjpeg-turbo reads a code, then its bits;
a DC code and its bits are one lookup too, and the data is read as the file stores it (its
stuffed bytes and restart markers taken in passing, not copied out first): about a third less
CPU than Pillow for the whole decode (bench/dc_decode.py).

Its pixels are libjpeg-turbo's, bit for bit, for 4:4:4, 4:2:2 and greyscale JPEGs. For 4:2:0
(most cameras' JPEGs) libjpeg-turbo makes each chroma block 2x2 pixels by a 2x2 IDCT of 25 of
its coefficients; here it is its DC, copied to the 2x2 pixels: a mean difference of about 1 in
255, which changes the label of 1-2% of photos (those the model finds nearly tied; the
README's Performance section has the figures).

`decode` returns None, and the caller decodes with Pillow, for any JPEG this does not handle
(progressive, arithmetic-coded, 12-bit, CMYK, damaged, ...) or when numba is not installed.
The compiled loops are loaded the first time they are needed (from numba's cache: ~0.4 s;
compiled, the first time ever: a few seconds), once per process. Should they ever fail, a
warning says so once and Pillow decodes from then on.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from PIL import Image

from .jpeg_dc_plan import Plan, plan

log = logging.getLogger("emowatch.runtime")
_lock = threading.Lock()
_kernels = None  # the module once loaded; False: numba is not there (or failed to load)


def kernels():
    """jpeg_dc_kernels, loaded once; None without numba."""
    global _kernels
    if _kernels is None:
        with _lock:
            if _kernels is None:
                try:
                    from . import jpeg_dc_kernels
                    _kernels = jpeg_dc_kernels
                except Exception:  # noqa: BLE001 - numba missing or broken: Pillow decodes
                    _kernels = False
    return _kernels or None


def numba_version() -> str | None:
    """numba's version when the decoder can be used, else None."""
    if kernels() is None:
        return None
    import numba

    return numba.__version__


def decode(data: bytes, size: tuple[int, int] | None = None) -> Image.Image | None:
    """The JPEG at 1/8 scale (libjpeg's size: ceil(w / 8) x ceil(h / 8)), "RGB" or "L"; None
    when it is not one this decoder reads, or numba is not installed. `size`: the photo's size
    as Pillow read it; a frame of another size (a header the two parsers read differently) is
    left to Pillow, so Pillow's checks, such as the decompression-bomb limit, hold for it."""
    layout = plan(data)
    if layout is None or (size is not None and size != (layout.width, layout.height)):
        return None
    k = kernels()
    if k is None:
        return None
    try:
        return _decode(data, layout, k)
    except MemoryError:
        return None  # Pillow's turn, and its error if it cannot either
    except Exception as e:  # noqa: BLE001 - a fault of this decoder must not fail the photo
        global _kernels
        with _lock:
            if _kernels:
                log.warning("emowatch's JPEG decoder failed (%s: %s); Pillow decodes from now on",
                            type(e).__name__, e)
            _kernels = False
        return None


def _decode(data: bytes, layout: Plan, k) -> Image.Image | None:
    shape = np.array(layout.layout, np.int64)
    planes = np.empty((len(shape), layout.mcus_y * shape[:, 1].max(), layout.mcus_x * shape[:, 0].max()), np.uint8)
    t = layout.tables
    if k.dc_planes(np.frombuffer(data, np.uint8, offset=layout.start), layout.mcus_x, layout.mcus_y,
                   layout.restart, np.array(layout.blocks, np.int64), shape, np.array(layout.dc_table, np.int64),
                   np.array(layout.ac_table, np.int64), np.array(layout.dc_quant, np.int64),
                   t.sym, t.length, t.maxcode, t.offset, t.values, t.run, planes):
        return None
    width, height = -(-layout.width // 8), -(-layout.height // 8)
    if len(shape) == 1:
        return Image.fromarray(np.ascontiguousarray(planes[0, :height, :width]))
    rgb = np.empty((height, width, 3), np.uint8)
    k.rgb(planes, shape, rgb)
    return Image.fromarray(rgb)
