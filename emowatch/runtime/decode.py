"""Decode any supported photo to an upright RGB Pillow image, no larger than needed.

`min_side` is the short side the caller needs (224 to classify, more to draw a heatmap): large
JPEGs are decoded at a reduced DCT scale (Pillow's draft mode) so a 24 MP photo is never fully
decoded to make a 224 px input; at 1/8 scale by emowatch's own, faster decoder (jpeg_dc) when
numba is installed and the JPEG is one it reads. A camera JPEG's embedded preview is decoded
instead of the photo when it is certainly the same picture (jpeg_preview), and raw files use
their embedded preview.
Every failure is a DecodeError that names the file and the reason.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import DecodeError
from ..formats import Format, sniff
from . import jpeg_dc, jpeg_preview

try:  # HEIC/HEIF through pillow-heif; without it those photos are reported, not fatal
    import pillow_heif

    pillow_heif.register_heif_opener()
    HAVE_HEIF = True
except ImportError:  # pragma: no cover - pillow-heif is a dependency
    HAVE_HEIF = False

# Pillow raises DecompressionBombError above 2x this; keep its default explicitly so that a
# 30000 x 30000 PNG is refused before any pixel is decoded.
MAX_PIXELS = 178_956_970
_ORIENTATION = jpeg_preview.ORIENTATION
_TRANSPOSE = {  # EXIF orientation -> what turns the stored pixels upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, EXIF orientation applied
    format: Format
    size: tuple[int, int]  # the photo's full size (upright), before any reduced decode
    from_preview: bool = False  # decoded from the JPEG's embedded camera preview (jpeg_preview)


def decode(path: Path, min_side: int = 224, fmt: Format | None = None, *,
           previews: bool = True, fast_jpeg: bool = True) -> Decoded:
    path = Path(path)
    fmt = fmt or sniff(path)
    try:
        if fmt is Format.RAW:
            return _decode_raw(path, min_side)
        if fmt is Format.DNG:
            try:
                return _decode_raw(path, min_side, fmt=Format.DNG)
            except DecodeError:
                pass  # LibRaw refuses some DNGs (e.g. linear ones); Pillow reads them as TIFF
        with open(path, "rb") as f:
            data = f.read()
        jpeg = fmt is Format.JPEG
        return _decode_pillow(data, min_side, fmt, path, previews and jpeg, fast_jpeg and jpeg)
    except DecodeError:
        raise
    except MemoryError:
        raise DecodeError("not enough memory to decode", path) from None
    except OSError as e:
        raise DecodeError(f"cannot read: {e.strerror or e}", path) from None


def _decode_pillow(data: bytes, min_side: int, fmt: Format, path: Path,
                   previews: bool = False, fast_jpeg: bool = False) -> Decoded:
    if not data:
        raise DecodeError("file is empty", path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            w, h = image.size
            if w * h > MAX_PIXELS:
                raise DecodeError(f"image is too large to decode safely ({w}x{h} pixels)", path)
            orientation = image.getexif().get(_ORIENTATION, 1)
            preview = _jpeg_preview(data, (w, h), min_side, orientation) if previews else None
            if orientation in (5, 6, 7, 8):
                w, h = h, w
            if preview is not None:
                return Decoded(_to_rgb(preview, path), fmt, (w, h), from_preview=True)
            if fast_jpeg and min(image.size[0] // min_side, image.size[1] // min_side) >= 8:
                small = jpeg_dc.decode(data, image.size)  # the 1/8 scale draft would pick; None: Pillow's
                if small is not None:
                    return Decoded(_to_rgb(_upright(small, orientation), path), fmt, (w, h))
            if fmt is Format.JPEG:
                # draft keeps both sides >= the request; ask for the short side on both axes
                image.draft("RGB", (min_side, min_side))
            image = ImageOps.exif_transpose(image)  # also loads the pixels
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DecodeError("image is too large to decode safely (decompression bomb limit)", path) from None
        except DecodeError:
            raise
        except Image.UnidentifiedImageError as e:
            if fmt in (Format.TIFF, Format.DNG):  # a TIFF header, so not "unknown content"
                raise DecodeError("a TIFF whose pixel layout cannot be decoded (such as 32-bit "
                                  "floating point), or a damaged one", path) from None
            raise DecodeError(_why(e), path) from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise DecodeError(_why(e), path) from None
    return Decoded(_to_rgb(image, path, sixteen_bit_grey=fmt is Format.PNG), fmt, (w, h))


def _jpeg_preview(data: bytes, size: tuple[int, int], min_side: int,
                  orientation: int) -> Image.Image | None:
    """The camera's embedded preview decoded and turned upright like the main image, or None
    (no usable preview, or one that fails to decode: the main image is decoded instead)."""
    preview = jpeg_preview.find(data, size, min_side, orientation)
    if preview is None:
        return None
    try:
        preview.draft("RGB", (min_side, min_side))
        preview.load()
    except Exception:  # a damaged preview is not the photo's fault: decode the photo itself
        return None
    return _upright(preview, orientation)


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """Stored pixels turned as the photo's EXIF orientation says (what exif_transpose does, for
    an image decoded apart from the photo's own Pillow object)."""
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _decode_raw(path: Path, min_side: int, fmt: Format = Format.RAW) -> Decoded:
    try:
        import rawpy
    except ImportError:  # pragma: no cover - rawpy is a dependency
        raise DecodeError("reading camera raw files needs rawpy (pip install rawpy)", path) from None
    try:
        with rawpy.imread(str(path)) as raw:
            full = (raw.sizes.width, raw.sizes.height)
            flip = raw.sizes.flip
            image = _raw_preview(raw, min_side, path, flip)
            if image is None:
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
                image = Image.fromarray(rgb)
    except DecodeError:
        raise
    except Exception as e:  # rawpy raises LibRawError subclasses and plain OSErrors
        raise DecodeError(f"cannot decode raw file: {_why(e)}", path) from None
    if flip in (5, 6):
        full = (full[1], full[0])
    return Decoded(_to_rgb(image, path), fmt, full)


