"""`emowatch run` as a real process: kill -9 mid-backfill, SIGTERM, a second instance, `emowatch status`.

The daemon runs through the real CLI in a subprocess; the test reads its JSON log line by line
(blocking reads with timeouts, no sleeps) to know where it is.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner
from PIL import Image

from daemon_helpers import keywords, temp_files
from emowatch.cli.main import cli
from emowatch.daemon.fingerprint import Stamp
from emowatch.daemon.ledger import Ledger
from models import make_model
from photos import save

TIMEOUT = 60.0
N_PHOTOS = 60


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMOWATCH_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def shoot_source(tmp_path_factory):
    sources = [save(tmp_path_factory.mktemp("src") / f"{i}.jpg", size=(640, 480), seed=i) for i in range(6)]
    return [s.read_bytes() for s in sources]


@pytest.fixture
def shoot(tmp_path, shoot_source):
    """A folder tree of photos already there when the daemon starts, and one broken file."""
    return _shoot(tmp_path, shoot_source, N_PHOTOS)


@pytest.fixture
def long_shoot(tmp_path, shoot_source):
    """As `shoot`, with four times the photos: a backfill that a signal sent after its first few
    photos still finds under way, however late the test gets to send it."""
    return _shoot(tmp_path, shoot_source, 4 * N_PHOTOS)


def _shoot(tmp_path, shoot_source, count):
    watch = tmp_path / "Pictures"
    photos = []
    for i in range(count):
        path = watch / f"day{i % 3}" / f"IMG_{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        # a few distinct pictures, each copied many times (a burst): copies are separate photos
        path.write_bytes(shoot_source[i % len(shoot_source)])
        photos.append(path)
    (watch / "day0" / "broken.jpg").write_text("not a photo")
    return watch, photos


class Daemon:
    """`emowatch run` in a subprocess, its stdout read line by line by a thread."""

    def __init__(self, args: list, env: dict):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from emowatch.cli.main import main; main()", "run", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, name="test-reader")
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self) -> str:
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:  # say what the daemon did last, for a failure that is hard to repeat
            raise AssertionError(f"no line from the daemon in {TIMEOUT:.0f} s; its last lines:\n"
                                 + "".join(self.seen[-15:])) from None
        assert line is not None, f"daemon exited: {self.proc.wait()} {self.proc.stderr.read()}"
        self.seen.append(line)
        return line

    def until(self, event: str, count: int = 1) -> list[dict]:
        """Read JSON lines until `count` events of kind `event` were seen; returns them all."""
        found = []
        while len(found) < count:
            record = json.loads(self.next_line())
            if record["event"] == event:
                found.append(record)
        return found

    def finish(self, sig=signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(TIMEOUT)
            self.proc.stderr.close()
        while True:  # keep what was still in the pipe
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.seen.append(line)
        return rc


def _args(tmp_path, model, watch, *extra):
    return ["--json-log", "--no-explain", "--model", model, "--min-confidence", "0", "--state", tmp_path / "state",
            "--quiet-seconds", "0.2", *extra, watch]


def _check_every_photo_tagged_once_and_whole(photos, ledger_dir):
    tags = keywords(photos)
    for p in photos:
        emotion = [k for k in tags[str(p)] if k.startswith("Emotion|")]
        assert len(emotion) == 1, (p, tags[str(p)])
        with Image.open(p) as im:
            im.load()
    reader = Ledger.open_readonly(ledger_dir)
    try:
        assert reader.integrity_ok()
        for p in photos:
            entry = reader.get(str(p))
            assert entry is not None and entry.status == "done", p
            assert entry.stamp == Stamp.of(p)  # the ledger knows the file exactly as it is
    finally:
        reader.close()


def test_kill_9_in_the_middle_of_a_backfill_loses_nothing(tmp_path, env, shoot):
    watch, photos = shoot
    model = make_model(tmp_path / "tiny.onnx")
    first = Daemon(_args(tmp_path, model, watch), env)
    try:
        total = first.until("backfill-counted")[0]["total"]
        assert total == N_PHOTOS + 1
        first.until("tagged", 8)
    finally:
        first.finish(signal.SIGKILL)
    assert first.proc.returncode == -signal.SIGKILL
    with Ledger.open(tmp_path / "state") as ledger:  # the lock died with the process
        done_before = len(ledger.entries("done"))
    assert 8 <= done_before < N_PHOTOS, "the backfill was not interrupted"

    second = Daemon(_args(tmp_path, model, watch), env)
    try:
        left = second.until("backfill-counted")[0]["total"]
        # nothing recorded is redone; the broken file may have been recorded already
        assert N_PHOTOS - done_before <= left <= N_PHOTOS + 1 - done_before
        outcomes = 0
        while outcomes < left:
            record = json.loads(second.next_line())
            # every photo the count found ends in one of these. "skipped" (shown: copied, moved,
            # metadata) is for the photo in hand at the kill when its keywords reached the disk
            # but not the ledger, and it came out byte for byte like a tagged copy of its burst
            outcomes += record["event"] in ("tagged", "failed", "skipped", "vanished")
    finally:
        assert second.finish() == 0
    tagged_twice = [line for line in first.seen + second.seen if '"event": "tagged"' in line]
    paths = [json.loads(line)["path"] for line in tagged_twice]
    assert len(paths) - len(set(paths)) <= 1  # at most the photo in hand at the kill is redone
    _check_every_photo_tagged_once_and_whole(photos, tmp_path / "state")
    assert temp_files(watch) == []

    # `emowatch status` reads the ledger
    result = CliRunner().invoke(cli, ["status", "--state", str(tmp_path / "state"), "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["done"], summary["failed"]) == (N_PHOTOS, 1)
    assert "not a photo" in summary["failure_reasons"][0]["reason"]
    result = CliRunner().invoke(cli, ["status", "--state", str(tmp_path / "state"), "--failed"], env=env)
    assert result.exit_code == 0 and "broken.jpg" in result.output and "not a photo" in result.output


def test_sigterm_finishes_the_photo_in_hand_and_exits_0(tmp_path, env, long_shoot):
    watch, photos = long_shoot
    model = make_model(tmp_path / "tiny.onnx")
    daemon = Daemon(_args(tmp_path, model, watch), env)
    try:
        daemon.until("tagged", 3)
    finally:
        rc = daemon.finish(signal.SIGTERM, timeout=10)
    assert rc == 0
    assert json.loads(daemon.seen[-1])["event"] == "stopped"
    reader = Ledger.open_readonly(tmp_path / "state")
    try:
        assert reader.integrity_ok()
        done = {e.path: e for e in reader.entries("done")}
    finally:
        reader.close()
    assert 3 <= len(done) < len(photos)
    tags = keywords(photos)
    for p in photos:  # consistent: keywords on disk exactly where the ledger says done
        has = any(k.startswith("Emotion|") for k in tags[str(p)])
        assert has == (str(p) in done), p
        if has:
            assert done[str(p)].stamp == Stamp.of(p)
    assert temp_files(watch) == []


def test_a_second_daemon_on_the_same_state_folder_refuses_clearly(tmp_path, env):
    watch = tmp_path / "Pictures"
    watch.mkdir()
    model = make_model(tmp_path / "tiny.onnx")
    args = ["--no-explain", "--model", model, "--state", tmp_path / "state", watch]
    first = Daemon(args, env)  # not a terminal, no --json-log: plain lines
    try:
        assert "watching" in first.next_line()
        result = CliRunner().invoke(cli, ["run", *map(str, args)], env=env)
        assert result.exit_code == 1
        assert f"another emowatch daemon (pid {first.proc.pid}) is already using the state folder" in result.output
        assert "--state" in result.output
    finally:
        assert first.finish() == 0
    assert any("stopped" in line for line in first.seen)


def test_run_refuses_a_path_that_is_not_a_folder(tmp_path, env):
    result = CliRunner().invoke(cli, ["run", "--state", str(tmp_path / "s"), str(tmp_path / "nope")], env=env)
    assert result.exit_code == 2 and "no such folder" in result.output


@pytest.mark.parametrize("how", ["renamed", "deleted"])
def test_a_watched_folder_that_goes_away_is_an_error_and_ends_the_daemon(tmp_path, env, how):
    # nothing can arrive through it any more: watching on in silence would tag nothing, ever
    watch = tmp_path / "Pictures"
    watch.mkdir()
    model = make_model(tmp_path / "tiny.onnx")
    daemon = Daemon(_args(tmp_path, model, watch), env)
    try:
        daemon.until("backfill-done")
        if how == "renamed":
            watch.rename(tmp_path / "Pictures-old")
        else:
            watch.rmdir()
            watch.mkdir()  # a new folder of the same name is not the one being watched
        [error] = daemon.until("error")
        assert error["path"] == str(watch) and "deleted or moved away" in error["reason"]
        daemon.until("stopped")
        assert daemon.proc.wait(TIMEOUT) == 1  # by itself
    finally:
        daemon.finish()


@pytest.mark.parametrize("json_log", [True, False], ids=["json-log", "log"])
def test_a_daemon_whose_reader_goes_away_stops_and_says_so_by_its_exit_code(tmp_path, env, shoot, json_log):
    # `emowatch run … | head -1`: rich ended the backfill thread with SystemExit (the photos
    # already there were never tagged, exit 0), and the JSON log failed on every event
    watch, photos = shoot
    model = make_model(tmp_path / "m.onnx")
    args = [a for a in _args(tmp_path, model, watch) if json_log or a != "--json-log"]
    proc = subprocess.Popen([sys.executable, "-c", "from emowatch.cli.main import main; main()", "run",
                             *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()
    try:
        assert proc.wait(timeout=TIMEOUT) == 141
    finally:
        if proc.poll() is None:
            proc.kill()
    assert b"Traceback" not in proc.stderr.read() and not temp_files(watch)
