"""atomic_write: the one way a user's file is replaced."""

from __future__ import annotations

import ctypes
import errno
import os
import time

import pytest

from emowatch import atomic, exchange
from emowatch.atomic import atomic_write, identity, read_with_identity, sweep_temp_files
from emowatch.errors import FileChangedError, HardLinkError, ReadOnlyError, WriteError


def leftovers(directory):
    return [p.name for p in directory.iterdir() if atomic.is_temp_file(p)]


@pytest.fixture
def original(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"old content")
    os.chmod(path, 0o640)
    return path


def test_replaces_content_keeps_mode_and_updates_mtime(original):
    os.utime(original, ns=(10**18, 10**18))
    _, expect = read_with_identity(original)
    real = atomic_write(original, b"new content", expect=expect, preserve_mtime=False, verify=None)
    assert real == original
    assert original.read_bytes() == b"new content"
    assert os.stat(original).st_mode & 0o777 == 0o640
    assert os.stat(original).st_mtime_ns > 10**18
    assert os.stat(original).st_ino != expect.ino  # a new file took its place (rename)
    assert leftovers(original.parent) == []


def test_preserve_mtime_keeps_times(original):
    os.utime(original, ns=(10**18, 10**18 + 5))
    expect = identity(original)
    atomic_write(original, b"new", expect=expect, preserve_mtime=True, verify=None)
    assert os.stat(original).st_mtime_ns == 10**18 + 5


def test_extended_attributes_are_kept(original):
    try:
        os.setxattr(original, "user.xdg.tags", b"holiday")
    except OSError:
        pytest.skip("this file system has no user extended attributes")
    atomic_write(original, b"new", expect=identity(original), preserve_mtime=False, verify=None)
    assert os.getxattr(original, "user.xdg.tags") == b"holiday"


def test_verify_sees_the_finished_temp_file_and_can_stop_the_write(original):
    seen = []

    def verify(tmp):
        seen.append((tmp.name, tmp.read_bytes()))
        raise WriteError("not what we meant")

    with pytest.raises(WriteError):
        atomic_write(original, b"new", expect=identity(original), preserve_mtime=False,
                     verify=verify)
    assert seen[0][0].startswith(".photo.jpg.emowatch-tmp-") and seen[0][1] == b"new"
    assert original.read_bytes() == b"old content"
    assert leftovers(original.parent) == []


def test_a_writer_fills_the_temp_file_itself(original):
    def writer(tmp):
        tmp.write_bytes(b"written by a tool")

    atomic_write(original, writer, expect=identity(original), preserve_mtime=False, verify=None)
    assert original.read_bytes() == b"written by a tool"


def test_file_modified_since_reading_is_not_overwritten(original):
    expect = identity(original)
    time.sleep(0.01)
    original.write_bytes(b"someone else's edit")
    with pytest.raises(FileChangedError):
        atomic_write(original, b"ours", expect=expect, preserve_mtime=False, verify=None)
    assert original.read_bytes() == b"someone else's edit"


def test_file_modified_while_writing_is_not_overwritten(original):
    expect = identity(original)

    def writer(tmp):
        tmp.write_bytes(b"ours")
        with open(original, "ab") as f:  # another program appends meanwhile
            f.write(b"!")

    with pytest.raises(FileChangedError) as info:
        atomic_write(original, writer, expect=expect, preserve_mtime=False, verify=None)
    assert info.value.transient
    assert original.read_bytes() == b"old content!"
    assert leftovers(original.parent) == []


def test_a_file_another_process_holds_open_for_writing_is_not_replaced(tmp_path):
    # rsync --inplace, a slow card reader: the writer pauses between chunks; the file looks
    # whole (the old end marker is still there), and a replace would leave the writer's next
    # chunks in the replaced file - the photo half new, half old, for good
    import subprocess
    import sys

    from PIL import Image

    from emowatch.metadata import write_tags
    from emowatch.settings import Settings
    import corpus

    old, new = tmp_path / "old.jpg", tmp_path / "new.jpg"
    Image.effect_noise((640, 480), 60).convert("RGB").save(old, quality=90)
    Image.linear_gradient("L").resize((640, 480)).convert("RGB").save(new, quality=90)
    photo = tmp_path / "IMG_1.jpg"
    photo.write_bytes(old.read_bytes())
    data = new.read_bytes()
    half = len(data) // 2
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys\n"
        f"f = open({str(photo)!r}, 'r+b'); f.write(sys.stdin.buffer.read({half})); f.flush()\n"
        "print('half', flush=True); sys.stdin.buffer.read(1)\n"  # paused, the file still open
        f"f.write({data[half:]!r}); f.truncate(); f.close()\n")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    writer.stdin.write(data[:half])
    writer.stdin.flush()
    assert writer.stdout.readline() == b"half\n"
    assert atomic.open_for_writing(photo) is True
    with pytest.raises(FileChangedError, match="another program has it open for writing; not replaced"):
        write_tags(photo, corpus.emotion(), settings=Settings(), exiftool=None)
    writer.communicate(b"!", timeout=30)
    assert writer.returncode == 0 and photo.read_bytes() == data  # the writer's file, whole
    assert atomic.open_for_writing(photo) is False
    assert write_tags(photo, corpus.emotion(), settings=Settings(), exiftool=None).action == "embedded"
    with Image.open(photo) as tagged, Image.open(new) as wanted:
        assert tagged.tobytes() == wanted.tobytes()


