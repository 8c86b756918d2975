"""The heatmap sidecar: the photo at its own aspect ratio with the paper's overlay.

Blue where a region pushed the photo toward its predicted class, red where it pushed against,
opacity proportional to |weight| (the strongest region at ALPHA_MAX), as lime's tutorial draws
it with matplotlib's RdBu map. The photo underneath is mostly desaturated: blue laid over an
orange jacket otherwise reads as grey, not as blue. A small legend names the class and the
method.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

MAX_SIDE = 1024
ALPHA_MAX = 0.7
BLUE = np.array([33, 102, 172], np.float32)  # RdBu's blue end: toward the class
RED = np.array([178, 24, 43], np.float32)  # RdBu's red end: against it
KEEP_COLOUR = 0.3  # share of the photo's own saturation kept under the overlay
UNSEEN_DIM = 0.45  # how much of the brightness is kept outside a center crop the model never saw


def render(image: Image.Image, weight_map: np.ndarray, resize: str, legend: str,
           full_strength: float = 0.0) -> Image.Image:
    """`weight_map`: float [S, S] signed weights over the model's square view of `image`.

    Opacity is |weight| relative to the strongest region, as in lime's tutorial, except that a
    weight below `full_strength` is never drawn at full opacity: on a photo where nothing
    moves the model much, the overlay stays faint instead of shouting about noise.
    """
    photo = _fit(image.convert("RGB"), MAX_SIDE)
    width, height = photo.size
    base = np.asarray(photo, dtype=np.float32)
    grey = base @ np.array([0.299, 0.587, 0.114], np.float32)
    base = KEEP_COLOUR * base + (1.0 - KEEP_COLOUR) * grey[..., None]
    box = _view_box(width, height, resize)
    left, top, right, bottom = box
    weights = np.zeros((height, width), np.float32)
    seen = np.zeros((height, width), bool)
    # bilinear: region edges blend over a few pixels instead of showing the 224 px staircase
    scaled = Image.fromarray(weight_map.astype(np.float32), mode="F").resize(
        (right - left, bottom - top), Image.Resampling.BILINEAR)
    weights[top:bottom, left:right] = np.asarray(scaled, dtype=np.float32)
    seen[top:bottom, left:right] = True
    scale = max(float(np.abs(weight_map).max()), full_strength)
    alpha = (np.clip(np.abs(weights) / scale, 0.0, 1.0) * ALPHA_MAX)[..., None] if scale > 0 else 0.0
    colour = np.where((weights > 0)[..., None], BLUE, RED)
    out = base * (1.0 - alpha) + colour * alpha
    out[~seen] *= UNSEEN_DIM
    result = Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))
    _legend(result, legend)
    return result


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    w, h = image.size
    if max(w, h) <= max_side:
        return image
    s = max_side / max(w, h)
    return image.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR,
                        reducing_gap=2.0)


def _view_box(width: int, height: int, resize: str) -> tuple[int, int, int, int]:
    """The part of the photo the model's S x S view covers (see runtime.preprocess)."""
    if resize != "center_crop":
        return 0, 0, width, height
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _legend(image: Image.Image, text: str) -> None:
    width, height = image.size
    size = max(10, round(max(width, height) / 64))
    font = _font(size)
    draw = ImageDraw.Draw(image, "RGBA")
    pad, swatch = size // 2, size
    keys = (("toward", BLUE), ("against", RED))
    line2 = [(label, colour, draw.textlength(label, font=font)) for label, colour in keys]
    text_w = draw.textlength(text, font=font)
    row2_w = sum(swatch + pad // 2 + w + pad for _, _, w in line2)
    box_w = int(max(text_w, row2_w) + 2 * pad)
    box_h = int(2 * size + 3 * pad + 2)
    x0, y0 = pad, height - box_h - pad
    if x0 + box_w > width or y0 < 0:  # a tiny photo: no room for a legend
        return
    draw.rectangle((x0, y0, x0 + box_w, y0 + box_h), fill=(0, 0, 0, 170))
    draw.text((x0 + pad, y0 + pad), text, fill=(255, 255, 255, 255), font=font)
    x, y = x0 + pad, y0 + 2 * pad + size
    for label, colour, w in line2:
        draw.rectangle((x, y + 1, x + swatch, y + swatch), fill=tuple(int(c) for c in colour) + (255,))
        x += swatch + pad // 2
        draw.text((x, y), label, fill=(255, 255, 255, 255), font=font)
        x += int(w) + pad


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()
