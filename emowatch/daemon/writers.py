"""Whether a process still holds a file open for writing (Linux: /proc/PID/fd and fdinfo).

The settler asks this of a file whose writer was seen to create it but not (yet) to close it:
a whole-looking JPEG can still be growing (a motion photo or a camera preview appended after a
pause), and replacing it then would leave the writer's last bytes in the replaced file. Only
processes whose /proc entries this user may read are seen (the user's own copy programs);
where /proc cannot tell at all, the answer is None and the caller goes by time alone.

One look at /proc costs a stat per open file descriptor of every process (a few ms here, more
on a busy desktop), so `OpenForWriting` keeps what it saw for a moment: a bulk import of
thousands of hard links asks about each, and one look answers them all.
"""

from __future__ import annotations

import os
import threading
import time

from ..atomic import open_for_writing

PROC = "/proc"
_WRITE_MODES = os.O_WRONLY | os.O_RDWR


def files_open_for_writing(proc: str = PROC) -> set[tuple[int, int]] | None:
    """(device, inode) of every file a readable process has open for writing; None when there
    is no /proc to look in."""
    try:
        pids = [d for d in os.listdir(proc) if d.isdigit()]
    except OSError:
        return None
    found: set[tuple[int, int]] = set()
    for pid in pids:
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to look at
            continue
        for fd in fds:
            try:
                s = os.stat(os.path.join(fd_dir, fd))
            except OSError:
                continue
            ident = (s.st_dev, s.st_ino)
            if ident not in found and _writes(os.path.join(proc, pid, "fdinfo", fd)):
                found.add(ident)
    return found


def held_for_writing(path: str, proc: str = PROC) -> bool | None:
    """True if some readable process has `path` open for writing now, False if none has, None
    when there is no /proc to look in."""
    return _held(path, files_open_for_writing(proc))


class OpenForWriting:
    """`held_for_writing` answered from one look at /proc for up to `ttl` seconds."""

    def __init__(self, proc: str = PROC, ttl: float = 0.5):
        self.proc, self.ttl = proc, ttl
        self._lock = threading.Lock()
        self._seen: set[tuple[int, int]] | None = None
        self._at = float("-inf")

    def __call__(self, path: str) -> bool | None:
        leased = open_for_writing(path)  # the kernel's answer, in microseconds, where it has one
        if leased is not None:
            return leased
        with self._lock:
            now = time.monotonic()
            if now - self._at > self.ttl:
                self._seen, self._at = files_open_for_writing(self.proc), now
            seen = self._seen
        return _held(path, seen)


def _held(path: str, seen: set[tuple[int, int]] | None) -> bool | None:
    if seen is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) in seen


def _writes(fdinfo: str) -> bool:
    try:
        with open(fdinfo) as f:
            for line in f:
                if line.startswith("flags:"):
                    return bool(int(line.split()[1], 8) & _WRITE_MODES)
    except (OSError, ValueError, IndexError):
        pass
    return True  # it has the file open and we cannot tell how: assume the worst
