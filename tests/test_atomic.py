"""atomic_write: the one way a user's file is replaced."""

from __future__ import annotations

import os
import time

import pytest

from emowatch import atomic
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