def test_the_open_for_writing_probe_survives_a_writer_opening_the_file_meanwhile(tmp_path):
    # a writer opening the file while the probe's lease is held breaks it, and the kernel
    # signals the holder: with SIGIO (its default) that ended emowatch within ~500 probes
    import subprocess
    import sys

    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"\xff\xd8" + bytes(1000))
    opener = subprocess.Popen([sys.executable, "-c", (
        "import os, time\n"
        f"while True:\n    os.close(os.open({str(photo)!r}, os.O_WRONLY)); time.sleep(0.0002)\n")])
    try:
        probe = subprocess.run([sys.executable, "-c", (
            "import time\nfrom emowatch.atomic import open_for_writing\n"
            "end = time.time() + 3; n = 0\n"
            f"while time.time() < end:\n    open_for_writing({str(photo)!r}); n += 1\n"
            "print(n)\n")], capture_output=True, text=True, timeout=60)
    finally:
        opener.kill()
    assert probe.returncode == 0, (probe.returncode, probe.stderr)
    assert int(probe.stdout) > 1000


def test_the_open_for_writing_probe_cannot_tell_off_a_known_local_file_system():
    # NFS and SMB refuse a lease whenever the server has not delegated one (EAGAIN, "held"):
    # taken at its word, every photo on a share would be refused; procfs stands in for them
    assert atomic.open_for_writing("/proc/self/status") is None


def test_file_deleted_while_writing_is_not_recreated(original):
    expect = identity(original)

    def writer(tmp):
        tmp.write_bytes(b"ours")
        original.unlink()

    with pytest.raises(FileChangedError):
        atomic_write(original, writer, expect=expect, preserve_mtime=False, verify=None)
    assert not original.exists()
    assert leftovers(original.parent) == []


def test_symlink_is_written_through_and_stays_a_link(original, tmp_path):
    link = tmp_path / "link.jpg"
    link.symlink_to(original.name)
    real = atomic_write(link, b"new", expect=identity(link), preserve_mtime=False, verify=None)
    assert real == original
    assert link.is_symlink() and os.readlink(link) == original.name
    assert original.read_bytes() == b"new"


def test_hard_linked_file_is_refused(original, tmp_path):
    os.link(original, tmp_path / "other-name.jpg")
    with pytest.raises(HardLinkError):
        atomic_write(original, b"new", expect=identity(original), preserve_mtime=False,
                     verify=None)
    assert (tmp_path / "other-name.jpg").read_bytes() == b"old content"


def test_read_only_file_and_folder_are_refused(original):
    os.chmod(original, 0o444)
    with pytest.raises(ReadOnlyError):
        atomic_write(original, b"new", expect=identity(original), preserve_mtime=False,
                     verify=None)
    os.chmod(original, 0o644)
    os.chmod(original.parent, 0o555)
    try:
        with pytest.raises(ReadOnlyError):
            atomic_write(original, b"new", expect=identity(original), preserve_mtime=False,
                         verify=None)
    finally:
        os.chmod(original.parent, 0o755)
    assert original.read_bytes() == b"old content"


def test_new_file_is_created_but_never_clobbers(tmp_path):
    new = tmp_path / "IMG_1.xmp"
    atomic_write(new, b"<x/>", expect=None, preserve_mtime=False, verify=None)
    assert new.read_bytes() == b"<x/>"
    with pytest.raises(FileChangedError):
        atomic_write(new, b"<y/>", expect=None, preserve_mtime=False, verify=None)
    assert new.read_bytes() == b"<x/>"

    def racer(tmp):  # another program creates the file while ours is being written
        tmp.write_bytes(b"ours")
        (tmp_path / "IMG_2.xmp").write_bytes(b"theirs")

    with pytest.raises(FileChangedError):
        atomic_write(tmp_path / "IMG_2.xmp", racer, expect=None, preserve_mtime=False, verify=None)
    assert (tmp_path / "IMG_2.xmp").read_bytes() == b"theirs"
    assert leftovers(tmp_path) == []


