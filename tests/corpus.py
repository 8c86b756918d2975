"""Build real test photos at test time, and read them back with independent tools.

Plain functions, no pytest: conftest.py wraps them in fixtures. Metadata is put on Pillow
images by the exiftool command line (not emowatch's wrapper), so what the tests compare
against never went through the code under test. Readers here (exiftool -j, exiv2, a tiny
segment/chunk walker) are independent of emowatch's own parsers.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from emowatch.tags import EmotionTags

# A Lightroom-style packet: simple properties as attributes, arrays as elements, a struct
# array, a language alternative, other keywords in both lists, develop settings.
LIGHTROOM_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0-c000 1.000000, 0000/00/00-00:00:00        ">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
   xmp:Rating="3"
   xmp:Label="Red"
   xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.0 (Macintosh)"
   photoshop:City="Paris"
   crs:Version="16.0"
   crs:Exposure2012="+0.35"
   crs:Contrast2012="+12"
   crs:HasSettings="True">
   <dc:title>
    <rdf:Alt>
     <rdf:li xml:lang="x-default">Beach &amp; sun</rdf:li>
    </rdf:Alt>
   </dc:title>
   <dc:subject>
    <rdf:Bag>
     <rdf:li>Beach</rdf:li>
     <rdf:li>Family</rdf:li>
     <rdf:li>Places</rdf:li>{extra_subject}
    </rdf:Bag>
   </dc:subject>
   <lr:hierarchicalSubject>
    <rdf:Bag>
     <rdf:li>Places|Beach</rdf:li>{extra_hierarchical}
    </rdf:Bag>
   </lr:hierarchicalSubject>
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li
      stEvt:action="saved"
      stEvt:when="2024-05-01T10:00:00+02:00"
      stEvt:softwareAgent="Adobe Photoshop Lightroom Classic 13.0 (Macintosh)"/>
    </rdf:Seq>
   </xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
{padding}
<?xpacket end="w"?>"""


def lightroom_xmp(*, own_emotion: str | None = None, padding_lines: int = 20) -> bytes:
    """The Lightroom-style packet; `own_emotion` adds the user's own `Emotion|<word>`."""
    extra_s = extra_h = ""
    if own_emotion:
        extra_s = f"\n     <rdf:li>Emotion</rdf:li>\n     <rdf:li>{own_emotion}</rdf:li>"
        extra_h = f"\n     <rdf:li>Emotion|{own_emotion}</rdf:li>"
    padding = "\n".join([" " * 99] * padding_lines)
    return LIGHTROOM_XMP.format(extra_subject=extra_s, extra_hierarchical=extra_h,
                                padding=padding).encode("utf-8")


