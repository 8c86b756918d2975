"""The XMP packet inside a TIFF, DNG, WebP, HEIF or AVIF, read without exiftool (by Pillow).

Only to learn whether emowatch wrote into the photo before, with exiftool: without exiftool
those values can be neither changed nor removed, and an .xmp sidecar beside them would say
something else (see targets.open_target).
"""

from __future__ import annotations

from pathlib import Path

from ..formats import Format

XML_PACKET = 700  # TIFF tag XMLPacket (XMP spec part 3, 1.1.4)


def packet_in(path: Path, fmt: Format) -> bytes | None:
    """The embedded packet, or None when there is none or Pillow cannot find it."""
    from PIL import Image

    try:
        if fmt is Format.HEIF:
            import pillow_heif

            pillow_heif.register_heif_opener()
        with Image.open(path) as im:
            found = im.tag_v2.get(XML_PACKET) if fmt in (Format.TIFF, Format.DNG) else im.info.get("xmp")
    except Exception:  # unreadable here: nothing can be said about it, as without this check
        return None
    if isinstance(found, str):
        found = found.encode("utf-8", "replace")
    elif isinstance(found, tuple):  # a tag typed as numbers: a packet only if they are bytes
        try:
            found = bytes(found)
        except (TypeError, ValueError):
            return None
    return found if isinstance(found, bytes) and found else None