def test_sweep_removes_leftovers_of_ours_and_of_exiftool_on_ours(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"photo")
    (tmp_path / ".photo.jpg.emowatch-tmp-0a1b2c3d").write_bytes(b"half")
    (tmp_path / ".photo.jpg.emowatch-tmp-0a1b2c3d_exiftool_tmp").write_bytes(b"half")
    (tmp_path / ".hidden-user-file").write_bytes(b"keep")
    removed = sweep_temp_files(tmp_path)
    assert sorted(p.name for p in removed) == [".photo.jpg.emowatch-tmp-0a1b2c3d",
                                               ".photo.jpg.emowatch-tmp-0a1b2c3d_exiftool_tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden-user-file", "photo.jpg"]


def test_sweep_spares_a_temp_file_another_writer_is_still_using(tmp_path):
    fresh = tmp_path / ".a.jpg.emowatch-tmp-00000000"
    fresh.write_bytes(b"being written")
    assert sweep_temp_files(tmp_path, older_than_s=60) == []
    os.utime(fresh, (time.time() - 120, time.time() - 120))
    assert sweep_temp_files(tmp_path, older_than_s=60) == [fresh]


def test_read_with_identity_matches_what_was_read(original):
    data, ident = read_with_identity(original)
    assert data == b"old content" and ident == identity(original)
    with pytest.raises(FileChangedError):
        read_with_identity(original.parent / "missing.jpg")


# -- the commit: an exchange, so that a save landing in the last instant is put back ----------
def other_program_saves(photo, data):
    """What an editor's save does: write a temp file, rename it over the photo."""
    theirs = photo.with_name(photo.name + ".editor-tmp")
    theirs.write_bytes(data)
    os.rename(theirs, photo)


def test_a_save_by_another_program_after_the_last_re_check_is_put_back(original, monkeypatch):
    # the lease probe is the last look before the commit: the other program's save lands there
    def probe_then_their_save(path):
        other_program_saves(original, b"their save")
        return False

    monkeypatch.setattr(atomic, "open_for_writing", probe_then_their_save)
    with pytest.raises(FileChangedError, match="changed while emowatch was writing") as info:
        atomic_write(original, b"ours", expect=identity(original), preserve_mtime=False,
                     verify=None)
    assert info.value.transient  # the daemon retries it, as any other change
    assert original.read_bytes() == b"their save"
    assert sorted(p.name for p in original.parent.iterdir()) == ["photo.jpg"]


def test_a_second_save_landing_while_the_first_is_put_back_is_the_one_kept(original,
                                                                           monkeypatch):
    # the editor saves before the exchange, and again in the microseconds after it (over our
    # file): its second save is its newest and must be the photo in the end
    def probe_then_their_save(path):
        other_program_saves(original, b"their first save")
        return False

    real_exchange, calls = exchange.exchange, []

    def exchange_then_their_second_save(a, b, dev):
        done = real_exchange(a, b, dev)
        calls.append(a)
        if len(calls) == 1:
            other_program_saves(original, b"their second save")
        return done

    monkeypatch.setattr(atomic, "open_for_writing", probe_then_their_save)
    monkeypatch.setattr(atomic, "exchange", exchange_then_their_second_save)
    with pytest.raises(FileChangedError):
        atomic_write(original, b"ours", expect=identity(original), preserve_mtime=False,
                     verify=None)
    assert original.read_bytes() == b"their second save"
    assert sorted(p.name for p in original.parent.iterdir()) == ["photo.jpg"]


def test_a_photo_deleted_after_the_last_re_check_is_not_recreated(original, monkeypatch):
    def probe_then_delete(path):
        original.unlink()
        return False

    monkeypatch.setattr(atomic, "open_for_writing", probe_then_delete)
    with pytest.raises(FileChangedError, match="vanished"):
        atomic_write(original, b"ours", expect=identity(original), preserve_mtime=False,
                     verify=None)
    assert list(original.parent.iterdir()) == []


