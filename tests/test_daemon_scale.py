"""A photographer's whole library: more folders than inotify may watch, restarts over many photos.

The watch limit is lowered for real, in a user namespace of its own (`unshare -Ur`; the limit of
a namespace is /proc/sys/user/max_inotify_watches), where a small script runs the real Watcher.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

WATCH_SCRIPT = textwrap.dedent('''
    import json, os, queue, shutil, sys, threading, time
    from pathlib import Path
    from emowatch.daemon.paths import PathFilter
    from emowatch.daemon.watcher import Watcher
    from emowatch.settings import DaemonSettings

    Path("/proc/sys/user/max_inotify_watches").write_text(sys.argv[2])
    root = Path(sys.argv[1])
    seen, told, was_told = queue.Queue(), [], threading.Event()

    def tell(folders, why):
        told.append([folders, why])
        was_told.set()

    watcher = Watcher([root], PathFilter([root], DaemonSettings()), seen.put, poll_interval=0.1,
                      on_unwatched=tell)
    out = {}
    watcher.start()
    try:
        out["at_start"] = list(watcher.scanned)

        def arrives(path):
            path.write_bytes(b"photo")
            while True:
                try:
                    s = seen.get(timeout=10)
                except queue.Empty:
                    return False
                if s.path == str(path):
                    return True

        out["deep"] = arrives(root / "2024" / "05-01" / "event-1" / "IMG_1.jpg")
        if sys.argv[3] == "new-folder":
            (root / "2025" / "new").mkdir(parents=True)
            was_told.wait(10)  # what the folder held before its scan began is the daemon's walk's
            out["new_folder"] = arrives(root / "2025" / "new" / "IMG_2.jpg")
        if sys.argv[3] == "made-again":  # a scanned folder deleted, then made anew at its place
            folder = root / "2024" / "03-01"
            shutil.rmtree(folder)
            deadline = time.monotonic() + 10
            while str(folder) in watcher.scanned and time.monotonic() < deadline:
                time.sleep(0.05)  # until its scan has seen it go (or never does)
            was_told.clear()
            folder.mkdir()
            was_told.wait(10)
            out["made_again"] = arrives(folder / "IMG_3.jpg")
        if sys.argv[3] == "many-new":  # a folder a day, at the limit: scanned, with a few threads
            import emowatch.daemon.watcher as watcher_module
            watcher_module.MOST_SCANNED = 4
            days = [root / f"2025-12-{day:02d}" for day in range(1, 13)]  # in the watched folder
            for day in days:
                was_told.clear()
                day.mkdir(parents=True)
                was_told.wait(0.3)
            out["many_scanned"] = list(watcher.scanned)
            out["many_threads"] = len(watcher._poller.emitters)
            out["many_arrive"] = [arrives(day / "IMG.jpg") for day in (days[0], days[-1])]
        out["told"] = told
    finally:
        watcher.stop()
        watcher.join(10)
    print(json.dumps(out))
''')


@functools.lru_cache(maxsize=None)
def _unshare() -> str | None:
    exe = shutil.which("unshare")
    if exe is None or sys.platform != "linux":
        return None
    probe = subprocess.run([exe, "-Ur", "sh", "-c", "echo 5 > /proc/sys/user/max_inotify_watches"],
                           capture_output=True)
    return exe if probe.returncode == 0 else None


def _watch_with_limit(root: Path, limit: int, *steps: str) -> dict:
    for day in ("01-01", "02-01", "03-01", "04-01", "05-01"):
        for event in ("event-0", "event-1"):
            (root / "2024" / day / event).mkdir(parents=True)
    done = subprocess.run([_unshare(), "-Ur", sys.executable, "-c", WATCH_SCRIPT, str(root), str(limit), *steps, ""],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.skipif(_unshare() is None, reason="needs a user namespace whose inotify limit can be set")
def test_folders_beyond_the_inotify_watch_limit_are_scanned_and_said_so(tmp_path):
    root = tmp_path / "Pictures"
    # the root and 2024 are watched, then the limit is reached: the folders below are not
    out = _watch_with_limit(root, 2, "new-folder")
    assert out["deep"], "a photo in a folder beyond the watch limit was missed"
    assert out["new_folder"], "a photo in a folder made after the limit was reached was missed"
    # the folders below the last watched one, scanned as a whole; then the new one
    assert out["at_start"] == [str(root / "2024" / day) for day in ("01-01", "02-01", "03-01", "04-01", "05-01")]
    [folders, why] = out["told"][0]
    assert folders == [str(root / "2025")]
    assert "max_user_watches (now 2)" in why and "sysctl" in why


@pytest.mark.skipif(_unshare() is None, reason="needs a user namespace whose inotify limit can be set")
def test_a_scanned_folder_deleted_and_made_again_is_scanned_again(tmp_path):
    # its scan ended with the folder, but it was still taken for scanned: a photo put in the
    # folder made anew (an import folder emptied by deleting it, a folder renamed away and
    # back) was never seen
    out = _watch_with_limit(tmp_path / "Pictures", 2, "made-again")
    assert out["made_again"], "a photo in a scanned folder made again was missed"


@pytest.mark.skipif(_unshare() is None, reason="needs a user namespace whose inotify limit can be set")
def test_new_folders_past_the_limit_are_scanned_through_a_few_folders_not_a_thread_each(tmp_path):
    # a thread each, for as long as the daemon ran: 40 daily folders were 46 threads
    root = tmp_path / "Pictures"
    out = _watch_with_limit(root, 2, "many-new")
    assert len(out["many_scanned"]) <= 4 and out["many_threads"] <= 4, out["many_scanned"]
    assert out["many_arrive"] == [True, True]


@pytest.mark.skipif(_unshare() is None, reason="needs a user namespace whose inotify limit can be set")
def test_a_watched_folder_that_cannot_be_watched_at_all_is_scanned_rather_than_a_crash(tmp_path):
    root = tmp_path / "Pictures"
    out = _watch_with_limit(root, 0)
    assert out["at_start"] == [str(root)]
    assert out["deep"], "a photo in the watched folder was missed"


# -- a restart over a library that is all done ------------------------------------------------------
def _library(root: Path, folders: int, per_folder: int) -> list[Path]:
    photos = []
    for f in range(folders):
        folder = root / f"{2020 + f // 10}" / f"{f % 10:02d}-01" / "event"
        folder.mkdir(parents=True)
        for i in range(per_folder):
            path = folder / f"IMG_{f:03d}_{i}.jpg"
            path.write_bytes(b"\xff\xd8\xff\xe0" + f"photo {f} {i}".encode() + b"\xff\xd9")
            photos.append(path)
    return photos


def test_a_restart_over_a_library_that_is_all_done_reads_each_folder_once_and_asks_the_ledger_per_folder(
        tmp_path, monkeypatch):
    import os

    from emowatch.daemon import backfill as backfill_module
    from emowatch.daemon.backfill import Backfill
    from emowatch.daemon.events import BACKFILL_COUNTED, BACKFILL_DONE
    from emowatch.daemon.fingerprint import Stamp, fingerprint
    from emowatch.daemon.gate import Gate
    from emowatch.daemon.ledger import Ledger
    from emowatch.daemon.paths import PathFilter
    from emowatch.daemon.queues import Intake
    from emowatch.settings import DaemonSettings

    root = tmp_path / "Pictures"
    photos = _library(root, folders=30, per_folder=10)
    odd = root / os.fsdecode(b"caf\xe9.jpg")  # a Latin-1 name from an old card
    odd.write_bytes(b"\xff\xd8\xff\xe0odd\xff\xd9")
    with Ledger.open(tmp_path / "state") as ledger:
        for path in [*photos, odd]:
            ledger.record_done(str(path), Stamp.of(path), fingerprint(path), model="m@1", label="positive",
                               confidence=0.9, uncertain=False, keywords=(), action="embedded", attempts=1,
                               seconds=0.1)
        changed, new = photos[123], photos[200].parent / "NEW.jpg"
        changed.write_bytes(b"\xff\xd8\xff\xe0edited while the daemon was down\xff\xd9")
        new.write_bytes(b"\xff\xd8\xff\xe0new\xff\xd9")

        queries, listed = [], []
        real_query, real_scandir = ledger._query, os.scandir
        monkeypatch.setattr(ledger, "_query", lambda *a: queries.append(a) or real_query(*a))
        monkeypatch.setattr(backfill_module.os, "scandir", lambda p: listed.append(p) or real_scandir(p))
        events, intake = [], Intake(backfill_capacity=1000)
        Backfill([str(root)], PathFilter([root], DaemonSettings()), Gate(ledger, "m@1"), intake,
                 observe=lambda seen: None, emit=events.append, quiet=0.0, started=0.0).run()

    counted = next(e for e in events if e.kind == BACKFILL_COUNTED)
    assert (counted.total, counted.seen) == (2, 302)
    assert next(e for e in events if e.kind == BACKFILL_DONE).total == 2
    queued = [intake.get(0).path for _ in range(len(intake))]
    assert sorted(queued) == sorted([str(changed), str(new)])  # nothing done is redone
    folders = 1 + 3 + 30 + 30  # the root, the years, the days, the events
    assert len(listed) == folders, "a folder was listed more than once"
    # one question per folder that holds photos and one for each name without a row (new, odd),
    # then the two photos to do are looked at again as they are queued (their folder, the new one)
    assert len(queries) <= 31 + 2 + 2 * 2, f"{len(queries)} ledger queries for 302 photos in 31 folders"


def test_a_photo_seen_by_a_scan_beside_inotify_is_taken_after_one_quiet_interval(tmp_path):
    # a folder past the watch limit is scanned: no close event will ever come for its photos,
    # so they must not wait as for a writer that has not closed yet (3 quiet intervals)
    from photos import save
    from watchdog.events import FileCreatedEvent

    from emowatch.daemon.paths import PathFilter
    from emowatch.daemon.settle import Settler
    from emowatch.daemon.watcher import _Handler
    from emowatch.settings import DaemonSettings

    class Clock:
        t = 1000.0

        def time(self):
            return self.t

        monotonic = time

    clock, ready = Clock(), []
    settler = Settler(lambda path, seen, attempt: ready.append(path), quiet=1.0, close_events=True, clock=clock)
    accept = PathFilter([tmp_path], DaemonSettings())
    scanned, written = save(tmp_path / "scanned.jpg", seed=1), save(tmp_path / "written.jpg", seed=2)
    _Handler(accept, settler.observe, walk_new_dirs=True, scans=True).on_any_event(FileCreatedEvent(str(scanned)))
    _Handler(accept, settler.observe, walk_new_dirs=False).on_any_event(FileCreatedEvent(str(written)))
    settler.step(clock.t)
    clock.t += 1.1
    settler.step(clock.t)
    assert ready == [str(scanned)]  # the one inotify saw created waits for its close


def test_many_folders_past_the_limit_are_scanned_through_a_few_folders_above_them():
    from emowatch.daemon.coverage import fewer

    events = [f"/p/{year}/{day:02d}/event-{e}" for year in (2020, 2021) for day in range(20) for e in range(2)]
    assert fewer(events, ["/p"], 80) == events
    assert fewer(events, ["/p"], 40) == [f"/p/{year}/{day:02d}" for year in (2020, 2021) for day in range(20)]
    assert fewer(events, ["/p"], 32) == ["/p/2020", "/p/2021"]
    assert fewer(events, ["/p"], 1) == ["/p"]
    assert fewer(["/p", "/q"], ["/p", "/q"], 1) == ["/p", "/q"]  # never above a watched folder
