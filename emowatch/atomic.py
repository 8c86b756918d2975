"""The one way emowatch writes to a user's file: build, verify, then atomically replace.

Every write of a photo or of an XMP sidecar goes through `atomic_write`. The new content goes to
a temp file in the same directory (so the replace is a rename on one file system, atomic even
against kill -9 or a power cut once fsync'd), is verified there, and only then replaces the
original, and only if the original is still the file that was read. On Linux the replace is an
exchange (emowatch.exchange): a save by another program that lands in the instant before it is
found under the temp name and put back. A crash leaves at worst a temp file named
`.NAME.emowatch-tmp-XXXXXXXX` (ours, or the original the exchange displaced), which the daemon
ignores and `sweep_temp_files` removes.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import secrets
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

from .errors import BusyError, FileChangedError, HardLinkError, ReadOnlyError, WriteError
from .exchange import exchange

TEMP_MARK = ".emowatch-tmp-"
TEMP_NAME_BYTES = 120
_CHANGED_MEANWHILE = "file changed while emowatch was writing; not overwritten"

# A writer fills the temp file itself (exiftool edits a copy in place); bytes are written for it.
Writer = Callable[[Path], None]
Verify = Callable[[Path], None]


@dataclass(frozen=True)
class FileIdentity:
    """What must still be true of a file for us to replace it: same inode, same content stamp.

    ctime is included because an in-place rewrite that restores size and mtime (exiftool -P,
    rsync) still moves it.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> "FileIdentity":
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def resolve(path: Path) -> Path:
    """The real file behind `path`: symlinks are written through, the link itself stays."""
    return Path(os.path.realpath(path))


def identity(path: Path) -> FileIdentity:
    """The identity of the (resolved) file; FileChangedError if it is gone."""
    try:
        return FileIdentity.of(os.stat(resolve(path)))
    except FileNotFoundError:
        raise FileChangedError("file vanished before it could be written", path) from None


def read_with_identity(path: Path) -> tuple[bytes, FileIdentity]:
    """The file's bytes and the identity they belong to (stat before and after the read agree)."""
    real = resolve(path)
    try:
        with open(real, "rb") as f:
            before = FileIdentity.of(os.fstat(f.fileno()))
            data = f.read()
        after = FileIdentity.of(os.stat(real))
    except FileNotFoundError:
        raise FileChangedError("file vanished while it was read", path) from None
    if before != after or len(data) != before.size:
        raise FileChangedError("file changed while it was read", path)
    return data, before


