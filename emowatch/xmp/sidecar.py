"""Which XMP sidecar file belongs to a photo.

Lightroom and Capture One name a raw file's sidecar `IMG_1234.xmp`; darktable and digiKam name
it `IMG_1234.CR2.xmp`. For a raw file emowatch merges into a darktable-style sidecar when one
exists (those applications would not read the other), else into or as `IMG_1234.xmp`.
Two raw files of the same name (IMG_1234.CR2 and IMG_1234.NEF) would share `IMG_1234.xmp`:
each gets the darktable-style name instead, except the one `IMG_1234.xmp` already speaks for
(emowatch records the raw file's name in the `IMG_1234.xmp` it writes, `emowatch:photo`).
Other formats only get a sidecar when they cannot be written (no exiftool); no application
reads `photo.xmp` for a TIFF or WebP, and `photo.xmp` may belong to a raw file of the same
name, so theirs is always `photo.tif.xmp`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import EmowatchError
from ..formats import RAW_EXTENSIONS, Format

SUFFIXES = (".xmp", ".XMP")


def choose(photo: Path, fmt: Format) -> Path:
    """The sidecar to merge into, or to create, for `photo`."""
    existing = find(photo, fmt)
    if existing is not None:
        return existing
    photo = Path(os.path.realpath(photo))
    if fmt is Format.RAW and not _has_twin(photo):
        return photo.with_suffix(".xmp")
    return photo.with_name(photo.name + ".xmp")


def find(photo: Path, fmt: Format) -> Path | None:
    """The existing sidecar of `photo` that emowatch would use, or None."""
    found = find_all(photo, fmt)
    return found[0] if found else None


def find_all(photo: Path, fmt: Format) -> list[Path]:
    """Every existing sidecar `photo` may have, the one emowatch would use first (a raw file
    can have both names: one from Lightroom, one from darktable; each is listed once, also
    where the file system ignores case)."""
    # through a symlink: the sidecar of the file behind it, then (written before 2026-11-29)
    # one beside the link
    real, given = Path(os.path.realpath(photo)), Path(os.path.abspath(photo))
    candidates = []
    for photo in dict.fromkeys((real, given)):
        candidates += [photo.with_name(photo.name + s) for s in SUFFIXES]
        if fmt is Format.RAW:
            twin = _has_twin(photo)
            candidates += [side for side in (photo.with_suffix(s) for s in SUFFIXES)
                           if not twin or _recorded_for(side, photo)]
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for c in candidates:
        if not os.path.lexists(c):
            continue
        try:
            st = os.stat(c)
            key = (st.st_dev, st.st_ino)
        except OSError:  # a symlink to nothing: listed, for the caller to report
            key = (-1, len(found))
        if key not in seen:
            seen.add(key)
            found.append(c)
    return found


def speaks_for(photo: Path, file: Path) -> str | None:
    """The raw file's name to record in `file` when it is a sidecar named after the stem
    (`IMG.xmp`), which a raw file of the same name arriving later (IMG.NEF) could also claim:
    with it, `IMG.xmp` stays the first one's (see `_recorded_for`). None for any other file."""
    if Path(file).suffix.lower() != ".xmp":
        return None  # the photo itself (embedded XMP): nothing to resolve
    real = Path(os.path.realpath(photo))
    if real.suffix.lower() not in RAW_EXTENSIONS or Path(file).name.lower() != real.stem.lower() + ".xmp":
        return None
    return real.name


def recorded(side: Path):
    """What emowatch recorded in a sidecar file (emotion.Recorded), or None for one that cannot
    be read or parsed (a dangling link, a folder, an empty or foreign file)."""
    from .emotion import read
    from .packet import parse

    try:
        if not Path(side).is_file():
            return None
        return read(parse(Path(side).read_bytes()))
    except (OSError, EmowatchError, ValueError):
        return None


def _recorded_for(side: Path, photo: Path) -> bool:
    """Whether a stem-named sidecar holds emowatch's values for `photo` (by name)."""
    found = recorded(side)
    return found is not None and found.photo == photo.name


def _has_twin(photo: Path) -> bool:
    """Whether another raw file of the same name is beside it (IMG.CR2 and IMG.NEF): `IMG.xmp`
    would belong to both, each tag overwriting the other's, so neither uses it."""
    for ext in RAW_EXTENSIONS:
        for twin in {photo.with_suffix(ext), photo.with_suffix(ext.upper())}:
            if twin.name != photo.name and os.path.lexists(twin) and not same_file(twin, photo):
                return True
    return False


def same_file(a: Path, b: Path) -> bool:
    """One file under two names (a link; IMG.cr2 and IMG.CR2 where the file system ignores case);
    where either cannot be looked at, the same path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a) == Path(b)