def _raw_preview(raw, min_side: int, path: Path, flip: int) -> Image.Image | None:
    """The embedded preview, if it exists and is big enough; oriented like the raw."""
    import rawpy

    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        image = Image.open(io.BytesIO(thumb.data))
        image.draft("RGB", (min_side, min_side))
        has_orientation = image.getexif().get(_ORIENTATION, 1) != 1
        image = ImageOps.exif_transpose(image)
    else:
        image = Image.fromarray(np.asarray(thumb.data))
        has_orientation = False
    if min(image.size) < min_side:
        return None
    if not has_orientation:
        image = _apply_flip(image, flip)
    return image


def _apply_flip(image: Image.Image, flip: int) -> Image.Image:
    # LibRaw's flip codes: 3 = 180 degrees, 5 = 90 counter-clockwise, 6 = 90 clockwise
    if flip == 3:
        return image.transpose(Image.Transpose.ROTATE_180)
    if flip == 5:
        return image.transpose(Image.Transpose.ROTATE_90)
    if flip == 6:
        return image.transpose(Image.Transpose.ROTATE_270)
    return image


def _to_rgb(image: Image.Image, path: Path, sixteen_bit_grey: bool = False) -> Image.Image:
    """`sixteen_bit_grey`: a mode "I" image is 16-bit grey (a PNG: older Pillow opens those as
    "I"; the format is passed in because exif_transpose's copy no longer carries it)."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        arr = np.asarray(image, dtype=np.float64)
        # 16-bit grey is always scaled by its depth, never by its content: a dark photo whose
        # brightest pixel is 255 or 256 must look the same. "I" (32-bit) is 16-bit grey from a
        # PNG (older Pillow), or integers of unknown range, scaled down only when they exceed 8 bits
        if image.mode != "I" or sixteen_bit_grey or arr.max() > 255:
            arr = arr / 257.0
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        # transparent areas on white, as a photo viewer shows them
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as e:
        raise DecodeError(f"cannot convert its pixels to RGB: {_why(e)}", path) from None


def _why(e: BaseException) -> str:
    # LibRaw's errors carry bytes: b'Unsupported file format or not RAW file'
    text = (e.args[0].decode("utf-8", "replace") if len(e.args) == 1 and isinstance(e.args[0], bytes)
            else str(e)).strip()
    if isinstance(e, Image.UnidentifiedImageError) or "cannot identify image file" in text:
        return "not a readable image (unknown or corrupt content)"
    if "truncated" in text.lower():  # "image file is truncated", "Truncated File Read"
        return "file is truncated"
    return text.splitlines()[0][:200] if text else type(e).__name__

