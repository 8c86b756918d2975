"""Real photo files made on the fly for tests (ours to use: generated or skimage's public-domain photos)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from emowatch.xmp import jpeg


def pattern(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB array (gradients plus a little noise): compresses like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 100 * np.sin(x / max(w, 1) * 6.28 + seed)
    g = 127 + 100 * np.cos(y / max(h, 1) * 6.28 + seed)
    b = 127 + 60 * np.sin((x + y) / max(w + h, 1) * 12.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def save(path: Path, array: np.ndarray | None = None, *, size=(320, 240), seed: int = 0, **kwargs) -> Path:
    """Write a photo in the format of the path's extension and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array is None:
        array = pattern(*size, seed=seed)
    image = Image.fromarray(array)
    suffix = path.suffix.lower()
    if "format" in kwargs:
        image.save(path, **kwargs)
    elif suffix in (".jpg", ".jpeg"):
        kwargs.setdefault("quality", 90)
        image.save(path, "JPEG", **kwargs)
    elif suffix in (".heic", ".heif"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        image.save(path, "HEIF", **kwargs)
    else:
        image.save(path, **kwargs)
    return path


LARGE_THUMBNAIL_FULL_HD = 0x010002  # MPF image types (CIPA DC-007)
LARGE_THUMBNAIL_VGA = 0x010001
UNDEFINED = 0x000000  # what a gain map or depth map is


def patch_mpf_entries(data: bytes, change, *, first: bool = False) -> bytes:
    """The JPEG with each further image's MPF entry (attribute, size, offset) replaced by
    `change(attribute, size, offset)` (`first`: the photo's own entry too, offset 0)."""
    at = data.index(b"\xff\xe2")
    while data[at + 4:at + 8] != b"MPF\0":
        at = data.index(b"\xff\xe2", at + 2)
    base = at + 8  # offsets count from the TIFF header after "MPF\0"
    end = "<" if data[base:base + 2] == b"II" else ">"
    (ifd,) = struct.unpack_from(end + "I", data, base + 4)
    (count,) = struct.unpack_from(end + "H", data, base + ifd)
    out = bytearray(data)
    for i in range(count):
        tag, _, n, value = struct.unpack_from(end + "HHII", data, base + ifd + 2 + 12 * i)
        if tag == 0xB002:  # MPEntry: 16 bytes per image
            for k in range(0 if first else 1, n // 16):
                entry = base + value + 16 * k
                struct.pack_into(end + "III", out, entry, *change(*struct.unpack_from(end + "III", data, entry)))
    return bytes(out)


def camera_jpeg(path: Path, array: np.ndarray, preview: np.ndarray | None = None, *,
                mp_type: int = LARGE_THUMBNAIL_FULL_HD, exif: bytes = b"", quality: int = 90) -> Path:
    """A JPEG as Sony cameras write it: the photo, then a reduced copy after its end
    marker, indexed by an APP2 MPF segment as a Large Thumbnail (`preview` None: a 1616 px wide
    copy of `array`, Sony's size)."""
    main = Image.fromarray(array)
    if preview is None:
        w, h = main.size
        shown = main.resize((1616, round(1616 * h / w)), Image.Resampling.LANCZOS)
    else:
        shown = Image.fromarray(preview)
    main.save(path, format="MPO", save_all=True, append_images=[shown], quality=quality, exif=exif)
    # Pillow labels the further images "Undefined": relabel them as the camera would
    path.write_bytes(patch_mpf_entries(path.read_bytes(),
                                       lambda attr, size, offset: ((attr & ~0xFFFFFF) | mp_type, size, offset)))
    return path


def minolta_jpeg(path: Path, *, mpf: bool, trailer: tuple[int, int] = (1616, 1080)) -> Path:
    """A Konica Minolta style JPEG: its maker note (a bare IFD, offsets counted from the EXIF
    TIFF header) holds PreviewImageStart/Length, pointing at a preview after the photo's end
    marker: an MPF-indexed one (`mpf`, as newer Sonys point into theirs) or a bare trailer
    (`trailer`: its size)."""
    exif = Image.Exif()
    exif[0x010F] = "Minolta"
    exif[0x0110] = "DiMAGE A2"
    sub = exif.get_ifd(0x8769)
    sub[0x927C] = b"\x00\x02MARK" + b"\x00" * 28  # 2 entries, filled in below
    if mpf:
        camera_jpeg(path, pattern(800, 600, seed=3), exif=exif.tobytes())
    else:
        Image.fromarray(pattern(800, 600, seed=3)).save(path, quality=90, exif=exif.tobytes())
        shown = io.BytesIO()
        Image.fromarray(pattern(*trailer, seed=4)).save(shown, format="JPEG", quality=80)
        path.write_bytes(path.read_bytes() + shown.getvalue())
    data = bytearray(path.read_bytes())
    lay = jpeg.layout(bytes(data))
    app1 = next(s for s in lay.segments if s.marker == jpeg.APP1)
    tiff = app1.body + len(jpeg.EXIF_HEADER)
    end = "<" if data[tiff:tiff + 2] == b"II" else ">"
    ifd = bytes(data).index(b"\x00\x02MARK" if end == ">" else b"\x02\x00MARK", tiff)
    preview = jpeg.image_end(bytes(data), lay)
    assert data[preview:preview + 3] == b"\xff\xd8\xff"
    struct.pack_into(end + "HHHII", data, ifd, 2, 0x0088, 4, 1, preview - tiff)  # PreviewImageStart
    struct.pack_into(end + "HHII", data, ifd + 14, 0x0089, 4, 1, len(data) - preview)  # its length
    path.write_bytes(bytes(data))
    return path
