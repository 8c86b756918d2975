"""Where emowatch's own sidecar files (heatmaps, explanation JSON) go: one function decides.

hidden  (default): PHOTO_DIR/.emowatch/NAME.KIND  - a hidden folder that neither the daemon nor
                   Lightroom's import picks up;
beside:            PHOTO_DIR/NAME.KIND;
central:           DIR/<the photo's absolute folder, mirrored>/NAME.KIND.
NAME is the photo's whole file name (IMG_1.jpg), so IMG_1.jpg and IMG_1.png never collide; a
name too long for a file system (255 bytes, less the 14 a writer's temp name adds) keeps its
first bytes and a hash of the whole name.
XMP sidecars of raw files are not emowatch's own sidecars: they follow Lightroom's naming and
are placed by the metadata writer.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any

from .errors import ReadOnlyError, WriteError
from .settings import SidecarSettings

HIDDEN_DIR = ".emowatch"
KINDS = ("heatmap.png", "explain.json", "regions.png")
# file names are at most 255 bytes; the atomic writer adds 14 to a sidecar's name for its temp file
MAX_NAME_BYTES = 241


def sidecar_path(photo: Path, kind: str, settings: SidecarSettings, *, resolve: bool = True) -> Path:
    """The path for the sidecar `kind` (one of KINDS) of `photo`: of the file itself, so a photo
    named through a symlink (to it, or to a folder above it) has the same sidecars as by its own
    path. `resolve=False`: the place for the name as given (where earlier versions put them)."""
    if kind not in KINDS:
        raise ValueError(f"unknown sidecar kind {kind!r}")
    photo = Path(os.path.realpath(photo) if resolve else os.path.abspath(photo))
    name = _name(photo.name, kind)
    if settings.mode == "beside":
        return photo.parent / name
    if settings.mode == "central":
        assert settings.dir is not None  # Settings validation guarantees it
        mirrored = photo.parent.relative_to(photo.parent.anchor)
        return Path(settings.dir).expanduser().absolute() / mirrored / name
    return photo.parent / HIDDEN_DIR / name


def _name(photo_name: str, kind: str) -> str:
    name = f"{photo_name}.{kind}"
    if len(os.fsencode(name)) <= MAX_NAME_BYTES:
        return name
    whole = os.fsencode(photo_name)
    digest = hashlib.sha256(whole).hexdigest()[:16]  # stable: the same photo, the same sidecar
    keep = MAX_NAME_BYTES - len(kind) - len(digest) - 2
    head = whole[:keep].decode("utf-8", "ignore")  # a character cut in half is left out
    return f"{head}~{digest}.{kind}"


def is_sidecar(path: Path | str) -> bool:
    """True for a file emowatch itself writes as a sidecar, wherever it is placed. On the path
    as a string: the daemon asks for every file of a library at each start."""
    path = os.fspath(path)
    return path.endswith(_SUFFIXES) or HIDDEN_DIR in path.split(os.sep)


_SUFFIXES = tuple("." + k for k in KINDS)


EXPLAIN_SCHEMA = 1  # the explanation JSON's "schema": how emowatch knows its own sidecars


def our_explanation(path: Path) -> dict[str, Any] | None:
    """The explanation JSON at `path` if emowatch wrote it; None when there is none, or it is
    another program's file (beside a photo, one may carry the same name)."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("schema") == EXPLAIN_SCHEMA else None


def places(photo: Path, settings: SidecarSettings) -> list[dict[str, Path]]:
    """Every place (kind -> path) an explanation of `photo` may be in: where `settings` put
    it, and beside the photo or in its hidden folder, where an earlier run with other settings
    did; for the photo's real path and for its name as given."""
    found: list[dict[str, Path]] = []
    modes = [settings] + [SidecarSettings(mode=m) for m in ("hidden", "beside") if m != settings.mode]
    for place, resolve in itertools.product(modes, (True, False)):
        paths = {kind: sidecar_path(photo, kind, place, resolve=resolve) for kind in KINDS}
        if paths not in found:
            found.append(paths)
    return found


# emowatch's own PNGs (heatmap, region map) carry this tEXt chunk, before their image data
PNG_MARK = ("Software", "emowatch")
_PNG_MARK_BYTES = b"tEXt" + PNG_MARK[0].encode() + b"\x00" + PNG_MARK[1].encode()


def is_ours(path: Path) -> bool:
    """Whether emowatch wrote this sidecar file: an explanation JSON of its schema, or a PNG
    with its mark (a region map left alone by a crash before its JSON is still known)."""
    if Path(path).suffix == ".json":
        return our_explanation(path) is not None
    try:
        with open(path, "rb") as f:
            return _PNG_MARK_BYTES in f.read(4096)
    except OSError:
        return False


def owned(paths: dict[str, Path]) -> list[Path]:
    """The files of one place that are emowatch's, the explanation JSON last: all of them in a
    hidden `.emowatch/` folder (emowatch's alone); elsewhere (beside the photo, in a central
    folder) those of a set whose JSON emowatch wrote, and PNGs with emowatch's mark - another
    program's file may have such a name."""
    there = [paths[kind] for kind in ("heatmap.png", "regions.png", "explain.json") if paths[kind].is_file()]
    if paths["explain.json"].parent.name == HIDDEN_DIR or our_explanation(paths["explain.json"]) is not None:
        return there
    return [path for path in there if is_ours(path)]


def remove_sidecars(photo: Path, settings: SidecarSettings, dry_run: bool = False) -> list[Path]:
    """Delete emowatch's own sidecars of `photo` (and a `.emowatch/` folder left empty),
    wherever they are (`places`), and nothing another program wrote (`owned`)."""
    removed: list[Path] = []
    for paths in places(photo, settings):
        for path in owned(paths):
            if path not in removed:
                if not dry_run:
                    _unlink(path)
                removed.append(path)
    if not dry_run:
        for resolve in (True, False):
            hidden = sidecar_path(photo, KINDS[0], SidecarSettings(mode="hidden"), resolve=resolve)
            remove_if_empty(hidden.parent)
    return removed


def remove_if_empty(folder: Path) -> None:
    """Remove a sidecar folder that no sidecar of any photo is left in."""
    try:
        folder.rmdir()  # only succeeds when empty: other photos' sidecars stay
    except OSError:
        pass


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass  # gone meanwhile: what was wanted
    except PermissionError as e:
        raise ReadOnlyError(f"cannot remove emowatch's sidecar: {e.strerror}", path) from None
    except OSError as e:
        raise WriteError(f"cannot remove emowatch's sidecar: {e.strerror or e}", path) from None