def check_writable(path: Path) -> Path:
    """Refuse early, with a reason, what atomic_write would refuse: returns the resolved path."""
    real = resolve(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise FileChangedError("file vanished before it could be written", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise WriteError("not a regular file", path)
    if st.st_nlink > 1:
        raise HardLinkError(
            f"has {st.st_nlink} hard links; replacing it would split them, so it is skipped", path
        )
    # root may write anything, so the permission bits, not os.access, say what the user meant
    if not (st.st_mode & 0o222) or not os.access(real, os.W_OK):
        raise ReadOnlyError("file is read-only; not forced", path)
    _check_dir_writable(real.parent, path)
    return real


def check_can_create(path: Path) -> None:
    """Refuse early a new file (a sidecar) in a read-only folder."""
    _check_dir_writable(resolve(Path(path).parent), path)


def remove_file(path: Path, *, expect: FileIdentity) -> None:
    """Delete a file emowatch created (a sidecar), only if it is still what was read."""
    real = check_writable(path)
    if identity(path) != expect:
        raise FileChangedError("file changed since it was read; not removed", path)
    try:
        os.unlink(real)
    except FileNotFoundError:
        raise FileChangedError("file vanished before it could be removed", path) from None
    except OSError as e:
        raise _os_error(e, path) from None
    fsync_dir(real.parent)


def _check_dir_writable(directory: Path, path: Path) -> None:
    st = os.stat(directory)
    if not (st.st_mode & 0o222) or not os.access(directory, os.W_OK | os.X_OK):
        raise ReadOnlyError("its folder is read-only; not forced", path)


def temp_path_for(real: Path) -> Path:
    """A fresh temp name beside `real`, recognisable by the daemon and by sweep_temp_files."""
    name = "".join(c if c.isprintable() else "_" for c in real.name)
    # names are limited in bytes (255 on most file systems), and exiftool, writing one of our
    # temp files, adds "_exiftool_tmp" to it: keep at most 120 bytes of the photo's name
    name = name.encode("utf-8")[:TEMP_NAME_BYTES].decode("utf-8", "ignore")
    return real.with_name(f".{name}{TEMP_MARK}{secrets.token_hex(4)}")


def is_temp_file(path: Path) -> bool:
    """True for a temp file emowatch (or exiftool working on one of ours) left behind."""
    name = Path(path).name
    return name.startswith(".") and TEMP_MARK in name


def sweep_temp_files(directory: Path, *, older_than_s: float = 0.0) -> list[Path]:
    """Remove leftover temp files in `directory` (not recursive); returns what was removed.

    `older_than_s` protects the temp file of a write that another process (the daemon, a second
    `emowatch tag`) has under way right now; a crash leftover is never still growing.
    """
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return removed
    for entry in entries:
        if not is_temp_file(Path(entry.name)) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if older_than_s and now - entry.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except FileNotFoundError:
            continue
    return removed


def atomic_write(
    path: Path,
    data_or_writer: Union[bytes, Writer],
    *,
    expect: FileIdentity | None,
    preserve_mtime: bool,
    verify: Verify | None,
) -> Path:
    """Replace the file at `path` (its symlink target) with new content, safely; returns the
    real path written.

    `data_or_writer`: the new bytes, or a function that fills the temp file it is given.
    `expect`: the identity of the file the new content was built from; the original is
    re-checked against it just before the replace (FileChangedError if it moved on). None means
    the file must not exist yet (a new sidecar); it is then created without clobbering.
    `verify`: called with the finished temp file; it raises to stop the write.
    Nothing is forced: read-only -> ReadOnlyError, several hard links -> HardLinkError.
    """
    path = Path(path)
    if expect is None:
        real = Path(os.path.realpath(path))
        if os.path.lexists(real):
            raise FileChangedError("appeared while a new file was being written", path)
        _check_dir_writable(real.parent, path)
        original = None
    else:
        real = check_writable(path)
        original = os.stat(real)
        if FileIdentity.of(original) != expect:
            raise FileChangedError("file changed since it was read; not overwritten", path)
    tmp = temp_path_for(real)
    try:
        # a new file gets the usual 0666 minus umask; a replacement first stays private
        ours = _fill(tmp, data_or_writer, path, 0o600 if original is not None else 0o666)
        if original is not None:
            _copy_attributes(real, tmp, original, preserve_mtime, path)
        if verify is not None:
            verify(tmp)
        exchanged = _commit(tmp, real, expect, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    if exchanged:  # tmp now names what was at `real`: never simply removed
        _settle_exchange(tmp, real, expect, ours, path)
    fsync_dir(real.parent)
    return real


def _fill(tmp: Path, data_or_writer: Union[bytes, Writer], path: Path, mode: int) -> int:
    """Write and fsync the temp file; returns its inode number."""
    try:
        if isinstance(data_or_writer, (bytes, bytearray, memoryview)):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            with open(fd, "wb") as f:
                f.write(data_or_writer)
                f.flush()
                os.fsync(f.fileno())
                return os.fstat(f.fileno()).st_ino
        else:
            data_or_writer(tmp)
            # the writer may have replaced the temp file (exiftool renames its own output)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
                return os.fstat(f.fileno()).st_ino
    except OSError as e:
        raise _os_error(e, path) from None


def _copy_attributes(real: Path, tmp: Path, original: os.stat_result, preserve_mtime: bool,
                     path: Path) -> None:
    """Give the new file the original's owner, mode, extended attributes and, if asked, times."""
    try:
        if (original.st_uid, original.st_gid) != (os.stat(tmp).st_uid, os.stat(tmp).st_gid):
            os.chown(tmp, original.st_uid, original.st_gid)
    except PermissionError:
        raise WriteError("cannot keep the file's owner (it belongs to another user); not written",
                         path) from None
    os.chmod(tmp, stat.S_IMODE(original.st_mode))
    _copy_xattrs(real, tmp)
    if preserve_mtime:
        os.utime(tmp, ns=(original.st_atime_ns, original.st_mtime_ns))


def _copy_xattrs(src: Path, dst: Path) -> None:
    # desktop tags (user.xdg.tags), SELinux labels...; a file system without them has none to lose
    try:
        names = os.listxattr(src)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name))
        except OSError as e:
            if name.startswith("user."):
                raise WriteError(f"cannot keep extended attribute {name}: {e.strerror}", src) from None


def _commit(tmp: Path, real: Path, expect: FileIdentity | None, path: Path) -> bool:
    """Put the temp file in place; True when that was an exchange, which leaves at `tmp` what
    was at `real`, for _settle_exchange."""
    if expect is None:
        try:
            # link() refuses to clobber a file that appeared meanwhile; rename() would not
            os.link(tmp, real)
        except FileExistsError:
            raise FileChangedError("appeared while a new file was being written", path) from None
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise _os_error(e, path) from None
            # file systems without hard links (FAT, some network shares)
            if os.path.lexists(real):
                raise FileChangedError("appeared while a new file was being written",
                                       path) from None
            os.replace(tmp, real)
            return False
        os.unlink(tmp)
        return False
    try:
        now = FileIdentity.of(os.stat(real))
    except FileNotFoundError:
        raise FileChangedError("file vanished before it could be replaced", path) from None
    if now != expect:
        raise FileChangedError(_CHANGED_MEANWHILE, path)
    if open_for_writing(real):
        # a writer that pauses (rsync --inplace, a slow card reader) would go on writing into
        # the file replaced here, and the photo would end up half old, half new
        raise BusyError("another program has it open for writing; not replaced", path)
    try:
        if not exchange(tmp, real, expect.dev):
            os.replace(tmp, real)  # no exchange here: the last instant's change is not caught
            return False
    except FileNotFoundError:
        if not os.path.lexists(real):
            raise FileChangedError("file vanished before it could be replaced", path) from None
        raise WriteError("its temp file vanished (removed by another program)", path) from None
    except OSError as e:
        raise _os_error(e, path) from None
    return True


def _settle_exchange(tmp: Path, real: Path, expect: FileIdentity, ours: int, path: Path) -> None:
    """After the exchange `real` holds our file (inode `ours`) and `tmp` what was at `real` an
    instant before: the original, which goes (a crash before that leaves it to
    sweep_temp_files), or another program's save that landed since the re-check, which is put
    back: FileChangedError. (For those microseconds a reader of the photo sees our file.)"""
    try:
        displaced = os.lstat(tmp)
    except FileNotFoundError:
        return  # already removed (another emowatch's sweep): there is nothing to put back
    if _same_file(displaced, expect):
        _unlink_quietly(tmp)  # if it stays, it is a leftover like any other: swept
        return
    _swap_back(tmp, real, expect.dev, path)
    back = _inode(tmp)
    if back not in (ours, None, displaced.st_ino):
        # a later save replaced ours at `real` meanwhile, and came back here in its place: it
        # is the newest, and goes back in place; the save it replaced goes, as with no emowatch
        _swap_back(tmp, real, expect.dev, path)
        back = _inode(tmp)
    if back in (ours, displaced.st_ino):
        _unlink_quietly(tmp)
    # else a third save in these microseconds: it stays under the temp name, to be swept
    raise FileChangedError(_CHANGED_MEANWHILE, path)


def _swap_back(tmp: Path, real: Path, dev: int, path: Path) -> None:
    try:
        if not exchange(tmp, real, dev):
            os.replace(tmp, real)
    except OSError:
        try:
            os.replace(tmp, real)  # `real` gone meanwhile (ENOENT): what we hold goes there
        except OSError as e:  # a file system gone read-only: nor can anything be removed
            raise _os_error(e, path) from None


def _inode(path: Path) -> int | None:
    try:
        return os.lstat(path).st_ino
    except OSError:
        return None


def _same_file(st: os.stat_result, expect: FileIdentity) -> bool:
    """Whether `st` is the file `expect` describes, once renamed: a rename moves ctime."""
    return (stat.S_ISREG(st.st_mode)
            and (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            == (expect.dev, expect.ino, expect.size, expect.mtime_ns))


_F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)  # Linux
_F_SETSIG = getattr(fcntl, "F_SETSIG", 10)


def open_for_writing(path: Path | str) -> bool | None:
    """Whether any process has `path` open for writing, by asking for a read lease (Linux),
    which the kernel refuses while one has: microseconds, where looking through /proc takes
    milliseconds. None when it cannot tell (another system, a network share, another owner's
    file without CAP_LEASE).

    A writer that opens the file in the instant the lease is held breaks it, and the kernel
    signals the holder: SIGIO by default, whose default action ends the process. The lease
    asks for SIGURG instead, which every process ignores unless it asks otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not _local_file_system(fd):
            return None  # NFS and SMB refuse a lease whenever the server has not delegated one
        fcntl.fcntl(fd, _F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
    except OSError as e:
        return True if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) else None
    else:
        fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


# statfs f_type of the local file systems whose leases answer only for this machine's writers:
# ext2-4, XFS, Btrfs, tmpfs, overlayfs, F2FS, ZFS, bcachefs, JFS, ReiserFS
_LOCAL_FS = frozenset({0xEF53, 0x58465342, 0x9123683E, 0x01021994, 0x794C7630, 0xF2F52010,
                       0x2FC12FC1, 0xCA451A4E, 0x3153464A, 0x52654973})
_libc: Any = None


def _local_file_system(fd: int) -> bool:
    """Whether `fd`'s file lives on a local file system we know (Linux fstatfs)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(256)  # struct statfs: f_type is its first field, a long
        if _libc.fstatfs(fd, buf) != 0:
            return False
        return (ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF) in _LOCAL_FS
    except (OSError, AttributeError):
        return False


def fsync_dir(directory: Path) -> None:
    # the rename is durable only once the directory entry is on disk
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unlink_quietly(tmp: Path) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _os_error(e: OSError, path: Path) -> WriteError:
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ReadOnlyError(f"cannot write: {e.strerror}", path)
    if e.errno == errno.ENOSPC:
        return WriteError("no space left on the device; nothing was changed", path)
    return WriteError(f"cannot write: {e.strerror or e}", path)
