"""What kind of photo a file is, judged by its content first and its extension second.

Content decides the container (a PNG named .jpg is a PNG; a text file named .jpg is not a photo).
TIFF-based files share one magic number, so among those the extension tells TIFF, DNG and the
TIFF-based raw formats apart (a CR2 is also recognised by its own signature).
"""

from __future__ import annotations

import enum
import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import DecodeError, UnsupportedFormatError


# bytes per value of each TIFF/EXIF field type (1 BYTE .. 13 IFD), for finding where a value lies
TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


class Format(enum.Enum):
    JPEG = "jpeg"
    PNG = "png"
    TIFF = "tiff"
    WEBP = "webp"
    HEIF = "heif"
    DNG = "dng"
    RAW = "raw"  # camera raw: decoded through rawpy, never written, tagged by an XMP sidecar

    @property
    def embeds_xmp_natively(self) -> bool:
        """Formats whose XMP emowatch splices in itself (no exiftool needed)."""
        return self in (Format.JPEG, Format.PNG)

    @property
    def writable(self) -> bool:
        """Whether emowatch ever rewrites files of this format (raw files: never)."""
        return self is not Format.RAW


RAW_EXTENSIONS = frozenset({
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".rwl",
    ".srw", ".pef", ".3fr", ".fff", ".iiq", ".mef", ".mos", ".erf", ".kdc", ".dcr", ".mrw", ".x3f", ".gpr",
})
TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})
PHOTO_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".hif", ".avif", ".dng"}
) | RAW_EXTENSIONS

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}


READS = "JPEG, PNG, TIFF, WebP, HEIC/HEIF/AVIF, DNG and camera raw"
# images that are not photos emowatch reads: named in the error, so the reason is plain
_OTHER_IMAGES = (
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"8BPS", "a Photoshop document (PSD)"),
    (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"), (b"\x00\x00\x01\x00", "an icon (ICO)"),
    (b"<svg", "SVG"), (b"%PDF", "PDF"),
)


def sniff_bytes(head: bytes, suffix: str = "") -> Format | None:
    """The format of a file whose first bytes are `head` (at least 16), or None."""
    suffix = suffix.lower()
    if head[:3] == b"\xff\xd8\xff":
        return Format.JPEG
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return Format.PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Format.WEBP
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"crx ":
            return Format.RAW  # Canon CR3
        if brand in _HEIF_BRANDS:
            return Format.HEIF
        return None
    if head[:15] == b"FUJIFILMCCD-RAW":
        return Format.RAW
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR", b"IIU\x00"):
        return Format.RAW  # Olympus ORF, Panasonic RW2
    if head[:4] in _TIFF_MAGIC + _BIGTIFF_MAGIC:
        if suffix == ".dng":
            return Format.DNG
        if suffix in TIFF_EXTENSIONS and head[8:10] != b"CR":
            return Format.TIFF
        # most camera raw formats are TIFF inside: under any other name, treat it as raw, which
        # is never written (an .xmp sidecar instead), rather than risk rewriting a raw file
        return Format.RAW
    return None


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_BIGTIFF_MAGIC = (b"II+\x00", b"MM\x00+")  # 64-bit offsets, for files over 4 GB


def is_bigtiff(path: Path | str) -> bool:
    """A BigTIFF, which exiftool reads but cannot write (so it gets an .xmp sidecar)."""
    try:
        with open_regular(path) as f:
            return f.read(4) in _BIGTIFF_MAGIC
    except OSError:
        return False


class NotRegularFile(OSError):
    """A path that names a folder, a named pipe, a device or a socket, not a file."""


def open_regular(path: Path | str) -> BinaryIO:
    """The file at `path`, opened for reading without blocking (a named pipe named like a
    photo would otherwise wait for a writer forever, and the caller with it). NotRegularFile
    for anything but a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "is a directory" if stat.S_ISDIR(mode) else f"is not a regular file (a {_kind(mode)})"
            raise NotRegularFile(errno.EINVAL, what, str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sniff(path: Path) -> Format:
    """The format of the photo at `path`; DecodeError if it is empty, unreadable or not a photo."""
    try:
        with open_regular(path) as f:
            head = f.read(32)
    except FileNotFoundError:
        raise DecodeError("file not found", path) from None
    except NotRegularFile as e:
        raise DecodeError(e.strerror + ("" if e.strerror == "is a directory" else ", not a photo"), path) from None
    except OSError as e:
        raise DecodeError(f"cannot read: {e.strerror or e}", path) from None
    if not head:
        raise DecodeError("file is empty", path)
    fmt = sniff_bytes(head, Path(path).suffix)
    if fmt is None:
        other = next((name for magic, name in _OTHER_IMAGES if head.startswith(magic)), None)
        if head[:2] == b"BM" and head[6:10] == bytes(4):  # BMP: its reserved fields are zero
            other = "BMP"
        if other is not None:
            raise UnsupportedFormatError(f"{other} is not a format emowatch reads ({READS})", path)
        raise UnsupportedFormatError("not a photo emowatch can read (unknown content)", path)
    return fmt


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def written_as(path: Path, content: Format | None = None) -> Format:
    """The format whose rules govern writing `path`: its content's (`content`, when already
    sniffed), except that a file named as camera raw (.CR2, .NEF, ...) is written like one, by
    an XMP sidecar, whatever it holds: raw converters read that file's sidecar, and a raw file
    is never rewritten."""
    fmt = content or sniff(path)
    return Format.RAW if Path(path).suffix.lower() in RAW_EXTENSIONS else fmt


def looks_like_photo(path: Path) -> bool:
    """Cheap test for listing folders: a known extension, or photo content under any name."""
    if Path(path).suffix.lower() in PHOTO_EXTENSIONS:
        return True
    try:
        sniff(path)
    except DecodeError:
        return False
    return True
