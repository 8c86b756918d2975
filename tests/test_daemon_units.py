"""The daemon's pieces on their own: completeness, paths, fingerprints, ledger, gate, settler, queues, views."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
from pathlib import Path

import pytest
from rich.console import Console

from emowatch.daemon.complete import is_complete
from emowatch.daemon.events import (BACKFILL_COUNTED, BACKFILL_DONE, FAILED, SKIPPED, STOPPED, TAGGED, WATCHING, WORKING,
                                    DaemonEvent, Stats)
from emowatch.daemon.fingerprint import Stamp, fingerprint
from emowatch.daemon.gate import Gate
from emowatch.daemon.ledger import Ledger
from emowatch.daemon.paths import PathFilter
from emowatch.daemon.queues import Buffer, Intake, Job
from emowatch.daemon.serve import serve
from emowatch.daemon.settle import ARRIVED, CLOSED, FOUND, GONE, WRITTEN, Seen, Settler
from emowatch.daemon.status import Summary, summarize, summary_table
from emowatch.daemon.view import LiveView, LogView, event_json, event_line
from emowatch.daemon.writers import OpenForWriting, held_for_writing
from emowatch.errors import LedgerError
from emowatch.settings import DaemonSettings
from emowatch.tagging import TagResult
from photos import save


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def monotonic(self) -> float:
        return self.t

    def time(self) -> float:
        return 1_700_000_000.0 + self.t


# -- completeness ------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif", ".heic"])
def test_whole_photos_are_complete_and_cut_ones_are_not(tmp_path, suffix):
    whole = save(tmp_path / f"whole{suffix}", size=(200, 150))
    assert is_complete(whole)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    assert not is_complete(cut)


def test_jpeg_with_zero_padding_after_eoi_is_complete_and_empty_file_is_not(tmp_path):
    photo = save(tmp_path / "a.jpg")
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(photo.read_bytes() + b"\x00" * 100)
    assert is_complete(padded)
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert not is_complete(tmp_path / "empty.jpg")


def test_unknown_content_is_left_to_the_decoder(tmp_path):
    (tmp_path / "text.jpg").write_text("not a photo at all")
    assert is_complete(tmp_path / "text.jpg")


# -- paths ------------------------------------------------------------------------------------------
def test_path_filter_takes_photos_and_nothing_of_ours_or_half_done(tmp_path):
    root = tmp_path / "Pictures"
    accept = PathFilter([root], DaemonSettings(ignore=("*_thumb.jpg",)))
    yes = ["a.jpg", "b.JPEG", "sub/dir/c.png", "d.cr2", "e.heic"]
    no = [".hidden.jpg", ".a.jpg.emowatch-tmp-1a2b3c4d", "a.jpg_exiftool_tmp", "a.jpg.part",
          "a.jpg.crdownload", "a.xmp", "a.CR2.xmp", "notes.txt", ".emowatch/a.jpg.heatmap.png",
          "a.jpg.heatmap.png", "a.jpg.regions.png", ".git/x.jpg", "sub/.cache/y.jpg", "x_thumb.jpg"]
    for name in yes:
        assert accept.accepts(root / name), name
    for name in no:
        assert not accept.accepts(root / name), name
    assert not accept.accepts(tmp_path / "elsewhere.jpg")
    # a watched folder may itself live under a hidden one
    hidden_root = tmp_path / ".local" / "photos"
    assert PathFilter([hidden_root], DaemonSettings()).accepts(hidden_root / "a.jpg")


# -- fingerprint ---------------------------------------------------------------------------------
def test_fingerprint_follows_content_not_name_or_time(tmp_path):
    a = save(tmp_path / "a.jpg", seed=1)
    b = tmp_path / "moved" / "renamed.jpg"
    b.parent.mkdir()
    shutil.copyfile(a, b)
    os.utime(b, (1, 1))
    assert fingerprint(a) == fingerprint(b)
    assert Stamp.of(a) != Stamp.of(b)
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(300_000))
    before = fingerprint(big)
    with open(big, "r+b") as f:  # a change in the tail (where a re-encode or a trailer lands)
        f.seek(-10, os.SEEK_END)
        f.write(b"0123456789")
    assert fingerprint(big) != before


# -- ledger -----------------------------------------------------------------------------------------
def _done(ledger, path, stamp, fp, model="m@1", label="positive"):
    ledger.record_done(path, stamp, fp, model=model, label=label, confidence=0.9, uncertain=False,
                       keywords=("Emotion|Positive",), action="embedded", attempts=1, seconds=0.1)


def test_ledger_records_survive_reopening_and_one_daemon_per_state_dir(tmp_path):
    state = tmp_path / "state"
    stamp = Stamp(10, 20, 30)
    with Ledger.open(state) as ledger:
        _done(ledger, "/p/a.jpg", stamp, "f1")
        ledger.record_failed("/p/b.jpg", Stamp(1, 2, 3), "f2", model="m@1", error="corrupt",
                             error_type="DecodeError", attempts=1, seconds=0.0)
        with pytest.raises(LedgerError, match=r"another emowatch daemon \(pid \d+\) is already using"):
            Ledger.open(state)
        reader = Ledger.open_readonly(state)  # status works while a daemon holds the lock
        assert reader.get("/p/a.jpg").status == "done"
        reader.close()
    with Ledger.open(state) as ledger:  # the lock went with the first one
        a = ledger.get("/p/a.jpg")
        assert (a.status, a.stamp, a.fingerprint, a.keywords) == ("done", stamp, "f1", ("Emotion|Positive",))
        assert ledger.get("/p/b.jpg").error == "corrupt"
        assert ledger.integrity_ok()
        s = summarize(ledger)
        assert (s.photos, s.done, s.failed, s.labels) == (2, 1, 1, {"positive": 1})
        assert s.reasons == [("DecodeError: corrupt", 1)]
        assert s.gone == 2  # neither /p/a.jpg nor /p/b.jpg is on this disk


def test_status_counts_recorded_photos_that_are_gone(tmp_path):
    here, gone = save(tmp_path / "here.jpg"), save(tmp_path / "gone.jpg", seed=2)
    with Ledger.open(tmp_path / "state") as ledger:
        for path in (here, gone):
            _done(ledger, str(path), Stamp(1, 2, 3), path.name)
        gone.unlink()
        s = summarize(ledger)
    assert (s.photos, s.done, s.gone) == (2, 2, 1)
    assert s.to_json()["gone"] == 1


@pytest.mark.parametrize("labels,uncertain,shown", [
    ({}, 1, "done  1 (1 uncertain)"),  # was "1 (, 1 uncertain)"
    ({"positive": 2}, 1, "done  3 (2 positive, 1 uncertain)"),
    ({"positive": 3}, 0, "done  3 (3 positive)"),
    ({}, 0, "done  0"),
])
def test_status_done_line_lists_labels_and_uncertain(labels, uncertain, shown):
    s = Summary("/state/ledger.sqlite3", sum(labels.values()) + uncertain, sum(labels.values()) + uncertain,
                0, uncertain, labels, {}, None, [])
    console = Console(file=io.StringIO(), width=100)
    console.print(summary_table(s))
    lines = [re.sub(r" {2,}", "  ", line.strip()) for line in console.file.getvalue().splitlines()]
    assert shown in lines, lines


def test_the_daemon_takes_every_format_tag_reads_by_default(tmp_path):
    # an .avif landing in a watched folder was skipped without a word, though `tag` reads it
    accept = PathFilter([tmp_path], DaemonSettings())
    for name in ("a.jpg", "b.PNG", "c.tif", "d.webp", "e.heic", "f.avif", "g.dng", "h.cr3", "i.nef"):
        assert accept.accepts(tmp_path / name), name
    # and the rarer names of those types: Canon's .hif, .jpe, Pentax .pef, Samsung .srw, ...
    from emowatch.formats import PHOTO_EXTENSIONS
    missed = [e for e in sorted(PHOTO_EXTENSIONS) if not accept.accepts(tmp_path / f"photo{e}")]
    assert not missed


def test_readonly_ledger_that_does_not_exist_says_so(tmp_path):
    with pytest.raises(LedgerError, match="has not run"):
        Ledger.open_readonly(tmp_path / "nothing")


def test_status_before_any_run_is_an_empty_summary_not_an_error(tmp_path):
    from click.testing import CliRunner
    from emowatch.cli.main import cli
    state = ["--state", str(tmp_path / "never")]
    shown = CliRunner().invoke(cli, ["status", *state])
    assert shown.exit_code == 0, shown.output
    assert "has not run" in shown.output and re.search(r"photos\s+0", shown.output)
    as_json = CliRunner().invoke(cli, ["status", "--json", *state])
    assert as_json.exit_code == 0 and json.loads(as_json.output)["photos"] == 0
    failed = CliRunner().invoke(cli, ["status", "--failed", "--json", *state])
    assert (failed.exit_code, failed.output) == (0, "")
    assert not (tmp_path / "never").exists()  # looking creates nothing


def test_status_of_a_state_folder_that_cannot_be_looked_into_is_one_line(tmp_path, monkeypatch):
    # given by EMOWATCH_DAEMON_STATE_DIR (no flag check on that way): an OSError traceback
    from click.testing import CliRunner
    from emowatch.cli.main import cli
    monkeypatch.setenv("EMOWATCH_DAEMON_STATE_DIR", str(tmp_path / ("a" * 300)))  # ENAMETOOLONG, root too
    shown = CliRunner().invoke(cli, ["status"])
    assert shown.exit_code == 1 and "cannot read the state folder: File name too long" in shown.output
    assert shown.exception is None or isinstance(shown.exception, SystemExit)


def test_a_ledger_of_the_first_schema_is_opened_and_kept(tmp_path):
    import sqlite3

    state = tmp_path / "state"
    state.mkdir()
    old = sqlite3.connect(state / "ledger.sqlite3")
    old.executescript("""CREATE TABLE photos (path TEXT PRIMARY KEY, status TEXT NOT NULL,
        fingerprint TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
        model TEXT NOT NULL, label TEXT, confidence REAL, uncertain INTEGER NOT NULL DEFAULT 0,
        keywords TEXT NOT NULL DEFAULT '[]', action TEXT, error TEXT, error_type TEXT,
        attempts INTEGER NOT NULL DEFAULT 0, seconds REAL, first_seen REAL NOT NULL, updated REAL NOT NULL);
        INSERT INTO photos VALUES ('/p/a.jpg', 'done', 'ff', 1, 2, 3, 'm@1', 'positive', 0.9, 0,
        '["Emotion|Positive"]', 'embedded', NULL, NULL, 1, 0.1, 1.0, 1.0);
        PRAGMA user_version=1;""")
    old.close()
    with Ledger.open(state) as ledger:
        entry = ledger.get("/p/a.jpg")
        assert (entry.label, entry.fingerprint, entry.image) == ("positive", "ff", None)
        ledger.record_done("/p/b.jpg", Stamp(1, 2, 4), "ee", model="m@1", label="other", confidence=0.7,
                           uncertain=False, keywords=(), action="embedded", attempts=1, seconds=0.1, image="abc")
        assert ledger.get("/p/b.jpg").image == "abc"


def test_a_relative_state_folder_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Ledger.open(Path("state")) as ledger:
        _done(ledger, "/p/a.jpg", Stamp(1, 2, 3), "f")
    reader = Ledger.open_readonly(Path("state"))
    assert reader.get("/p/a.jpg") is not None
    reader.close()


# -- gate -------------------------------------------------------------------------------------------
def test_image_digest_sees_the_picture_not_the_metadata_around_it(tmp_path):
    import subprocess

    import numpy as np
    from PIL import Image

    from emowatch.daemon.picture import image_digest
    from emowatch.xmp import jpeg

    def exiftool(*args):
        subprocess.run(["exiftool", "-q", "-overwrite_original", *map(str, args)], check=True)

    photo = save(tmp_path / "a.jpg")
    before = image_digest(photo)
    exiftool("-XMP-xmp:Rating=3", "-IPTC:Keywords=Sea", "-EXIF:Artist=Me", photo)  # metadata only
    assert image_digest(photo) == before
    exiftool("-n", "-Orientation=6", photo)  # shown turned: another picture to the model
    assert image_digest(photo) != before
    turned = image_digest(photo)
    data = bytearray(photo.read_bytes())
    dqt = next(seg for seg in jpeg.layout(bytes(data)).segments if seg.marker == 0xDB)
    data[dqt.body + 1] = min(255, data[dqt.body + 1] * 3)  # the scan as it was, decoded otherwise
    photo.write_bytes(bytes(data))
    assert image_digest(photo) != turned

    indices = np.arange(64 * 48, dtype=np.uint8).reshape(48, 64) % 16
    pngs = []
    for i, palette in enumerate([list(range(48)), list(range(48))[::-1]]):
        image = Image.fromarray(indices, "P")
        image.putpalette(palette)
        image.save(tmp_path / f"p{i}.png")
        pngs.append(tmp_path / f"p{i}.png")
    assert image_digest(pngs[0]) != image_digest(pngs[1])  # same pixel data, another palette
    plain = image_digest(pngs[0])
    exiftool("-XMP-xmp:Rating=3", pngs[0])
    assert image_digest(pngs[0]) == plain
    # TIFF, DNG, WebP, HEIC and AVIF: tests/test_daemon_picture.py


def test_gate_settles_by_stamp_then_fingerprint_and_follows_moves_and_copies(tmp_path):
    photo = save(tmp_path / "a.jpg", seed=3)
    with Ledger.open(tmp_path / "state") as ledger:
        gate = Gate(ledger, "m@1")
        first = gate.check(str(photo))
        assert (first.work, first.reason) == (True, "new")
        _done(ledger, str(photo), first.stamp, first.fingerprint)
        assert gate.check(str(photo)).reason == "done"
        assert gate.quick(str(photo), Stamp.of(photo))
        os.utime(photo, (5, 5))  # touched, same content
        assert gate.check(str(photo)).reason == "done"
        assert ledger.get(str(photo)).stamp == Stamp.of(photo)
        copy = tmp_path / "copy.jpg"
        shutil.copy(photo, copy)
        assert gate.check(str(copy)).reason == "copied"
        moved = tmp_path / "sub" / "b.jpg"
        moved.parent.mkdir()
        photo.rename(moved)
        assert gate.check(str(moved)).reason == "moved"
        assert ledger.get(str(photo)) is None and ledger.get(str(moved)) is not None
        assert Gate(ledger, "m@2").check(str(moved)).reason == "done"
        assert Gate(ledger, "m@2", retag_on_model_change=True).check(str(moved)).reason == "model"
        moved.write_bytes(b"changed content")
        assert gate.check(str(moved)).reason == "changed"
        assert gate.check(str(tmp_path / "gone.jpg")).reason == "vanished"


def test_gate_a_renamed_photo_with_an_identical_copy_is_a_move_not_a_copy(tmp_path):
    photo = save(tmp_path / "a.jpg", seed=3)
    dup = tmp_path / "dup.jpg"
    shutil.copy(photo, dup)
    moves = []
    with Ledger.open(tmp_path / "state") as ledger:
        gate = Gate(ledger, "m@1", on_moved=lambda old, new: moves.append((old, new)))
        for path in (photo, dup):
            first = gate.check(str(path))
            _done(ledger, str(path), first.stamp, first.fingerprint)
        renamed = tmp_path / "b.jpg"
        photo.rename(renamed)
        assert gate.check(str(renamed)).reason == "moved"
        assert moves == [(str(photo), str(renamed))] and ledger.get(str(dup)) is not None
        third = tmp_path / "c.jpg"
        shutil.copy(dup, third)
        assert gate.check(str(third)).reason == "copied" and len(moves) == 1


@pytest.mark.parametrize("action", ["sidecar", "unchanged"])
def test_gate_a_copy_of_a_photo_whose_keywords_are_in_its_sidecar_needs_its_own(tmp_path, action):
    # "unchanged": the daemon re-tagged a photo `emowatch tag` had already tagged in its sidecar
    photo = save(tmp_path / "a" / "p.tif", seed=4)
    (tmp_path / "a" / "p.tif.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    with Ledger.open(tmp_path / "state") as ledger:
        gate = Gate(ledger, "m@1")
        first = gate.check(str(photo))
        ledger.record_done(str(photo), first.stamp, first.fingerprint, model="m@1", label="positive",
                           confidence=0.9, uncertain=False, keywords=(), action=action, attempts=1,
                           seconds=0.1)
        copy = tmp_path / "b" / "p.tif"
        copy.parent.mkdir()
        shutil.copy(photo, copy)
        assert gate.check(str(copy)).work  # its keywords stayed beside the original
        shutil.copy(tmp_path / "a" / "p.tif.xmp", tmp_path / "b" / "p.tif.xmp")
        assert gate.check(str(copy)).reason == "copied"  # now they went along


# -- settler ----------------------------------------------------------------------------------------
class Recorder:
    def __init__(self):
        self.ready: list[str] = []
        self.waits: list[tuple[str, str]] = []

    def on_ready(self, path, seen, attempt):
        self.ready.append(path)

    def on_wait(self, path, why):
        self.waits.append((path, why))


def _settler(clock, rec, close_events=True, max_checks=3):
    return Settler(rec.on_ready, quiet=1.0, close_events=close_events, max_checks=max_checks, clock=clock,
                   on_wait=rec.on_wait)


def _tick(settler, clock, times, seconds=1.1):
    """Let `times` steps of `seconds` pass, the settler looking at each."""
    for _ in range(times):
        clock.t += seconds
        settler.step(clock.t)


def test_settler_waits_for_quiet_after_close(tmp_path):
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec)
    photo = save(tmp_path / "a.jpg")
    s.observe(Seen(WRITTEN, str(photo)))
    s.observe(Seen(CLOSED, str(photo)))
    s.step(clock.t)
    clock.t += 0.5
    s.step(clock.t)
    assert rec.ready == []
    clock.t += 0.6
    s.step(clock.t)
    assert rec.ready == [str(photo)]
    clock.t += 10
    s.step(clock.t)
    assert rec.ready == [str(photo)]  # handed on once


def test_settler_holds_a_file_open_for_writing_and_restarts_the_wait_when_it_changes(tmp_path):
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec)
    data = save(tmp_path / "src.jpg").read_bytes()
    target = tmp_path / "a.jpg"
    target.write_bytes(data[:1000])
    s.observe(Seen(WRITTEN, str(target)))  # created, no close yet
    s.step(clock.t)
    clock.t += 1.5
    s.step(clock.t)
    assert rec.ready == []  # a writer still holds it: wait for the close
    target.write_bytes(data)  # grows; the stamp moves
    clock.t += 2.0
    s.step(clock.t)
    assert rec.ready == []
    s.observe(Seen(CLOSED, str(target)))
    s.step(clock.t)
    clock.t += 0.9
    s.step(clock.t)
    assert rec.ready == []
    clock.t += 0.2
    s.step(clock.t)
    assert rec.ready == [str(target)]


def test_settler_rechecks_incomplete_files_with_backoff_then_lets_the_decoder_decide(tmp_path):
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec, close_events=False, max_checks=3)
    data = save(tmp_path / "src.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:-100])
    s.observe(Seen(ARRIVED, str(cut)))
    for _ in range(2):
        clock.t += 1.01
        s.step(clock.t)
    assert ("%s" % cut, "incomplete") in rec.waits and rec.ready == []
    clock.t += 2.01  # second backoff (2 s) over
    s.step(clock.t)
    assert rec.waits.count((str(cut), "incomplete")) == 2 and rec.ready == []
    clock.t += 4.01
    s.step(clock.t)
    assert rec.ready == [str(cut)]


def test_settler_waits_for_the_close_of_an_unfinished_file_a_writer_holds_open(tmp_path):
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec, max_checks=2)
    data = save(tmp_path / "src.jpg").read_bytes()
    target = tmp_path / "a.jpg"
    target.write_bytes(data[:-500])
    s.observe(Seen(WRITTEN, str(target)))
    s.observe(Seen(FOUND, str(target)))  # the backfill walk found it too: changes nothing
    s.step(clock.t)
    for _ in range(20):  # a stalled copy: minutes without a byte
        clock.t += 30
        s.step(clock.t)
    assert rec.ready == [] and rec.waits.count((str(target), "incomplete")) > 2
    target.write_bytes(data)
    s.observe(Seen(CLOSED, str(target)))
    s.step(clock.t)
    clock.t += 1.1
    s.step(clock.t)
    assert rec.ready == [str(target)]


def test_a_whole_looking_file_its_writer_still_holds_is_not_taken(tmp_path):
    # a JPEG written whole, then (after a pause) a trailer appended by the same open handle:
    # taking it in the pause would leave the trailer in the replaced file
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec)
    data = save(tmp_path / "src.jpg").read_bytes()
    target = tmp_path / "motion.jpg"
    with open(target, "wb") as writer:
        writer.write(data)
        writer.flush()
        s.observe(Seen(WRITTEN, str(target)))  # created, no close yet
        _tick(s, clock, 6)
        assert rec.ready == [] and (str(target), "writing") in rec.waits
        writer.write(data)  # the trailer: a second JPEG, as a preview is
    s.observe(Seen(CLOSED, str(target)))
    _tick(s, clock, 3)
    assert rec.ready == [str(target)]


def test_a_created_file_no_one_holds_is_taken_without_its_close(tmp_path):
    # a hard link, or a writer that closed before the folder's watch: no close event comes
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec)
    target = save(tmp_path / "a.jpg")
    s.observe(Seen(WRITTEN, str(target)))
    _tick(s, clock, 4)
    assert rec.ready == [str(target)]


def test_a_file_that_cannot_be_read_is_handed_on_for_the_pipeline_to_record(tmp_path):
    # mode 000 for a user who is not root: dropping it silently left no trace in `status`
    clock, rec = FakeClock(), Recorder()

    def unreadable(path):
        raise PermissionError(13, "Permission denied", path)

    s = Settler(rec.on_ready, quiet=1.0, close_events=True, clock=clock, on_wait=rec.on_wait,
                complete=unreadable)
    photo = save(tmp_path / "a.jpg")
    s.observe(Seen(ARRIVED, str(photo)))
    s.step(clock.t)
    clock.t += 1.1
    s.step(clock.t)
    assert rec.ready == [str(photo)]


def test_a_folder_the_walk_cannot_read_is_told(tmp_path):
    from emowatch.daemon.backfill import walk

    photo = save(tmp_path / "a.jpg")
    errors = []
    found = list(walk([str(tmp_path / "gone"), str(photo), str(tmp_path)],
                      PathFilter([tmp_path], DaemonSettings()),
                      on_error=lambda folder, e: errors.append((folder, type(e).__name__))))
    assert [p for p, _ in found] == [str(photo)]
    assert errors == [(str(photo), "NotADirectoryError")]  # a vanished one is not an error


def test_held_for_writing_sees_write_handles_only(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x")
    assert held_for_writing(str(path)) is False
    with open(path, "rb"):
        assert held_for_writing(str(path)) is False
    with open(path, "ab"):
        assert held_for_writing(str(path)) is True
    with open(path, "r+b"):
        assert held_for_writing(str(path)) is True
    assert held_for_writing(str(path)) is False
    assert held_for_writing(str(path), proc=str(tmp_path / "no-proc")) is None
    # the settler's check asks the kernel first (a read lease: microseconds, never stale)
    cached = OpenForWriting(ttl=60)
    with open(path, "ab"):
        assert cached(str(path)) is True
    assert cached(str(path)) is False


def test_a_copy_that_reopens_the_file_for_each_piece_is_never_taken_half_written(tmp_path):
    # each piece: open, append, close, then a pause longer than the quiet interval; the file is
    # incomplete at every look, but it is still growing: those looks must not use up its checks
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec, max_checks=2)
    data = save(tmp_path / "src.jpg", size=(640, 480)).read_bytes()
    target = tmp_path / "a.jpg"
    pieces = [data[i:i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
    for piece in pieces:
        with open(target, "ab") as f:
            f.write(piece)
        s.observe(Seen(WRITTEN, str(target)))
        s.observe(Seen(CLOSED, str(target)))
        for _ in range(3):  # a 1.5 s pause
            s.step(clock.t)
            clock.t += 0.5
        if target.stat().st_size < len(data):
            assert rec.ready == [], "taken half-written"
    _tick(s, clock, 4)
    assert rec.ready == [str(target)]


def test_settler_forgets_files_that_go_away(tmp_path):
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec)
    a = save(tmp_path / "a.jpg")
    b = save(tmp_path / "b.jpg")
    s.observe(Seen(CLOSED, str(a)))
    s.observe(Seen(CLOSED, str(b)))
    a.rename(tmp_path / "elsewhere.jpg")  # moved away (out of the watched tree)
    s.observe(Seen(GONE, str(a)))
    s.step(clock.t)
    b.unlink()
    clock.t += 2
    s.step(clock.t)
    assert rec.ready == [] and len(s) == 0


def test_settler_keeps_a_file_an_exchange_put_in_place(tmp_path):
    # emowatch's own atomic write is an exchange (renameat2 RENAME_EXCHANGE): inotify reports
    # the new file moved in from the temp name, then the displaced one moved out to it
    import queue

    from emowatch.atomic import atomic_write, identity
    from emowatch.daemon.watcher import Watcher

    photo = save(tmp_path / "a.jpg")
    new = save(tmp_path / "other" / "b.jpg", seed=2).read_bytes()
    seen: queue.SimpleQueue = queue.SimpleQueue()
    watcher = Watcher([tmp_path], PathFilter([tmp_path], DaemonSettings()), seen.put)
    watcher.start()
    try:
        atomic_write(photo, new, expect=identity(photo), preserve_mtime=False, verify=None)
        events = [seen.get(timeout=10), seen.get(timeout=10)]
    finally:
        watcher.stop()
    assert events == [Seen(ARRIVED, str(photo)), Seen(GONE, str(photo))]
    clock, rec = FakeClock(), Recorder()
    s = _settler(clock, rec)
    for event in events:
        s.observe(event)
    _tick(s, clock, 3)
    assert rec.ready == [str(photo)]


# -- queues -------------------------------------------------------------------------------------
def test_intake_takes_live_first_dedups_and_requeues_a_path_seen_while_busy():
    intake = Intake(backfill_capacity=2)
    assert intake.put_backfill(Job("/b1", live=False, seen=0))
    assert intake.put(Job("/l1", live=True, seen=0))
    assert not intake.put(Job("/l1", live=True, seen=0))
    assert [intake.get(0).path for _ in range(2)] == ["/l1", "/b1"]
    assert not intake.put(Job("/l1", live=True, seen=0))  # busy: noted for afterwards
    assert intake.get(0) is None
    intake.done("/l1")
    job = intake.get(0)
    assert job.path == "/l1" and job.live
    intake.close()
    assert not intake.put_backfill(Job("/b2", live=False, seen=0))


def test_buffer_is_bounded_live_first_and_close_wakes_everyone():
    buf: Buffer[str] = Buffer(2)
    assert buf.put("old", live=False) and buf.put("new", live=True)
    assert not buf.put("x", live=True, timeout=0)  # full
    assert buf.take(5, 0) == ["new", "old"]
    buf.put("left", live=False)
    assert buf.close() == ["left"]
    assert buf.take(1, 10) == [] and buf.room(10) == 0 and not buf.put("y", live=True)


# -- views ---------------------------------------------------------------------------------------
def _result(path="/p/a.jpg", label="positive", error=None):
    if error:
        return TagResult(path=Path(path), error=error, error_type="DecodeError")
    return TagResult(path=Path(path), label=label, confidence=0.91, keywords=("Emotion|Positive",),
                     model="m@1", action="embedded")


def _events(clock):
    return [
        DaemonEvent(WATCHING, clock.time(), reason="inotify"),
        DaemonEvent(BACKFILL_COUNTED, clock.time(), total=4, live=False),
        DaemonEvent(WORKING, clock.time(), path="/p/a.jpg"),
        DaemonEvent(TAGGED, clock.time(), path="/p/a.jpg", result=_result(), latency=1.25, live=False),
        DaemonEvent(FAILED, clock.time(), path="/p/bad.jpg", result=_result("/p/bad.jpg", error="file is truncated"),
                    live=False),
        DaemonEvent(SKIPPED, clock.time(), path="/p/a.jpg", reason="done"),
        DaemonEvent(SKIPPED, clock.time(), path="/p/new/a.jpg", reason="moved"),
    ]


def test_plain_log_lines(tmp_path):
    clock = FakeClock()
    stats = Stats(clock)
    stats.set(roots=("/p",), mode="inotify")
    out = io.StringIO()
    view = LogView(Console(file=out, width=200, color_system=None), stats, clock=clock)
    for e in _events(clock):
        stats.apply(e)
        view(e)
    text = out.getvalue()
    assert "watching /p (inotify)" in text
    assert "backfill: 4 photos to tag" in text
    assert "positive" in text and "0.91" in text and "/p/a.jpg" in text
    assert "error" in text and "file is truncated" in text
    assert "moved" in text and "already tagged" in text
    assert text.count("/p/a.jpg") == 1  # the echo of our own write ("done") makes no line


def test_backfill_progress_ends_when_counted_photos_vanished_before_they_were_queued():
    # counted 4; two were deleted before the queueing pass: they never come back with an event
    clock = FakeClock()
    stats = Stats(clock)
    out = io.StringIO()
    view = LogView(Console(file=out, width=200, color_system=None), stats, clock=clock)
    events = [DaemonEvent(BACKFILL_COUNTED, clock.time(), total=4, seen=4, live=False),
              DaemonEvent(SKIPPED, clock.time(), path="/p/a.jpg", reason="settling", live=False),
              DaemonEvent(SKIPPED, clock.time(), path="/p/b.jpg", reason="queued", live=False),
              DaemonEvent(BACKFILL_DONE, clock.time(), total=2, live=False)]
    for e in events:
        stats.apply(e)
        view(e)
    assert stats.snapshot().backfill_left == 0
    assert out.getvalue().count("backfill: all 2 handed on") == 1


def test_backfill_of_an_empty_tree_says_so_rather_than_all_done():
    s = Stats(FakeClock()).snapshot()
    empty = event_line(DaemonEvent(BACKFILL_COUNTED, 0.0, total=0, seen=0, live=False), s)
    done = event_line(DaemonEvent(BACKFILL_COUNTED, 0.0, total=0, seen=3, live=False), s)
    assert "no photos in the watched folders yet" in empty and "every photo is already done" in done
    assert event_json(DaemonEvent(BACKFILL_COUNTED, 0.0, total=0, seen=3, live=False))["seen"] == 3


def test_json_log_lines_are_one_object_per_event():
    clock = FakeClock()
    lines = [event_json(e) for e in _events(clock)]
    lines = [line for line in lines if line is not None]
    assert [line["event"] for line in lines] == ["watching", "backfill-counted", "tagged", "failed", "skipped"]
    tagged = lines[2]
    assert tagged["label"] == "positive" and tagged["latency"] == 1.25 and tagged["backfill"] is True
    assert tagged["keywords"] == ["Emotion|Positive"]
    assert lines[3]["error"] == "file is truncated"
    json.dumps(lines)
    stats = Stats(clock)
    stats.set(roots=("/p",), mode="inotify")
    for e in _events(clock):
        stats.apply(e)
    watching = event_json(DaemonEvent(WATCHING, 0.0, reason="inotify"), stats.snapshot())
    assert watching["roots"] == ["/p"] and watching["reason"] == "inotify"
    stopped = event_json(DaemonEvent(STOPPED, 1.0), stats.snapshot())
    assert (stopped["tagged"], stopped["failed"], stopped["labels"]) == (1, 1, {"positive": 1})


def test_live_view_renders_counts_rate_current_and_backfill_eta():
    clock = FakeClock()
    stats = Stats(clock)
    stats.set(roots=("/home/me/Pictures", "/home/me/Imports"), mode="inotify")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    view = LiveView(console, stats, clock=clock, auto_refresh=False)
    with view:
        for e in _events(clock):
            clock.t += 1
            stats.apply(e)
            view(e)
        view.refresh()
    text = out.getvalue()
    for expected in ("/home/me/Pictures", "/home/me/Imports", "1 tagged", "1 failed", "a.jpg",
                     "positive", "photos/s", "2/4", "ETA"):
        assert expected in text, expected
    idle = io.StringIO()
    Console(file=idle, width=100, color_system=None).print(view.render())
    # nothing in hand: the last photo finished is named as such, not as the one being worked on
    assert re.search(r"last\s+bad\.jpg\s+failed", idle.getvalue()) and "now" not in idle.getvalue()
    # stopped with photos still queued: they are not being worked on, the next start takes them
    stats.set_gauges(lambda: (1, 4))
    stats.apply(DaemonEvent(STOPPED, clock.time()))
    stopped = io.StringIO()
    Console(file=stopped, width=100, color_system=None).print(view.render())
    assert "5 left for the next start" in stopped.getvalue() and "being written" not in stopped.getvalue()


# -- signals ---------------------------------------------------------------------------------------
class _SignalledDaemon:
    """Stands in for a Daemon: Ctrl-C arrives once it runs, and again while it is stopping."""

    def __init__(self, second: bool):
        self.second = second
        self.calls: list[str] = []

    def start(self):
        self.calls.append("start")
        signal.raise_signal(signal.SIGINT)

    def stop(self):
        self.calls.append("stop")

    def join(self, timeout):
        self.calls.append("join")
        if self.second:
            signal.raise_signal(signal.SIGINT)
        return True


class _HardExit(Exception):
    pass


def test_first_signal_stops_gracefully_second_exits_at_once():
    before = signal.getsignal(signal.SIGINT)
    exits: list[int] = []

    def hard_exit(code):
        exits.append(code)
        raise _HardExit

    calm = _SignalledDaemon(second=False)
    assert serve(calm, tick=0.01, hard_exit=hard_exit) is True
    assert calm.calls == ["start", "stop", "join"] and exits == []
    impatient = _SignalledDaemon(second=True)
    with pytest.raises(_HardExit):
        serve(impatient, tick=0.01, hard_exit=hard_exit)
    assert exits == [128 + signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_malloc_tuning_takes_on_linux_glibc():
    import platform
    import sys

    from emowatch.daemon.memory import tune_malloc

    took = tune_malloc()
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert took
    else:
        assert took in (True, False)