def exiftool(*args: str | os.PathLike) -> str:
    """The exiftool command line (for building and independent reading)."""
    out = subprocess.run(["exiftool", *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"exiftool {args}: {out.stderr}")
    return out.stdout


def pixels(h: int = 48, w: int = 64, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    noise = rng.integers(0, 40, (h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def _exif_with_makernote() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "FakeCam"  # Make
    exif[0x0110] = "Model 1"  # Model
    sub = exif.get_ifd(0x8769)
    sub[0x927C] = b"FAKEMAKER\x00\x01\x02\x03" + bytes(range(256))  # MakerNote
    sub[0x9003] = "2024:05:01 10:00:00"  # DateTimeOriginal
    sub[0x829A] = (1, 250)  # ExposureTime
    return exif.tobytes()


def _icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def jpeg_plain(path: Path) -> Path:
    pixels().save(path, quality=90)
    return path


def jpeg_full(path: Path, *, own_emotion: str | None = None) -> Path:
    """EXIF with a maker note, GPS, ICC, IPTC (keywords, digest) and Lightroom's XMP."""
    pixels(seed=1).save(path, quality=90, exif=_exif_with_makernote(), icc_profile=_icc())
    packet = path.with_suffix(".src.xmp")
    packet.write_bytes(lightroom_xmp(own_emotion=own_emotion))
    exiftool("-q", "-overwrite_original", "-GPSLatitude=48.8566", "-GPSLatitudeRef=N",
             "-GPSLongitude=2.3522", "-GPSLongitudeRef=E", "-GPSAltitude=35",
             "-IPTC:Keywords=Beach", "-IPTC:Keywords=Family", "-IPTC:Keywords=Places",
             "-IPTC:City=Paris", "-IPTC:ObjectName=Beach day", f"-XMP<={packet}", path)
    exiftool("-q", "-overwrite_original", "-Photoshop:IPTCDigest=new", path)
    packet.unlink()
    return path


def jpeg_exif_only(path: Path) -> Path:
    """EXIF (maker note included) but no IPTC and no XMP."""
    pixels(seed=2).save(path, quality=90, exif=_exif_with_makernote())
    return path


def jpeg_large(path: Path, megapixels: int = 24) -> Path:
    """A big JPEG, made quickly: smooth gradients plus a little noise (~6-10 MB at 24 MP)."""
    w = int((megapixels * 1e6 * 3 / 2) ** 0.5)
    h = megapixels * 1_000_000 // w
    rng = np.random.default_rng(3)
    row = np.linspace(0, 255, w, dtype=np.float32)
    col = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = row
    img[..., 1] = col
    img[..., 2] = rng.integers(0, 255, (h, w), dtype=np.uint8)
    Image.fromarray(img).save(path, quality=85, exif=_exif_with_makernote())
    return path


def png_plain(path: Path) -> Path:
    pixels(seed=4).save(path)
    return path


def png_with_xmp(path: Path) -> Path:
    """A PNG with text chunks, ICC and Lightroom's XMP (written by exiftool)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Beach")
    info.add_text("Comment", "long text " * 50, zip=True)
    pixels(seed=5).save(path, pnginfo=info, icc_profile=_icc())
    packet = path.with_suffix(".src.xmp")
    packet.write_bytes(lightroom_xmp())
    exiftool("-q", "-overwrite_original", f"-XMP<={packet}", path)
    packet.unlink()
    return path


def png_iptc(path: Path) -> Path:
    """A PNG with IPTC keywords (exiftool's raw-profile zTXt) matching its XMP."""
    pixels(seed=10).save(path)
    exiftool("-q", "-overwrite_original", "-IPTC:Keywords=Beach", "-XMP-dc:Subject=Beach", path)
    return path


def tiff(path: Path) -> Path:
    pixels(seed=6).save(path, compression="tiff_lzw")
    exiftool("-q", "-overwrite_original", "-Make=FakeCam", "-Model=Model 1",
             "-DateTimeOriginal=2024:05:01 10:00:00", "-GPSLatitude=10", "-GPSLatitudeRef=S",
             "-IPTC:Keywords=Studio", "-XMP-dc:Subject=Studio", path)
    return path


def webp(path: Path) -> Path:
    pixels(seed=7).save(path, lossless=True)
    return path


def heif(path: Path) -> Path:
    import pillow_heif

    pillow_heif.register_heif_opener()
    pixels(seed=8).save(path, quality=90)
    return path


def avif(path: Path) -> Path:
    """AVIF (AV1 in a HEIF container), through Pillow's own AVIF plugin: the pillow-heif wheel
    carries no AV1 encoder."""
    pixels(seed=10).save(path, "AVIF", quality=90)
    return path


def dng(path: Path) -> Path:
    """A small DNG (CFA data, DNG tags) made with tifffile."""
    import tifffile

    rng = np.random.default_rng(9)
    cfa = rng.integers(0, 4095, (32, 48), dtype=np.uint16)
    tifffile.imwrite(
        path, cfa, photometric="minisblack",
        extratags=[
            (271, "s", 0, "FakeCam", True),  # Make
            (272, "s", 0, "DNG Model", True),  # Model
            (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
            (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
            (50708, "s", 0, "FakeCam DNG Model", True),  # UniqueCameraModel
        ],
    )
    return path


def fake_raw(path: Path) -> Path:
    """Bytes a camera raw would start with (a CR2's TIFF header and 'CR' signature)."""
    path.write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(2000))
    return path


def lightroom_sidecar(path: Path) -> Path:
    """A sidecar as Lightroom writes it: no wrapper, xmpmeta at the top."""
    text = lightroom_xmp().decode("utf-8")
    body = text[text.index("<x:xmpmeta"): text.index("</x:xmpmeta>") + len("</x:xmpmeta>")]
    path.write_text(body + "\n", encoding="utf-8")
    return path


BUILDERS = {
    "plain.jpg": jpeg_plain,
    "full.jpg": jpeg_full,
    "exif.jpg": jpeg_exif_only,
    "plain.png": png_plain,
    "xmp.png": png_with_xmp,
    "iptc.png": png_iptc,
    "photo.tif": tiff,
    "photo.webp": webp,
    "photo.heic": heif,
    "photo.avif": avif,
    "photo.dng": dng,
}


def build(directory: Path) -> dict[str, Path]:
    """Every corpus file, built once into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return {name: make(directory / name) for name, make in BUILDERS.items()}


def copy(src: Path, directory: Path, name: str | None = None) -> Path:
    dst = directory / (name or src.name)
    shutil.copyfile(src, dst)
    return dst


# -- independent readers ------------------------------------------------------------------


def tags_of(path: Path) -> dict:
    """Every tag exiftool reports (`-j -G1 -a`), numbers kept as exiftool printed them."""
    return json.loads(exiftool("-j", "-G1", "-a", path), parse_int=str, parse_float=str)[0]


def binary(path: Path, tag: str) -> bytes:
    out = subprocess.run(["exiftool", "-b", f"-{tag}", str(path)], capture_output=True)
    return out.stdout


def exiv2_xmp(path: Path) -> dict[str, str]:
    """XMP as exiv2 reads it: key -> value (arrays joined by ', ')."""
    out = subprocess.run(["exiv2", "-PXkv", str(path)], capture_output=True, text=True)
    result = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        result[key] = value.strip()
    return result


def as_list(value) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def jpeg_image_data(data: bytes) -> bytes:
    """Everything from the first SOS marker to the end (walked independently)."""
    pos = 2
    while True:
        while data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1
        marker = data[pos + 1]
        if marker == 0xDA:
            return data[pos:]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length


def jpeg_segments(data: bytes) -> list[bytes]:
    """The marker segments before the first SOS, raw."""
    out, pos = [], 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append(data[pos : pos + 2 + length])
        pos += 2 + length
    return out


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, bool]]:
    """(type, raw chunk, crc ok) for every chunk."""
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        out.append((ctype, data[pos : pos + 12 + length], zlib.crc32(ctype + body) == crc))
        pos += 12 + length
    return out


def decoded(path: Path) -> bytes:
    """Decoded pixels of every frame (tifffile for DNG, Pillow otherwise)."""
    if path.suffix.lower() == ".dng":
        import tifffile

        return tifffile.imread(path).tobytes()
    if path.suffix.lower() == ".heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(path) as im:
        return im.tobytes()


def emotion(label: str = "positive", confidence: float = 0.9123, *, uncertain: bool = False,
            model: str = "tiny@1", tagged_at: str = "2025-01-02T03:04:05+00:00") -> EmotionTags:
    """An EmotionTags as the tag pipeline would make it."""
    labels = ("positive", "negative", "other")
    rest = (1.0 - confidence) / 2
    probs = {name: (confidence if name == label else rest) for name in labels}
    return EmotionTags(label=label, keyword=None if uncertain else label.title(), parent="Emotion",
                       confidence=confidence, probabilities=probs, model=model,
                       tagged_at=tagged_at)


def same_result(a: EmotionTags | None, b: EmotionTags) -> bool:
    """Whether `a` (read back) is `b` as written: numbers written to 4 decimals."""
    return (a is not None and (a.label, a.keyword, a.parent, a.model) ==
            (b.label, b.keyword, b.parent, b.model)
            and abs(a.confidence - b.confidence) <= 1e-4
            and a.probabilities.keys() == b.probabilities.keys()
            and all(abs(a.probabilities[k] - b.probabilities[k]) <= 1e-4 for k in b.probabilities))