def test_the_commit_exchanges_and_leaves_exactly_the_new_file(original, monkeypatch):
    calls = []

    def watched(a, b, dev):  # the real exchange, recorded
        calls.append((a.name, b.name))
        return exchange.exchange(a, b, dev)

    monkeypatch.setattr(atomic, "exchange", watched)
    before = identity(original)
    atomic_write(original, b"new content", expect=before, preserve_mtime=False, verify=None)
    assert len(calls) == 1 and calls[0][1] == "photo.jpg" and atomic.is_temp_file(calls[0][0])
    assert original.read_bytes() == b"new content" and os.stat(original).st_ino != before.ino
    assert sorted(p.name for p in original.parent.iterdir()) == ["photo.jpg"]


def test_exchange_swaps_two_files_and_says_when_one_is_missing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    assert exchange.exchange(a, b, os.stat(a).st_dev) is True
    assert (a.read_bytes(), b.read_bytes()) == (b"B", b"A")
    with pytest.raises(FileNotFoundError):
        exchange.exchange(a, tmp_path / "missing", os.stat(a).st_dev)
    assert a.read_bytes() == b"B"


def refusing(code):
    """renameat2 as a file system without RENAME_EXCHANGE answers it: -1 and `code`."""
    calls = []

    def call(a, b):
        calls.append(a)
        ctypes.set_errno(code)
        return -1

    return call, calls


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP],
                         ids=["EINVAL", "ENOSYS", "EOPNOTSUPP"])
def test_where_the_exchange_is_refused_the_write_renames_and_the_refusal_is_remembered(
        original, monkeypatch, code):
    call, calls = refusing(code)
    monkeypatch.setattr(exchange, "_renameat2", lambda: call)
    monkeypatch.setattr(exchange, "_refused", set())
    atomic_write(original, b"new", expect=identity(original), preserve_mtime=False, verify=None)
    atomic_write(original, b"newer", expect=identity(original), preserve_mtime=False, verify=None)
    assert original.read_bytes() == b"newer"
    assert sorted(p.name for p in original.parent.iterdir()) == ["photo.jpg"]
    assert len(calls) == 1  # asked once for this file system, not once per photo
    assert exchange._refused == {os.stat(original).st_dev}


def test_another_failure_of_the_exchange_is_a_write_error_and_changes_nothing(original,
                                                                              monkeypatch):
    call, calls = refusing(errno.EIO)
    monkeypatch.setattr(exchange, "_renameat2", lambda: call)
    monkeypatch.setattr(exchange, "_refused", set())
    with pytest.raises(WriteError, match="Input/output error"):
        atomic_write(original, b"new", expect=identity(original), preserve_mtime=False,
                     verify=None)
    assert original.read_bytes() == b"old content" and leftovers(original.parent) == []
    assert exchange._refused == set()


# a write killed right after its exchange: the new photo in place, the displaced original left
# under the temp name
KILLED_AFTER_EXCHANGE = """
import os, signal, sys
from pathlib import Path
from emowatch import atomic
atomic._settle_exchange = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
path = Path(sys.argv[1])
atomic.atomic_write(path, b"new content", expect=atomic.identity(path), preserve_mtime=False,
                    verify=None)
"""


def test_a_crash_right_after_the_exchange_leaves_the_new_photo_and_a_leftover_swept(original):
    import subprocess
    import sys

    hour_ago = time.time() - 3600  # a photo on disk for a while, like any other
    os.utime(original, (hour_ago, hour_ago))
    child = subprocess.run([sys.executable, "-c", KILLED_AFTER_EXCHANGE, str(original)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert child.returncode == -9, child.stderr
    assert original.read_bytes() == b"new content"
    [leftover] = leftovers(original.parent)
    assert (original.parent / leftover).read_bytes() == b"old content"
    # `emowatch tag` sweeps what is older than a minute: the displaced original keeps its mtime
    assert sweep_temp_files(original.parent, older_than_s=60) == [original.parent / leftover]
    assert sorted(p.name for p in original.parent.iterdir()) == ["photo.jpg"]


def test_the_raw_system_call_exchanges_where_the_c_library_has_no_wrapper(tmp_path):
    import platform

    call = exchange._syscall(ctypes.CDLL(None, use_errno=True), platform.machine())
    if call is None:
        pytest.skip(f"renameat2's number on {platform.machine()} is not known here")
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"A")
    b.write_bytes(b"B")
    assert call(os.fsencode(a), os.fsencode(b)) == 0
    assert (a.read_bytes(), b.read_bytes()) == (b"B", b"A")
    assert call(os.fsencode(a), os.fsencode(tmp_path / "missing")) == -1
    assert ctypes.get_errno() == errno.ENOENT
