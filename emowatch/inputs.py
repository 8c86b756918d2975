"""Which photos a list of command-line paths means.

A file named on the command line is always taken (if it is not a photo, decoding says so, for
that file alone). A folder contributes its photos - by extension, or by content for files with
none we know - and with `recursive` those of its whole tree. Hidden files and folders (our own
`.emowatch/` sidecars among them), our temp files and emowatch's sidecar outputs are skipped.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import EmowatchError, InputError
from .formats import PHOTO_EXTENSIONS, looks_like_photo
from .sidecars import is_sidecar

# extensions we know are not photos: never sniffed, so a folder of sidecars and videos is cheap
_NOT_PHOTOS = frozenset({".xmp", ".json", ".txt", ".mov", ".mp4", ".avi", ".mts", ".wav", ".pp3",
                         ".dop", ".on1", ".thm", ".lrv", ".db", ".ini"})


EMPTY_PATH = "an empty path was given (an unset variable?), not taken to mean the current folder"


@dataclass(frozen=True)
class InputProblem:
    path: Path
    error: EmowatchError
    given: str | None = None  # the argument as typed ("nosuch/", "./x"), where it is the one at fault


def is_candidate(path: Path) -> bool:
    """A file in a folder that emowatch should look at."""
    name = path.name
    if name.startswith(".") or is_sidecar(path) or ".emowatch-tmp" in name or name.endswith("_exiftool_tmp"):
        return False
    suffix = path.suffix.lower()
    if suffix in PHOTO_EXTENSIONS:
        return True
    if suffix in _NOT_PHOTOS:
        return False
    return looks_like_photo(path)


def path_list(data: bytes, *, null: bool = False) -> list[str]:
    """The paths in a list file (`--files-from`): one per line, or NUL-separated (`null`, as
    `find -print0` writes them, for names with line breaks). Names are bytes as the file system
    keeps them (a name that is not UTF-8 is kept as it is); a Windows line end is one line end;
    empty entries are no path and are skipped. A UTF-8 byte order mark at the start (Notepad's,
    PowerShell 5's `Out-File -Encoding utf8`) is no part of the first name: kept, that photo
    was "not found"."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    if null:
        entries = data.split(b"\0")
    else:
        entries = [e[:-1] if e.endswith(b"\r") else e for e in data.split(b"\n")]
    return [os.fsdecode(e) for e in entries if e]


def collect(paths: Iterable[str | Path], recursive: bool = False) -> Iterator[Path | InputProblem]:
    """Each photo once, however often and by whatever name (a symlink, `..`) it was given."""
    seen: set[str] = set()

    def first_time(path: Path) -> bool:
        key = os.path.realpath(path)
        if key in seen:
            return False
        seen.add(key)
        return True

    for raw in paths:
        given = os.fsdecode(raw) if isinstance(raw, (str, bytes)) else str(raw)
        if given == "":  # an unset shell variable: never "the current folder"
            yield InputProblem(Path(""), InputError(EMPTY_PATH))
            continue
        path = Path(given).expanduser()   # Path drops a trailing "/" and a leading "./": messages use `given`
        kind = path_kind(path)
        if kind == "file" and given.endswith(("/", os.sep)):  # "photo.jpg/": ls says "Not a directory"
            kind = "not a folder"
        if isinstance(kind, OSError):  # a folder above it that is locked, a name too long
            yield _problem(path, given, f"cannot read: {kind.strerror or kind}")
        elif kind == "folder":
            for found in _walk(path, recursive, given):
                if isinstance(found, InputProblem) or first_time(found):
                    yield found
        elif kind == "file":
            if is_sidecar(path):  # a heatmap or explanation emowatch made: not a photo to tag
                yield _problem(path, given, "is one of emowatch's own sidecar files")
            elif first_time(path):
                yield path
        elif kind == "not a folder":
            yield _problem(path, given, "not a folder (a file of that name is there)")
        else:
            yield _problem(path, given, "no such file or folder")


def _problem(path: Path, given: str, reason: str) -> InputProblem:
    return InputProblem(path, InputError(reason, given), given)


def path_kind(path: Path) -> str | OSError:
    """"folder", "file" (anything else that is there, a dangling or looping link among them),
    "missing", or the error that kept us from knowing. One stat, not Path.is_dir() and exists():
    on Python 3.11 those let EACCES and ENAMETOOLONG out as a traceback."""
    try:
        return "folder" if stat.S_ISDIR(os.stat(path).st_mode) else "file"
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return e
    try:
        os.lstat(path)  # the name is there, the link's target is not
        return "file"
    except OSError as e:
        return "missing" if e.errno in (errno.ENOENT, errno.ENOTDIR) else e


def _walk(folder: Path, recursive: bool, given: str | None = None) -> Iterator[Path | InputProblem]:
    """`given`: the folder as typed, for the top one (its subfolders are shown as found)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:  # its photos would otherwise be left out without a word
        yield InputProblem(folder, InputError(f"cannot read this folder: {e.strerror or e}", given or folder),
                           given)
        return
    subfolders = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            subfolders.append(Path(entry.path))
        elif _is_file(entry) and is_candidate(Path(entry.path)):
            yield Path(entry.path)
    if recursive:
        for sub in subfolders:
            yield from _walk(sub, recursive)


def _is_file(entry: os.DirEntry) -> bool:
    """A file, or a link that cannot be followed (a loop, no permission): taken when named like
    a photo, so it is reported as that photo's error rather than ending the listing."""
    try:
        return entry.is_file()
    except OSError:
        return True
