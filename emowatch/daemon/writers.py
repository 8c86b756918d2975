"""Whether a process still holds a file open for writing (Linux: /proc/PID/fd and fdinfo).

The settler asks this of a file whose writer was seen to create it but not (yet) to close it:
a whole-looking JPEG can still be growing (a motion photo or a camera preview appended after a
pause), and replacing it then would leave the writer's last bytes in the replaced file. Only
processes whose /proc entries this user may read are seen (the user's own copy programs);
where /proc cannot tell at all, the answer is None and the caller goes by time alone.
"""

from __future__ import annotations

import os

PROC = "/proc"
_WRITE_MODES = os.O_WRONLY | os.O_RDWR


def held_for_writing(path: str, proc: str = PROC) -> bool | None:
    """True if some readable process has `path` open for writing, False if none has, None when
    there is no /proc to look in."""
    try:
        st = os.stat(path)
        pids = [d for d in os.listdir(proc) if d.isdigit()]
    except FileNotFoundError:
        return False if os.path.isdir(proc) else None
    except OSError:
        return None
    target = (st.st_dev, st.st_ino)
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
            if (s.st_dev, s.st_ino) == target and _writes(os.path.join(proc, pid, "fdinfo", fd)):
                return True
    return False


def _writes(fdinfo: str) -> bool:
    try:
        with open(fdinfo) as f:
            for line in f:
                if line.startswith("flags:"):
                    return bool(int(line.split()[1], 8) & _WRITE_MODES)
    except (OSError, ValueError, IndexError):
        pass
    return True  # it has the file open and we cannot tell how: assume the worst
