"""Checks on a rewritten file before it may replace the original.

For formats exiftool writes, "image data unchanged" is checked on decoded pixels (every frame),
and "nothing else changed" on exiftool's own tag listing, minus the tags emowatch owns and
those that move legitimately when a block is rewritten (offsets, file-system facts).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Mapping

from ..errors import MetadataError
from ..formats import Format

# tags emowatch writes (exiftool -G1 names) and tags that follow from them
OWNED = re.compile(
    r"^(XMP-dc:Subject|XMP-lr:HierarchicalSubject|XMP-emowatch:.*|IPTC:Keywords|IFD0:XPKeywords"
    r"|Photoshop:IPTCDigest|File:CurrentIPTCDigest)$"
)
# facts about the file rather than its metadata: offsets and sizes that move when a block
# grows (HEIF keeps XMP in its media data), WebP's container flags (a simple WebP becomes an
# extended one to hold XMP), exiftool's wording of a warning about unknown maker notes (their
# bytes are kept; the tests check them), and the name of the program that last wrote an XMP
# packet (x:xmptk), which goes with a packet emowatch created when untag removes it
VOLATILE = re.compile(
    r"^(SourceFile|System:.*|ExifTool:ExifToolVersion|ExifTool:Warning|File:FileSize"
    r"|QuickTime:MediaDataSize|RIFF:WebP_Flags|XMP-x:XMPToolkit"
    r"|[^:]+:[A-Za-z]*(Offset|Offsets|Start|ByteCounts?))$"
)
SAME = {("File:FileType", "Extended WEBP"): "WEBP"}


def tag_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Tags (other than owned and volatile ones) that differ, for an error message."""
    keys = {k for k in (*before, *after) if not OWNED.match(k) and not VOLATILE.match(k)}
    return sorted(k for k in keys if _norm(k, before.get(k)) != _norm(k, after.get(k)))


def _norm(key: str, value: Any) -> Any:
    return SAME.get((key, value), value) if isinstance(value, str) else value


def pixel_digest(path: Path, fmt: Format) -> str | None:
    """A digest of the decoded pixels of every frame; None when no decoder here can read it."""
    if fmt is Format.DNG:
        digest = _rawpy_digest(path)
        if digest is not None:
            return digest
    return _pillow_digest(path, fmt)


def check_pixels(before: str | None, path: Path, fmt: Format, original: Path) -> None:
    if before is None:
        return  # nothing here decodes it: exiftool's own guarantee has to do
    if pixel_digest(path, fmt) != before:
        raise MetadataError("image data would change; nothing was written", original)


def _pillow_digest(path: Path, fmt: Format) -> str | None:
    from PIL import Image, ImageSequence

    if fmt is Format.HEIF:
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:
            return None
    h = hashlib.sha256()
    try:
        with Image.open(path) as im:
            for frame in ImageSequence.Iterator(im):
                h.update(f"{frame.mode}{frame.size}".encode())
                h.update(frame.tobytes())
    except Exception:  # any decoder failure means "cannot check here", never a crash
        return None
    return h.hexdigest()


def _rawpy_digest(path: Path) -> str | None:
    try:
        import rawpy

        with rawpy.imread(str(path)) as raw:
            return hashlib.sha256(raw.raw_image.tobytes()).hexdigest()
    except Exception:
        return None
