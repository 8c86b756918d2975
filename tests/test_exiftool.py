"""The long-lived exiftool: one process, many commands, any thread, errors per file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

import corpus
from emowatch.errors import ExiftoolError, ExiftoolMissingError
from emowatch.exiftool import Exiftool, ExiftoolPool


def test_version_and_one_process_for_many_files(et, pristine):
    assert et.version == corpus.exiftool("-ver").strip()
    pid = et.pid
    for name, path in pristine.items():
        assert et.read_json(path, "-File:FileType")
    assert et.pid == pid
    children = [p for p in psutil.Process().children(recursive=True)
                if p.name() not in ("sh", "cat") and "exiftool" in " ".join(p.cmdline())]
    assert len(children) == 1


def test_exiftool_ends_when_emowatch_is_killed(tmp_path):
    # exiftool -stay_open polls its input forever; a kill -9 of emowatch must not leave it behind
    code = ("import os, sys\nfrom emowatch.exiftool import Exiftool\ne = Exiftool()\n"
            "print(e.version, flush=True)\nos.kill(os.getpid(), 9)\n")
    before = {p.pid for p in psutil.process_iter()}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9 and done.stdout.strip()
    def leftovers():
        return [p for p in psutil.process_iter(["pid", "cmdline"]) if p.pid not in before
                and "-stay_open" in " ".join(p.info["cmdline"] or [])]
    deadline = time.monotonic() + 10
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a process table: there is no event to wait on
    assert leftovers() == []


def test_missing_exiftool_is_none_from_find_and_a_typed_error_that_says_how_to_install():
    assert Exiftool.find("no-such-exiftool-here") is None
    with pytest.raises(ExiftoolMissingError, match="apt-get install libimage-exiftool-perl"):
        Exiftool("no-such-exiftool-here")


def test_something_that_is_not_exiftool_is_an_error(tmp_path):
    fake = tmp_path / "exiftool"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    with pytest.raises(ExiftoolError):
        Exiftool(str(fake), timeout=10)


def test_an_error_on_one_file_does_not_disturb_the_next(et, pristine, tmp_path):
    with pytest.raises(ExiftoolError, match="File not found") as info:
        et.read_json(tmp_path / "missing.jpg")
    assert info.value.path == tmp_path / "missing.jpg"
    assert et.read_json(pristine["full.jpg"], "-IPTC:Keywords")["IPTC:Keywords"] == [
        "Beach", "Family", "Places"]


def test_odd_file_names(et, pristine, tmp_path):
    # a line break in a name goes as one C-string line: never a second argument (here -ver)
    for name in ("-starts-with-dash.jpg", "späce ünïcode 写真.jpg", "quote'n\"semicolon;.jpg",
                 "new\nline.jpg", "back\\slash\r\n-ver\n.jpg"):
        path = corpus.copy(pristine["full.jpg"], tmp_path, name)
        assert et.read_json(path, "-IPTC:City")["IPTC:City"] == "Paris"
        assert et.read_xmp(path).startswith(b"<?xpacket")
    path = tmp_path / "back\\slash\r\n-ver\n.jpg"
    et.write_in_place(path, ["-IPTC:City=Lyon"])
    assert et.read_json(path, "-IPTC:City")["IPTC:City"] == "Lyon"
    # exiftool keeps a backslash before $ and @ in such a line: refused, never another file
    with pytest.raises(ExiftoolError, match="both a line break and"):
        et.read_json(tmp_path / "new\nline$x.jpg")


def test_many_threads_share_one_process(et, pristine, tmp_path):
    paths = [corpus.copy(pristine["full.jpg"], tmp_path, f"p{i}.jpg") for i in range(8)]
    errors, results = [], {}

    def work(path):
        try:
            for _ in range(5):
                results[path] = et.read_json(path, "-IPTC:Keywords", "-XMP-xmp:Rating")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert all(r["SourceFile"] == str(p) and r["XMP-xmp:Rating"] == "3"
               for p, r in results.items())


def test_a_killed_process_is_restarted_on_the_next_command(exiftool_bin, pristine):
    with Exiftool(exiftool_bin) as tool:
        old = tool.pid
        os.kill(old, signal.SIGKILL)
        psutil.Process(old).wait(timeout=10)
        assert tool.read_json(pristine["full.jpg"], "-IPTC:City")["IPTC:City"] == "Paris"
        assert tool.pid != old


def _exiftool_itself(tool: Exiftool) -> psutil.Process:
    """The perl process, not the shell that relays its input (see exiftool._RELAY)."""
    found = [p for p in psutil.Process(tool.pid).children(recursive=True) if "perl" in p.exe()]
    return found[0] if found else psutil.Process(tool.pid)


def test_exiftool_dying_mid_command_is_told_at_once_and_may_be_retried(exiftool_bin, pristine):
    # with the relay holding our pipes open, a killed exiftool was waited for until the timeout
    # (120 s a photo), then reported as "did not answer", and the daemon never retried
    import threading
    import time

    from emowatch.errors import ExiftoolDiedError

    with Exiftool(exiftool_bin, timeout=60) as tool:
        victim = _exiftool_itself(tool)
        threading.Timer(0.5, victim.kill).start()
        started = time.monotonic()
        with pytest.raises(ExiftoolDiedError, match="exiftool exited unexpectedly") as info:
            tool.execute("-if", "sleep(5)", "-ver", str(pristine["full.jpg"]))
        assert time.monotonic() - started < 5 and info.value.transient
        assert tool.read_json(pristine["full.jpg"], "-IPTC:City")["IPTC:City"] == "Paris"


def test_an_exiftool_given_up_on_is_not_left_running(exiftool_bin, pristine):
    # only the relaying shell was killed: a hung exiftool ran on (re-tried by the daemon, one
    # more each time)
    from emowatch.errors import ExiftoolDiedError

    with Exiftool(exiftool_bin, timeout=1) as tool:
        hung = _exiftool_itself(tool)
        with pytest.raises(ExiftoolDiedError, match="did not answer within 1 s"):
            tool.execute("-if", "sleep(30); 1", "-ver", str(pristine["full.jpg"]))
        hung.wait(timeout=10)  # psutil.TimeoutExpired if it is still running
        tool.timeout = 60  # the next command starts a new exiftool: more than 1 s on a busy machine
        assert tool.read_json(pristine["full.jpg"], "-IPTC:City")["IPTC:City"] == "Paris"


def test_exiftool_killed_between_commands_is_restarted_quietly(exiftool_bin, pristine):
    with Exiftool(exiftool_bin) as tool:
        victim = _exiftool_itself(tool)
        victim.kill()
        victim.wait(timeout=10)
        assert tool.read_json(pristine["full.jpg"], "-IPTC:City")["IPTC:City"] == "Paris"


def test_large_output_comes_through_whole(et, pristine, tmp_path):
    big = corpus.lightroom_xmp(padding_lines=0).replace(
        b'photoshop:City="Paris"', b'photoshop:City="' + b"P" * 500_000 + b'"')
    (tmp_path / "big.xmp").write_bytes(big)
    path = corpus.copy(pristine["photo.tif"], tmp_path)
    et.write_in_place(path, [f"-XMP<={tmp_path / 'big.xmp'}"])
    assert et.read_xmp(path) == big


def test_write_in_place_reports_a_failed_write(et, tmp_path):
    path = tmp_path / "not-an-image.jpg"
    path.write_text("text")
    with pytest.raises(ExiftoolError):
        et.write_in_place(path, ["-XMP-dc:Subject=x"])
    assert path.read_text() == "text"


def test_close_ends_the_process(exiftool_bin):
    tool = Exiftool(exiftool_bin)
    pid = tool.pid
    tool.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert shutil.which(exiftool_bin)
    with pytest.raises(ExiftoolError, match="closed"):  # closed is closed: never started again
        tool.execute("-ver")
    assert tool.pid is None


def test_a_pool_starts_another_process_only_while_one_is_busy(exiftool_bin, pristine):
    photo = pristine["full.jpg"]
    with ExiftoolPool(exiftool_bin, size=2) as pool:
        for _ in range(3):  # one command at a time: one process
            assert pool.read_json(photo, "-IPTC:City")["IPTC:City"] == "Paris"
        assert len(pool.pids) == 1
        # a slow command (exiftool's -if runs Perl: sleep 8 s) holds the first one busy
        held: dict = {}
        slow = threading.Thread(target=lambda: held.update(
            pool.read_json(photo, "-if", "sleep 8; 1", "-IPTC:City")))
        slow.start()
        deadline = time.monotonic() + 10
        while pool.busy < 1 and time.monotonic() < deadline:
            time.sleep(0.01)  # a counter to wait on: there is no event for "exiftool is working"
        assert pool.read_json(photo, "-IPTC:City")["IPTC:City"] == "Paris"
        assert slow.is_alive()  # answered while the slow command still ran: not queued behind it
        assert len(pool.pids) == 2
        slow.join(timeout=60)
        assert held["IPTC:City"] == "Paris"
        pids = pool.pids
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE
               for p in pids)
    with pytest.raises(ExiftoolError, match="closed"):  # no process started that nothing would end
        pool.read_json(photo)
    assert ExiftoolPool.find("no-such-exiftool-here") is None


@pytest.mark.parametrize("slow_close", [False, True])
def test_a_command_waiting_for_a_closed_pool_is_refused(exiftool_bin, pristine, monkeypatch, slow_close):
    # a thread queued behind a busy process while the pool closes must not restart it, nor run
    # on the process that comes free: close() marks the pool closed, then waits for each
    # process's lock, and the queued command took the freed process first (seen once in CI;
    # `slow_close` widens that window so it is hit every time)
    photo = pristine["full.jpg"]
    pool = ExiftoolPool(exiftool_bin, size=1)
    if slow_close:
        real_close = Exiftool.close

        def late_close(self):
            time.sleep(1.0)
            real_close(self)

        monkeypatch.setattr(Exiftool, "close", late_close)
    slow = threading.Thread(target=lambda: pool.read_json(photo, "-if", "sleep 1; 1", "-IPTC:City"))
    slow.start()
    deadline = time.monotonic() + 10
    while pool.busy < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    waited: list = []

    def queued() -> None:
        try:
            pool.read_json(photo, "-IPTC:City")
            waited.append("answered")
        except ExiftoolError as e:
            waited.append(str(e))

    second = threading.Thread(target=queued)
    second.start()
    time.sleep(0.3)  # queued behind the slow command
    pool.close()  # waits for the slow command to end
    slow.join(timeout=30)
    second.join(timeout=30)
    assert waited and "closed" in waited[0]
    assert pool.pids == []  # no process was started again


def test_close_is_quick(exiftool_bin):
    # closing used to wait 5 s per process for an exit that only came with the end of its input
    for tool in (Exiftool(exiftool_bin), ExiftoolPool(exiftool_bin)):
        tool.execute("-ver")
        started = time.monotonic()
        tool.close()
        assert time.monotonic() - started < 2
