"""Which folders inotify really watches, as the kernel says (Linux: /proc/self/fdinfo).

inotify needs one watch per folder, and a user's watches are limited
(fs.inotify.max_user_watches; a sync client or an editor may hold many of them). Once the limit
is reached, watchdog skips the folders it cannot watch without a word (only a failure on the
watched folder itself reaches us), and a photo arriving in one of them would never be seen.
So after the watches are set up, and whenever a folder appears, the daemon asks the kernel
which folders hold a watch: `unwatched()` gives the topmost folders that do not, which the
watcher then scans instead (polling).
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
from pathlib import Path
from typing import Iterable

FDINFO = Path("/proc/self/fdinfo")
# the system's limit, and the one of this user namespace (a container's), which may be lower
LIMITS = (Path("/proc/sys/fs/inotify/max_user_watches"), Path("/proc/sys/user/max_inotify_watches"))


def watched() -> set[tuple[int, int]]:
    """(device, inode) of every inode this process's inotify instances watch, the device as
    the kernel writes it (major << 20 | minor)."""
    found: set[tuple[int, int]] = set()
    try:
        fds = list(FDINFO.iterdir())
    except OSError:
        return found
    for fd in fds:
        try:
            text = fd.read_text()
        except OSError:  # closed meanwhile
            continue
        found.update((int(dev, 16), int(ino, 16)) for ino, dev in _WATCH.findall(text))
    return found


_WATCH = re.compile(r"^inotify wd:\S+ ino:([0-9a-f]+) sdev:([0-9a-f]+)", re.MULTILINE)


def unwatched(folders: Iterable[str], have: set[tuple[int, int]] | None = None) -> list[str]:
    """The topmost folders in and below `folders` (hidden and symlinked ones aside) that hold
    no inotify watch; below a folder listed, nothing more is listed (it is scanned as a whole).
    A folder that cannot be read is not listed (the backfill names it)."""
    have = watched() if have is None else have
    out: list[str] = []
    stack = list(folders)
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if _key(st) not in have:
                os.scandir(folder).close()  # readable: a folder we may not read is not ours to watch
                out.append(folder)
                continue
            with os.scandir(folder) as it:
                stack.extend(e.path for e in it if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
        except OSError:
            continue
    return sorted(out)


def fewer(folders: list[str], roots: Iterable[str], most: int) -> list[str]:
    """At most about `most` folders that hold all of `folders`: their parents (up to the roots)
    while there are more. Scanning costs a thread each; a parent scanned also covers a watched
    sibling again, which costs little more than a thread."""
    roots = set(roots)
    while len(folders) > most:
        up = sorted({f if f in roots else os.path.dirname(f) for f in folders})
        up = [f for f in up if not any(f.startswith(o + os.sep) for o in up if o != f)]
        if len(up) == len(folders):
            break
        folders = up
    return folders


def limit_reached(folder: str) -> bool:
    """Whether inotify refuses a watch on `folder` for want of watches (ENOSPC). Asked before
    looking for folders without a watch: a folder caught between its creation and watchdog's
    watch is not taken for a lost one, and while watches are to be had, watchdog had the ones
    it asked for (unless another program gave some back in the instant between)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_CLOEXEC)
    except (OSError, AttributeError):
        return False
    if fd < 0:
        return ctypes.get_errno() in (errno.EMFILE, errno.ENOSPC)
    try:
        wd = libc.inotify_add_watch(fd, os.fsencode(folder), _IN_CREATE)
        return wd < 0 and ctypes.get_errno() == errno.ENOSPC
    finally:
        os.close(fd)


_IN_CREATE = 0x100


def _key(st: os.stat_result) -> tuple[int, int]:
    return (os.major(st.st_dev) << 20 | os.minor(st.st_dev), st.st_ino)


def limit() -> int | None:
    """The number of inotify watches this user may hold, if it can be read."""
    found = []
    for path in LIMITS:
        try:
            found.append(int(path.read_text()))
        except (OSError, ValueError):
            continue
    return min(found, default=None)
