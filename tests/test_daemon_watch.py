"""The daemon on a real watched folder: photos arriving every way they do, each tagged exactly once.

No sleeps: the tests wait on the daemon's own events (with timeouts).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from daemon_helpers import CountingTagger, ExplainingTagger, daemon_settings, keywords, running, temp_files
from emowatch.daemon.events import FAILED, RETRY, SKIPPED, TAGGED, WAITING, BACKFILL_COUNTED
from emowatch.errors import FileChangedError
from emowatch.tagging import Tagger, failed
from models import make_model, tiny_info
from photos import save


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def photo_bytes(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    return [save(src / f"src{i}.jpg", size=(640, 480), seed=i).read_bytes() for i in range(8)]


@pytest.fixture
def dirs(tmp_path):
    watch, state = tmp_path / "Pictures", tmp_path / "state"
    watch.mkdir()
    return watch, state


def assert_tagged_once(tagger, events, paths):
    tags = keywords(paths)
    for p in paths:
        assert tagger.work[str(p)] == 1, (p, tagger.work)
        assert len(events.of(TAGGED, p)) == 1, p
        assert len([k for k in tags[str(p)] if k.startswith("Emotion|")]) == 1, (p, tags[str(p)])
        with Image.open(p) as im:
            im.load()


def drop_and_wait(watch, events, photo_bytes, count):
    """Write `count` photos into `watch`; return once each is tagged and the event of our own
    atomic replace (a move) has been looked at once and dropped."""
    paths = [watch / f"p{i}.jpg" for i in range(count)]
    for p, data in zip(paths, photo_bytes):
        p.write_bytes(data)
    for p in paths:
        events.wait_for(TAGGED, p)
        events.wait_for(SKIPPED, p, "done")
    return paths


def test_photo_written_in_chunks_into_an_open_file_is_taken_only_when_complete(dirs, model_path, photo_bytes):
    watch, state = dirs
    data = photo_bytes[0]
    target = watch / "card" / "IMG_0001.jpg"
    target.parent.mkdir()
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        with open(target, "wb") as f:
            f.write(data[: len(data) // 3])
            f.flush()
            events.wait_for(WAITING, target)  # seen (by the watcher, or the start-up walk)
            f.write(data[len(data) // 3: 2 * len(data) // 3])
            f.flush()
            # the daemon looked, found it unfinished, and held it back
            events.wait_for(WAITING, target, "incomplete")
            f.write(data[2 * len(data) // 3:])
        events.wait_for(TAGGED, target)
        assert not events.of(FAILED)
        assert_tagged_once(tagger, events, [target])
        entry = ledger.get(str(target))
        assert entry.status == "done" and entry.size == target.stat().st_size > len(data)


def test_photo_appended_in_separate_writes_waits_for_its_last_piece(dirs, model_path, photo_bytes):
    watch, state = dirs
    data = photo_bytes[1]
    target = watch / "IMG_0002.jpg"
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        target.write_bytes(data[: len(data) // 2])  # closed half-way, as a resumable copy does
        events.wait_for(WAITING, target, "incomplete")
        with open(target, "ab") as f:
            f.write(data[len(data) // 2:])
        events.wait_for(TAGGED, target)
        assert not events.of(FAILED)
        assert_tagged_once(tagger, events, [target])


def test_copied_under_a_temp_name_then_renamed_into_place(dirs, model_path, photo_bytes):
    watch, state = dirs
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        finals = []
        for i, temp_name in enumerate([".IMG_3.jpg.Xy12Ab", "IMG_4.jpg.part", "IMG_5.jpg.crdownload"]):
            temp = watch / temp_name
            with open(temp, "wb") as f:
                for start in range(0, len(photo_bytes[i]), 16384):
                    f.write(photo_bytes[i][start:start + 16384])
                    f.flush()
            final = watch / f"IMG_{3 + i}.jpg"
            os.rename(temp, final)
            finals.append(final)
        for final in finals:
            events.wait_for(TAGGED, final)
        assert_tagged_once(tagger, events, finals)
        assert set(tagger.work) == {str(f) for f in finals}  # the temp names were never read


def test_photos_dropped_into_new_nested_folders(dirs, model_path, photo_bytes):
    watch, state = dirs
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        paths = []
        for i in range(4):
            folder = watch / "2024" / f"0{i + 1}" / "day"
            folder.mkdir(parents=True)  # the photo lands while the new folder's watch is set up
            paths.append(folder / f"IMG_{i}.jpg")
            paths[-1].write_bytes(photo_bytes[i])
        for p in paths:
            events.wait_for(TAGGED, p)
        assert_tagged_once(tagger, events, paths)


def test_photos_moved_between_watched_folders_are_recognised_not_redone(tmp_path, model_path, photo_bytes):
    pictures, imports, state = tmp_path / "Pictures", tmp_path / "Imports", tmp_path / "state"
    pictures.mkdir()
    imports.mkdir()
    with running([pictures, imports], state, model_path) as (d, tagger, events, ledger):
        a, b = imports / "a.jpg", imports / "shoot" / "b.jpg"
        b.parent.mkdir()
        a.write_bytes(photo_bytes[0])
        b.write_bytes(photo_bytes[1])
        events.wait_for(TAGGED, a)
        events.wait_for(TAGGED, b)
        moved_a = pictures / "2024" / "a.jpg"
        moved_a.parent.mkdir()
        os.rename(a, moved_a)  # a file moved to the other tree
        os.rename(imports / "shoot", pictures / "shoot-2024")  # a folder moved with its photo
        moved_b = pictures / "shoot-2024" / "b.jpg"
        events.wait_for(SKIPPED, moved_a, "moved")
        events.wait_for(SKIPPED, moved_b, "moved")
        assert tagger.work == {str(a): 1, str(b): 1}
        assert ledger.get(str(a)) is None and ledger.get(str(moved_a)).status == "done"
        assert ledger.get(str(moved_b)).status == "done"


def test_our_own_writes_and_sidecars_trigger_nothing(dirs, model_path, photo_bytes):
    watch, state = dirs
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        paths = drop_and_wait(watch, events, photo_bytes, 5)
        # files named like our sidecars and temp files, then a sentinel photo: events are taken
        # in order, so once the sentinel is done the others were seen and ignored
        (watch / ".emowatch").mkdir()
        (watch / ".emowatch" / "p0.jpg.heatmap.png").write_bytes(b"x")
        (watch / "p1.jpg.heatmap.png").write_bytes(b"x")
        (watch / "p1.jpg.explain.json").write_text("{}")
        (watch / ".p2.jpg.emowatch-tmp-0badcafe").write_bytes(b"x")
        (watch / "p3.xmp").write_text("<x/>")
        sentinel = watch / "sentinel.jpg"
        sentinel.write_bytes(photo_bytes[6])
        events.wait_for(TAGGED, sentinel)
        events.wait_for(SKIPPED, sentinel, "done")
        assert sum(tagger.work.values()) == 6
        assert {e.path for e in events.of(WAITING)} == {str(p) for p in paths + [sentinel]}
        assert len(events.of(TAGGED)) == 6
    assert_tagged_once(tagger, events, paths + [sentinel])
    assert temp_files(watch) == [watch / ".p2.jpg.emowatch-tmp-0badcafe"]  # the one we planted


@pytest.mark.parametrize("polling", [False, True])
def test_a_photo_held_open_for_writing_is_waited_for_then_tagged(dirs, model_path, photo_bytes, polling):
    # a sync tool or rsync --inplace holding it open, writing nothing for a while: it used to
    # be handed on, refused at the write ("open for writing"), retried 3 times and failed for good
    watch, state = dirs
    photo = watch / "held.jpg"
    photo.write_bytes(photo_bytes[0])
    holder = os.open(photo, os.O_WRONLY | os.O_APPEND)
    try:
        with running([watch], state, model_path, polling=polling) as (d, tagger, events, ledger):
            events.wait_for(WAITING, photo, "writing")
            time.sleep(2.0)  # ten quiet intervals: still held, still waiting
            assert events.of(TAGGED, photo) == [] and events.of(FAILED, photo) == []
            os.close(holder)
            holder = None
            events.wait_for(TAGGED, photo)
            assert events.of(FAILED, photo) == [] and tagger.work[str(photo)] == 1
    finally:
        if holder is not None:
            os.close(holder)


def test_a_named_pipe_named_like_a_photo_does_not_stop_the_daemon(dirs, model_path, photo_bytes):
    # the settler opened it to see whether it was whole, and waited for a writer forever
    watch, state = dirs
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        events.wait_for(BACKFILL_COUNTED)
        os.mkfifo(watch / "live.jpg")
        [photo] = drop_and_wait(watch, events, photo_bytes, 1)
        failed = events.wait_for(FAILED, watch / "live.jpg")[0]
        assert "not a regular file" in failed.reason
    assert tagger.work[str(photo)] == 1


def test_a_sidecar_held_open_for_writing_costs_a_few_attempts_not_an_endless_loop(dirs, model_path):
    # without exiftool a TIFF is tagged in its .xmp sidecar; with that sidecar held open the
    # write is refused as busy, and the photo itself (not held) was sent round again, forever
    import corpus

    watch, state = dirs
    photo = save(watch / "x.tif")
    side = corpus.lightroom_sidecar(watch / "x.tif.xmp")
    holder = os.open(side, os.O_WRONLY | os.O_APPEND)
    try:
        with running([watch], state, model_path) as (d, tagger, events, ledger):
            failed = events.wait_for(FAILED, photo)[0]
            assert "open for writing" in failed.reason
            assert len(events.of(RETRY, photo)) == 3 and tagger.work[str(photo)] == 4  # max_attempts
    finally:
        os.close(holder)


def test_a_metadata_edit_by_another_program_is_not_a_new_picture(dirs, model_path, photo_bytes):
    # Lightroom saving a rating or a keyword correction: the photo's bytes change, its picture
    # does not; it was classified and explained all over again (and the keyword put back)
    watch, state = dirs
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        [photo] = drop_and_wait(watch, events, photo_bytes, 1)
        label = events.of(TAGGED, photo)[0].result.label.title()
        corpus_exiftool = ["exiftool", "-q", "-overwrite_original", "-XMP-xmp:Rating=4",
                           f"-XMP-lr:HierarchicalSubject-=Emotion|{label}", str(photo)]
        subprocess.run(corpus_exiftool, check=True)
        events.wait_for(SKIPPED, photo, "metadata")
        assert tagger.work[str(photo)] == 1
        assert keywords([photo])[str(photo)] == []  # the user's removal stands
        # the picture itself edited: a new picture, tagged again
        with Image.open(photo) as im:
            im.convert("RGB").rotate(90, expand=True).save(photo, quality=90)
        events.wait_for(TAGGED, photo, count=2)
        assert tagger.work[str(photo)] == 2


def test_a_tiff_whose_metadata_lightroom_rewrote_is_not_a_new_picture(dirs, model_path, exiftool_bin):
    # Lightroom writes XMP straight into a TIFF when a rating changes: exiftool rewriting the
    # file moves its strips, the picture stays; it was decoded, classified and explained again
    import functools

    from emowatch.exiftool import ExiftoolPool

    watch, state = dirs
    photo = save(watch / "x.tif", compression="tiff_lzw")
    with ExiftoolPool(exiftool_bin, size=2) as pool, \
            running([watch], state, model_path, tagger_cls=functools.partial(CountingTagger, exiftool=pool)) \
            as (d, tagger, events, ledger):
        assert events.wait_for(TAGGED, photo)[0].result.action == "exiftool"  # our keywords in the TIFF
        label = events.of(TAGGED, photo)[0].result.label.title()
        strips = subprocess.run(["exiftool", "-s3", "-StripOffsets", str(photo)], capture_output=True, text=True).stdout
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-xmp:Rating=4", "-EXIF:Artist=Me",
                        "-XMP-dc:Subject+=Sea", f"-XMP-lr:HierarchicalSubject-=Emotion|{label}", str(photo)], check=True)
        assert subprocess.run(["exiftool", "-s3", "-StripOffsets", str(photo)],
                              capture_output=True, text=True).stdout != strips  # the image data moved
        events.wait_for(SKIPPED, photo, "metadata")
        assert tagger.work[str(photo)] == 1
        assert keywords([photo])[str(photo)] == []  # the user's removal stands
        # the picture itself edited (a few pixels): a new picture, tagged again
        with Image.open(photo) as im:
            edited = im.convert("RGB")
        edited.putpixel((5, 5), (255, 0, 0))
        edited.save(watch / "x.tif.part", "TIFF", compression="tiff_lzw")
        os.replace(watch / "x.tif.part", photo)
        events.wait_for(TAGGED, photo, count=2)
        assert tagger.work[str(photo)] == 2


def test_camera_jpegs_keep_their_previews_and_get_xpkeywords(dirs, model_path, exiftool_bin, tmp_path):
    # the daemon writes as `emowatch tag` does: exiftool edits a camera JPEG's header alone for
    # XPKeywords, and stores the XMP itself where a maker note points at the preview after the
    # image; its own writes are then recognised, not taken for new pictures
    import functools

    import corpus
    from emowatch.exiftool import ExiftoolPool
    from photos import camera_jpeg, minolta_jpeg, pattern

    watch, state = dirs
    made = [camera_jpeg(tmp_path / "DSC00001.JPG", pattern(1200, 800, seed=4), exif=corpus._exif_with_makernote()),
            minolta_jpeg(tmp_path / "PICT0002.JPG", mpf=True)]
    previews = {p.name: corpus.binary(p, "MPImage2") for p in made}
    with ExiftoolPool(exiftool_bin, size=2) as pool, \
            running([watch], state, model_path, tagger_cls=functools.partial(CountingTagger, exiftool=pool)) \
            as (d, tagger, events, ledger):
        photos = []
        for p in made:  # copied in under a temp name, then renamed, as a card reader's import does
            part, final = watch / (p.name + ".part"), watch / p.name
            shutil.copy(p, part)
            os.replace(part, final)
            photos.append(final)
        for p in photos:
            assert events.wait_for(TAGGED, p)[0].result.action == "embedded"
            events.wait_for(SKIPPED, p, "done")
        assert_tagged_once(tagger, events, photos)
    for p in photos:
        tags = corpus.tags_of(p)
        assert tags["IFD0:XPKeywords"].startswith("Emotion;"), p.name
        assert corpus.binary(p, "MPImage2") == previews[p.name]
    start = int(corpus.tags_of(photos[1])["Minolta:PreviewImageStart"])
    assert photos[1].read_bytes()[start:start + 3] == b"\xff\xd8\xff"  # the maker note's pointer too


def test_leftover_temp_files_from_a_killed_run_are_swept_also_in_the_sidecar_folder(dirs, model_path):
    # a kill -9 during a heatmap write left one in .emowatch/, which the start-up walk skips
    watch, state = dirs
    (watch / ".emowatch").mkdir()
    planted = [watch / ".p1.jpg.emowatch-tmp-0badcafe", watch / ".emowatch" / ".p1.jpg.regions.png.emowatch-tmp-1"]
    for path in planted:
        path.write_bytes(b"x")
        os.utime(path, (time.time() - 600, time.time() - 600))
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        events.wait_for(BACKFILL_COUNTED)
    assert temp_files(watch) == []


def test_a_corrupt_photo_is_recorded_failed_once_and_the_daemon_goes_on(dirs, model_path, photo_bytes):
    watch, state = dirs
    settings = daemon_settings(state, max_attempts=3)
    with running([watch], state, model_path, settings=settings) as (d, tagger, events, ledger):
        good = [watch / f"good{i}.jpg" for i in range(3)]
        garbage, truncated = watch / "garbage.jpg", watch / "truncated.jpg"
        garbage.write_text("this is not a photo")
        truncated.write_bytes(photo_bytes[4][:-3000])
        for p, data in zip(good, photo_bytes):
            p.write_bytes(data)
        for p in good:
            events.wait_for(TAGGED, p)
        events.wait_for(FAILED, garbage)
        events.wait_for(FAILED, truncated)
        for p in (garbage, truncated):
            entry = ledger.get(str(p))
            assert entry.status == "failed" and entry.attempts == 1 and tagger.work[str(p)] == 1
        assert "not a photo" in ledger.get(str(garbage)).error
        # the same bytes written again: not retried; new content: retried
        garbage.write_text("this is not a photo")
        events.wait_for(SKIPPED, garbage, "failed")
        later = watch / "later.jpg"
        later.write_bytes(photo_bytes[5])
        events.wait_for(TAGGED, later)
        assert len(events.of(FAILED)) == 2 and tagger.work[str(garbage)] == 1
        # renamed, still broken: the same failure, its row follows (not a second one)
        renamed = watch / "truncated-renamed.jpg"
        os.rename(truncated, renamed)
        events.wait_for(SKIPPED, renamed, "failed")
        assert ledger.get(str(truncated)) is None and ledger.get(str(renamed)).status == "failed"
        assert len([e for e in ledger.entries() if e.status == "failed"]) == 2
        shutil.copyfile(watch / "good0.jpg", watch / "garbage.tmpcopy")
        os.replace(watch / "garbage.tmpcopy", garbage)  # repaired: now a copy of a tagged photo
        events.wait_for(SKIPPED, garbage, "copied")
    assert_tagged_once(tagger, events, good + [later])


class FlakyTagger(Tagger):
    """The real Tagger whose first write of each photo hits a transient error (file busy)."""

    seen: set = set()

    def finish(self, prepared, prediction, started):
        if prepared.path not in self.seen:
            self.seen.add(prepared.path)
            return failed(prepared.path, FileChangedError("file changed while it was read", prepared.path))
        return super().finish(prepared, prediction, started)


def test_a_transient_error_is_retried_with_backoff(dirs, model_path, photo_bytes):
    watch, state = dirs
    FlakyTagger.seen = set()
    with running([watch], state, model_path, tagger_cls=FlakyTagger) as (d, tagger, events, ledger):
        p = watch / "busy.jpg"
        p.write_bytes(photo_bytes[0])
        retry = events.wait_for(RETRY, p)[0]
        assert retry.delay == pytest.approx(0.2) and "changed" in retry.reason
        events.wait_for(TAGGED, p)
        assert ledger.get(str(p)).attempts == 2 and not events.of(FAILED)


def test_restart_does_only_what_changed_while_it_was_down(dirs, model_path, photo_bytes):
    watch, state = dirs
    paths = [watch / f"old{i}.jpg" for i in range(3)]
    for p, data in zip(paths, photo_bytes):
        p.write_bytes(data)
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        for p in paths:
            events.wait_for(TAGGED, p)
    # while it is down: one photo moved, one replaced by another picture, one new
    moved = watch / "sorted" / "old0.jpg"
    moved.parent.mkdir()
    os.rename(paths[0], moved)
    paths[1].write_bytes(photo_bytes[6])
    new = watch / "new.jpg"
    new.write_bytes(photo_bytes[7])
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        assert events.wait_for(BACKFILL_COUNTED)[0].total == 3
        events.wait_for(SKIPPED, moved, "moved")
        events.wait_for(TAGGED, paths[1])
        events.wait_for(TAGGED, new)
        assert tagger.work == {str(paths[1]): 1, str(new): 1}
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        assert events.wait_for(BACKFILL_COUNTED)[0].total == 0
        assert events.wait_for("backfill-done")
        assert sum(tagger.work.values()) == 0


def test_a_name_that_is_not_utf8_is_tagged_with_the_rest_and_remembered(dirs, model_path, photo_bytes):
    # a Latin-1 name from an old card: SQLite text cannot hold os.fsdecode's surrogates, and
    # once it ended the start-up scan, so that no photo already there was ever tagged
    watch, state = dirs
    odd = os.fsdecode(os.fsencode(str(watch)) + b"/caf\xe9.jpg")
    plain = [watch / f"p{i}.jpg" for i in range(2)]
    for path, data in zip([Path(odd), *plain], photo_bytes):
        Path(path).write_bytes(data)
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        for path in [odd, *plain]:
            events.wait_for(TAGGED, path)
        assert ledger.get(odd).status == "done"
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        assert events.wait_for(BACKFILL_COUNTED)[0].total == 0  # remembered, under its own name
        assert [e.path for e in ledger.entries()].count(odd) == 1


def test_a_copy_or_move_of_a_photo_tagged_in_a_sidecar_is_tagged_itself(dirs, model_path, photo_bytes):
    # without exiftool a TIFF is tagged in an .xmp sidecar (as raw files always are): copying or
    # moving the photo alone leaves its keywords behind, so the new one is not done
    watch, state = dirs
    for name in ("a", "b", "c", "d"):
        (watch / name).mkdir()
    src = watch / "a" / "p.tif"
    Image.open(io.BytesIO(photo_bytes[0])).save(src)
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        events.wait_for(TAGGED, src)
        assert (watch / "a" / "p.tif.xmp").is_file()
        copy = watch / "b" / "p.tif"
        shutil.copy(src, copy)
        events.wait_for(TAGGED, copy)
        moved = watch / "c" / "moved.tif"
        os.rename(src, moved)
        events.wait_for(TAGGED, moved)
        assert {p.name for p in (watch / "b").iterdir()} == {"p.tif", "p.tif.xmp"}
        assert (watch / "c" / "moved.tif.xmp").is_file()
        # a move that takes its sidecar along is recognised, not redone
        os.rename(watch / "b" / "p.tif.xmp", watch / "d" / "p.tif.xmp")
        os.rename(copy, watch / "d" / "p.tif")
        events.wait_for(SKIPPED, watch / "d" / "p.tif", "moved")
        assert tagger.work == {str(src): 1, str(copy): 1, str(moved): 1}


def test_a_new_model_retags_only_when_asked(dirs, model_path, photo_bytes, tmp_path):
    watch, state = dirs
    paths = [watch / f"p{i}.jpg" for i in range(2)]
    for p, data in zip(paths, photo_bytes):
        p.write_bytes(data)
    with running([watch], state, model_path) as (d, tagger, events, ledger):
        for p in paths:
            events.wait_for(TAGGED, p)
    v2 = make_model(tmp_path / "v2.onnx", info=tiny_info(version="0.0.2"), seed=1)
    with running([watch], state, v2) as (d, tagger, events, ledger):
        assert events.wait_for(BACKFILL_COUNTED)[0].total == 0
    settings = daemon_settings(state, retag_on_model_change=True)
    with running([watch], state, v2, settings=settings) as (d, tagger, events, ledger):
        assert events.wait_for(BACKFILL_COUNTED)[0].total == 2
        for p in paths:
            events.wait_for(TAGGED, p)
        assert all(ledger.get(str(p)).model == "tiny-test@0.0.2" for p in paths)
    tags = keywords(paths)
    assert all(len([k for k in tags[str(p)] if k.startswith("Emotion|")]) == 1 for p in paths)


def test_polling_mode_for_network_shares(dirs, model_path, photo_bytes):
    watch, state = dirs
    with running([watch], state, model_path, polling=True) as (d, tagger, events, ledger):
        assert d.watcher.mode == "polling"
        p = watch / "remote" / "IMG_9.jpg"
        p.parent.mkdir()
        shutil.copyfile(Path(save(watch.parent / "src.jpg", size=(640, 480), seed=9)), p)
        events.wait_for(TAGGED, p)
        events.wait_for(SKIPPED, p, "done")
        assert tagger.work[str(p)] == 1


def test_explanation_sidecars_beside_the_photos_trigger_nothing(dirs, model_path, photo_bytes):
    from dataclasses import replace

    from emowatch.settings import ExplainSettings, SidecarSettings

    watch, state = dirs
    settings = replace(daemon_settings(state), explain=ExplainSettings(method="cam"),
                       sidecars=SidecarSettings(mode="beside"))

    with running([watch], state, model_path, settings=settings, tagger_cls=ExplainingTagger) as (d, tagger, events, _):
        paths = drop_and_wait(watch, events, photo_bytes, 3)
        sentinel = watch / "sentinel.jpg"
        sentinel.write_bytes(photo_bytes[5])
        events.wait_for(TAGGED, sentinel)
        assert {e.path for e in events.of(WAITING)} == {str(p) for p in paths + [sentinel]}
        assert sum(tagger.work.values()) == 4
    for p in paths:
        assert (watch / f"{p.name}.heatmap.png").is_file() and (watch / f"{p.name}.explain.json").is_file()
    assert_tagged_once(tagger, events, paths + [sentinel])


def test_a_renamed_photo_takes_its_heatmap_and_explanation_along(dirs, model_path, photo_bytes):
    from dataclasses import replace

    from emowatch.settings import ExplainSettings
    from emowatch.sidecars import sidecar_path
    from emowatch.tagging import untag_photo

    watch, state = dirs
    settings = replace(daemon_settings(state), explain=ExplainSettings(method="cam"))

    photo = watch / "IMG_1.jpg"
    with running([watch], state, model_path, settings=settings, tagger_cls=ExplainingTagger) as (d, _, events, _l):
        photo.write_bytes(photo_bytes[0])
        events.wait_for(TAGGED, photo)
    kinds = ("heatmap.png", "explain.json", "regions.png")
    old = [sidecar_path(photo, k, settings.sidecars) for k in kinds]
    assert all(p.is_file() for p in old)
    renamed = watch / "2024" / "holiday-1.jpg"
    renamed.parent.mkdir()
    photo.rename(renamed)  # while the daemon is down, as a photo manager would
    with running([watch], state, model_path, settings=settings, tagger_cls=ExplainingTagger) as (d, tagger, events, _l):
        events.wait_for(SKIPPED, renamed, "moved")
        assert tagger.work == {}
    new = [sidecar_path(renamed, k, settings.sidecars) for k in kinds]
    assert all(p.is_file() for p in new) and not any(p.exists() for p in old)
    assert not (watch / ".emowatch").exists()
    doc = json.loads(new[1].read_text())
    assert (doc["photo"], doc["heatmap"], doc["region_map"]["file"]) == (
        "holiday-1.jpg", new[0].name, new[2].name)
    assert untag_photo(renamed, settings).ok and not any(p.exists() for p in new)


def test_a_photo_whose_heatmap_cannot_be_saved_is_tagged_and_failed_once(dirs, model_path, photo_bytes):
    from dataclasses import replace

    from emowatch.daemon.fingerprint import fingerprint
    from emowatch.settings import ExplainSettings

    watch, state = dirs
    (watch / ".emowatch").write_text("a file where the sidecar folder would go")
    settings = replace(daemon_settings(state), explain=ExplainSettings(method="cam"))
    photo = watch / "IMG_1.jpg"
    with running([watch], state, model_path, settings=settings, tagger_cls=ExplainingTagger) as (d, tagger, events, ledger):
        photo.write_bytes(photo_bytes[0])
        [failed] = events.wait_for(FAILED, photo)
        assert failed.reason.startswith("metadata written, but no explanation saved")
        # its own keyword write is not mistaken for someone changing the photo: no second try
        assert tagger.work == {str(photo): 1} and not events.of(RETRY, photo)
        row = ledger.get(str(photo))
        assert row.status == "failed" and row.fingerprint == fingerprint(photo)
    assert keywords([photo])[str(photo)][0].startswith("Emotion|")


def test_the_panel_says_when_part_of_the_tree_is_scanned_rather_than_watched(tmp_path):
    # it said "inotify" while folders past the watch limit were being scanned every few seconds
    pictures, state = tmp_path / "Pictures", tmp_path / "state"
    (pictures / "2024").mkdir(parents=True)
    with running([pictures], state, make_model(tmp_path / "m.onnx")) as (d, tagger, events, ledger):
        assert d.stats.snapshot().mode == "inotify"
        d.watcher.on_unwatched([str(pictures / "2024")], d.watcher.limit_hint())  # as the watcher tells it
        assert d.stats.snapshot().mode == "inotify; scanning where the watch limit was reached"
