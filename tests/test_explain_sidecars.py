"""Sidecars: where they go (never into a watched folder's visible tree), what they hold."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emowatch.atomic import is_temp_file
from emowatch.explain import make_explainer, save_explanation
from emowatch.runtime.model import EmotionModel
from emowatch.settings import ExplainSettings, Settings, SidecarSettings
from emowatch.sidecars import HIDDEN_DIR, sidecar_path
from emowatch.tagging import Tagger
from models import make_model, tiny_info
from test_explain_lime import SIZE, prepared_for, textured_photo

REQUIRED = {"method", "label", "seed", "samples", "regions", "score", "fidelity", "seconds"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> EmotionModel:
    path = make_model(tmp_path_factory.mktemp("m") / "tiny.onnx", info=tiny_info(size=SIZE))
    return EmotionModel.load(path, device="cpu", threads=1)


def write_photo(folder: Path, name: str = "IMG_1.jpg", size=(1600, 900)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    textured_photo(size=max(size)).resize(size).save(path, quality=90)
    return path


def visible_files(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files if not f.startswith(".")]
    return sorted(found)


@pytest.mark.parametrize("method", ["lime", "cam"])
def test_tag_writes_sidecars_where_sidecar_path_says(tiny, tmp_path, method):
    watched = tmp_path / "watched"
    photo = write_photo(watched / "2024")
    settings = Settings(explain=ExplainSettings(method=method, samples=32))
    tagger = Tagger(tiny, settings, explainer=make_explainer(tiny, settings.explain), write=False)
    [result] = list(tagger.tag([photo]))
    assert result.ok, result.error
    expected = {k: sidecar_path(photo, kind, settings.sidecars)
                for k, kind in (("heatmap", "heatmap.png"), ("explain", "explain.json"), ("regions", "regions.png"))}
    assert result.sidecars == expected
    for path in expected.values():
        assert path.is_file() and HIDDEN_DIR in path.parts
    # the watched folder's visible tree holds the photo and nothing else
    assert visible_files(watched) == ["2024/IMG_1.jpg"]
    check_sidecars(photo, expected, method)


def check_sidecars(photo: Path, paths: dict[str, Path], method: str) -> None:
    doc = json.loads(paths["explain"].read_text())
    assert REQUIRED <= set(doc)
    assert doc["method"] == method and doc["label"] in ("positive", "negative", "other")
    weights = [abs(r["weight"]) for r in doc["regions"]]
    assert weights == sorted(weights, reverse=True)
    assert all(set(r) >= {"id", "weight"} and isinstance(r["id"], int) for r in doc["regions"])
    region_map = np.asarray(Image.open(paths["regions"]))
    assert region_map.shape == (SIZE, SIZE) == (doc["region_map"]["height"], doc["region_map"]["width"])
    assert set(np.unique(region_map).tolist()) == {r["id"] for r in doc["regions"]}
    assert doc["region_map"]["file"] == paths["regions"].name and doc["heatmap"] == paths["heatmap"].name
    if method == "lime":
        assert isinstance(doc["seed"], int) and doc["samples"] >= 32 and 0 <= doc["score"] <= 1
    else:
        assert doc["seed"] is None and doc["samples"] is None and doc["score"] is None
    assert doc["fidelity"] is None and doc["seconds"] > 0
    heat = Image.open(paths["heatmap"])
    with Image.open(photo) as original:
        w, h = original.size
    assert max(heat.size) <= 1024 and heat.mode == "RGB"
    assert abs(heat.size[0] / heat.size[1] - w / h) < 0.01  # the photo's own aspect ratio


def test_dry_run_computes_paths_and_writes_nothing(tiny, tmp_path):
    photo = write_photo(tmp_path)
    settings = Settings(explain=ExplainSettings(samples=32))
    tagger = Tagger(tiny, settings, explainer=make_explainer(tiny, settings.explain), write=False, dry_run=True)
    [result] = list(tagger.tag([photo]))
    assert result.ok and set(result.sidecars) == {"heatmap", "explain", "regions"}
    assert not (tmp_path / HIDDEN_DIR).exists()
    assert sorted(os.listdir(tmp_path)) == ["IMG_1.jpg"]


def test_a_heatmap_never_changes_the_answer(tiny, tmp_path):
    # with a heatmap the photo is decoded larger for drawing; the model's answer is the one
    # `--no-explain` gives, to the last digit
    photos = [write_photo(tmp_path, f"IMG_{i}.jpg", size=(3000 + 40 * i, 2000)) for i in range(3)]
    settings = Settings(explain=ExplainSettings(samples=32))
    plain = Tagger(tiny, settings, write=False)
    explained = Tagger(tiny, settings, explainer=make_explainer(tiny, settings.explain), write=False,
                       dry_run=True)
    for a, b in zip(plain.tag(photos), explained.tag(photos)):
        assert a.ok and b.ok and b.sidecars
        assert (a.label, a.probabilities) == (b.label, b.probabilities)


def test_a_photo_with_a_very_long_name_gets_sidecars_it_can_have(tiny, tmp_path):
    # 80 CJK characters are a legal 244-byte name; NAME.regions.png would not be (> 255 bytes)
    photos = [write_photo(tmp_path, "感" * 79 + tail + ".jpg", size=(320, 240)) for tail in "ab"]
    settings = Settings(explain=ExplainSettings(method="cam"))
    tagger = Tagger(tiny, settings, explainer=make_explainer(tiny, settings.explain))
    results = list(tagger.tag(photos))
    assert all(r.ok and set(r.sidecars) == {"heatmap", "explain", "regions"} for r in results)
    names = [p.name for r in results for p in r.sidecars.values()]
    assert len(set(names)) == 6 and all(len(os.fsencode(n)) <= 241 for n in names)
    assert all(p.is_file() for r in results for p in r.sidecars.values())
    # the same photo always gets the same names: found again, and removed by untag
    assert sidecar_path(photos[0], "heatmap.png", settings.sidecars) == results[0].sidecars["heatmap"]
    from emowatch.tagging import untag_photo

    for photo in photos:
        untag_photo(photo, settings, exiftool=None)
    assert not (tmp_path / HIDDEN_DIR).exists()


def test_a_bug_on_one_photo_is_that_photo_s_error_and_the_batch_goes_on(tiny, tmp_path):
    class Faulty:  # an explainer with a bug that only one photo meets
        def explain(self, prepared, prediction):
            if prepared.path.name == "IMG_1.jpg":
                raise ZeroDivisionError("division by zero")
            return make_explainer(tiny, ExplainSettings(method="cam")).explain(prepared, prediction)

    photos = [write_photo(tmp_path, f"IMG_{i}.jpg", size=(320, 240)) for i in range(3)]
    results = list(Tagger(tiny, Settings(), explainer=Faulty(), write=False).tag(photos))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == "no explanation saved: unexpected ZeroDivisionError: division by zero"
    assert results[1].error_type == "UnexpectedError" and results[1].label is not None


@pytest.mark.parametrize("mode", ["beside", "central"])
def test_other_placements(tiny, tmp_path, mode):
    photo = write_photo(tmp_path / "photos", size=(600, 800))
    sidecars = SidecarSettings(mode=mode, dir=tmp_path / "central" if mode == "central" else None)
    prepared, prediction = prepared_for(tiny, Image.open(photo).convert("RGB"), photo)
    e = make_explainer(tiny, ExplainSettings(samples=32, fidelity=True)).explain(prepared, prediction)
    paths = save_explanation(photo, prepared.image, e, sidecars)
    for key, kind in (("heatmap", "heatmap.png"), ("explain", "explain.json"), ("regions", "regions.png")):
        assert paths[key] == sidecar_path(photo, kind, sidecars) and paths[key].is_file()
    doc = json.loads(paths["explain"].read_text())
    assert set(doc["fidelity"]) >= {"deletion", "deletion_random", "insertion", "insertion_random"}
    # no temporary file is left behind beside the photo
    assert not [f for f in os.listdir(paths["heatmap"].parent) if is_temp_file(Path(f))]


def test_center_crop_model_heatmap_covers_the_photo(tmp_path):
    info = tiny_info(size=SIZE, resize="center_crop")
    model = EmotionModel.load(make_model(tmp_path / "crop.onnx", info=info), device="cpu", threads=1)
    photo = write_photo(tmp_path, size=(1200, 600))
    prepared, prediction = prepared_for(model, Image.open(photo).convert("RGB"), photo)
    e = make_explainer(model, ExplainSettings(samples=32)).explain(prepared, prediction)
    paths = save_explanation(photo, prepared.image, e, SidecarSettings())
    heat = np.asarray(Image.open(paths["heatmap"]).convert("L"), np.float32)
    assert heat.shape == (512, 1024)
    base = np.asarray(Image.open(photo).convert("L").resize((1024, 512)), np.float32)
    # the strips the model never saw (left and right of the central square) are dimmed
    assert heat[:, :200].mean() < 0.7 * base[:, :200].mean()


# -- when the explanation cannot be saved, or no longer fits ------------------------------------
def _cam_tagger(tiny, settings: Settings | None = None, **kwargs) -> Tagger:
    settings = settings or Settings(explain=ExplainSettings(method="cam"))
    return Tagger(tiny, settings, explainer=make_explainer(tiny, settings.explain), **kwargs)


def _keywords(exiftool_bin: str, photo: Path) -> str:
    return subprocess.run([exiftool_bin, "-s3", "-XMP-lr:HierarchicalSubject", str(photo)],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_keywords_are_written_when_the_heatmap_cannot_be(tiny, tmp_path, exiftool_bin):
    photo = write_photo(tmp_path)
    (tmp_path / HIDDEN_DIR).write_text("a file where the sidecar folder would go")
    [result] = list(_cam_tagger(tiny).tag([photo]))
    assert not result.ok and result.error_type == "WriteError"
    assert result.error.startswith("metadata written, but no explanation saved: cannot write the")
    assert result.error.endswith(f"{tmp_path / HIDDEN_DIR} is not a folder")
    assert result.action == "embedded" and result.sidecars == {}
    assert _keywords(exiftool_bin, photo).startswith("Emotion|")


def test_a_file_in_the_way_of_the_central_folder_is_named_itself(tiny, tmp_path):
    central = tmp_path / "central"
    central.mkdir()
    photo = write_photo(tmp_path / "photos" / "2024", size=(320, 240))
    mirrored_root = central / photo.parent.relative_to(photo.parent.anchor).parts[0]
    mirrored_root.write_text("a file where a mirrored folder would go")
    settings = Settings(explain=ExplainSettings(method="cam"),
                        sidecars=SidecarSettings(mode="central", dir=central))
    [result] = list(_cam_tagger(tiny, settings, write=False).tag([photo]))
    assert result.error.endswith(f"cannot write the regions.png sidecar: {mirrored_root} is not a folder")


def test_a_photo_deleted_while_it_was_explained_leaves_no_heatmap(tiny, tmp_path):
    settings = Settings(explain=ExplainSettings(method="cam"))
    cam = make_explainer(tiny, settings.explain)

    class DeletedMeanwhile:  # the user deletes the photo while its explanation is made
        def explain(self, prepared, prediction):
            explanation = cam.explain(prepared, prediction)
            prepared.path.unlink()
            return explanation

    photo = write_photo(tmp_path)
    [result] = list(Tagger(tiny, settings, explainer=DeletedMeanwhile()).tag([photo]))
    assert not result.ok and ("not found" in result.error or "vanished" in result.error), result.error
    assert result.sidecars == {} and not (tmp_path / HIDDEN_DIR).exists()


def _replace_with_another_photo(path: Path, in_place: bool) -> None:
    other = Image.new("RGB", (640, 480), (200, 30, 30))
    if in_place:  # the same file rewritten (cat new.jpg > photo.jpg)
        with open(path, "r+b") as f:
            f.truncate(0)
            other.save(f, format="JPEG", quality=80)
    else:  # another file renamed over it (an editor's save, a sync tool)
        tmp = path.with_name(".new.jpg")
        other.save(tmp, quality=80)
        os.replace(tmp, path)


@pytest.mark.parametrize("write", [True, False], ids=["tag", "explain"])
@pytest.mark.parametrize("how", ["replaced", "rewritten", "deleted"])
def test_a_photo_changed_while_it_was_explained_gets_neither_keywords_nor_heatmap(tiny, tmp_path, how, write):
    # the keywords and heatmap of the photo that was decoded went into the one that replaced it
    settings = Settings(explain=ExplainSettings(method="cam"))
    cam = make_explainer(tiny, settings.explain)

    class ChangedMeanwhile:
        def explain(self, prepared, prediction):
            explanation = cam.explain(prepared, prediction)
            if how == "deleted":
                prepared.path.unlink()
            else:
                _replace_with_another_photo(prepared.path, in_place=how == "rewritten")
            return explanation

    photo = write_photo(tmp_path)
    [result] = list(Tagger(tiny, settings, explainer=ChangedMeanwhile(), write=write).tag([photo]))
    assert not result.ok and result.sidecars == {}, result
    assert result.error_type in ("FileChangedError", "DecodeError"), result.error
    assert not (tmp_path / HIDDEN_DIR).exists()
    if how != "deleted":
        assert result.transient
        assert b"emowatch" not in photo.read_bytes()


def test_a_photo_changed_before_it_is_written_is_not_tagged(tiny, tmp_path):
    # between decoding and writing (explanations off): the same check, in the metadata write
    photo = write_photo(tmp_path)
    tagger = Tagger(tiny, Settings())
    prepared = tagger.prepare(photo)
    [prediction] = tagger.infer([prepared])
    _replace_with_another_photo(photo, in_place=True)
    result = tagger.finish(prepared, prediction, 0.0)
    assert result.error_type == "FileChangedError" and result.transient, result
    assert b"emowatch" not in photo.read_bytes()


def test_a_full_disk_leaves_no_empty_sidecar_folder(tiny, tmp_path, monkeypatch):
    import errno

    from emowatch.explain import save

    real_write = save.write_atomic

    def full_at_the_heatmap(path, data):  # a full disk cannot be made here without mounting one
        if path.name.endswith(".heatmap.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(save, "write_atomic", full_at_the_heatmap)
    photo = write_photo(tmp_path)
    [result] = list(_cam_tagger(tiny, write=False).tag([photo]))
    assert result.error == "no explanation saved: cannot write the heatmap.png sidecar: No space left on device"
    assert not (tmp_path / HIDDEN_DIR).exists()


def test_a_read_only_folder_gets_no_sidecars_either(tiny, tmp_path):
    # the photo was refused ("its folder is read-only; not forced") but .emowatch/ was made
    photo = write_photo(tmp_path / "ro")
    os.chmod(photo.parent, 0o555)
    try:
        [result] = list(_cam_tagger(tiny).tag([photo]))
    finally:
        os.chmod(photo.parent, 0o755)
    assert result.error == "its folder is read-only; not forced" and result.sidecars == {}
    assert sorted(p.name for p in photo.parent.iterdir()) == [photo.name]


def test_a_set_that_cannot_be_completed_is_not_left_half_new(tiny, tmp_path):
    photo = write_photo(tmp_path)
    [first] = list(_cam_tagger(tiny, write=False).tag([photo]))
    heatmap = first.sidecars["heatmap"]
    heatmap.unlink()
    heatmap.mkdir()  # the last of the three writes fails
    (heatmap / "x").write_text("keeps the folder from being removed")
    [again] = list(_cam_tagger(tiny, write=False).tag([photo]))
    assert not again.ok and "cannot write the heatmap.png sidecar" in again.error
    assert not first.sidecars["explain"].exists() and not first.sidecars["regions"].exists()


def test_retagging_without_explanation_drops_one_that_explained_another_label(tiny, tmp_path):
    photo = write_photo(tmp_path)
    [tagged] = list(_cam_tagger(tiny).tag([photo]))
    plain = Tagger(tiny, Settings(), explainer=None)
    [same] = list(plain.tag([photo]))  # same label: the heatmap still explains it
    assert all(p.is_file() for p in tagged.sidecars.values()) and same.changes == ()
    doc = json.loads(tagged.sidecars["explain"].read_text())
    doc["label"] = next(label for label in tiny.labels if label != tagged.label)
    tagged.sidecars["explain"].write_text(json.dumps(doc))  # as if the photo had changed since
    [dry] = list(Tagger(tiny, Settings(), explainer=None, dry_run=True).tag([photo]))
    assert all(p.is_file() for p in tagged.sidecars.values()) and len(dry.changes) == 3
    [retagged] = list(plain.tag([photo]))
    assert retagged.ok and not any(p.exists() for p in tagged.sidecars.values())
    assert not (tmp_path / HIDDEN_DIR).exists()
    assert sorted(retagged.changes) == sorted(f"remove {p} (an earlier explanation of another answer)"
                                              for p in tagged.sidecars.values())


@pytest.mark.parametrize("change", [{"probability": 0.01}, {"model": "another@1"}])
def test_retagging_without_explanation_drops_one_of_the_same_label_that_no_longer_fits(tiny, tmp_path, change):
    photo = write_photo(tmp_path)
    [tagged] = list(_cam_tagger(tiny).tag([photo]))
    doc = json.loads(tagged.sidecars["explain"].read_text())
    if "probability" in change:  # as if the photo's pixels had changed since, the label not
        doc["probability"] += change["probability"] if doc["probability"] < 0.99 else -change["probability"]
    else:
        doc.update(change)
    tagged.sidecars["explain"].write_text(json.dumps(doc))
    [retagged] = list(Tagger(tiny, Settings(), explainer=None).tag([photo]))
    assert retagged.ok and retagged.label == doc["label"]
    assert not any(p.exists() for p in tagged.sidecars.values())


def test_an_edited_photo_retagged_without_explanation_loses_its_old_heatmap(tiny, tmp_path):
    photo = write_photo(tmp_path)
    [tagged] = list(_cam_tagger(tiny).tag([photo]))
    with Image.open(photo) as image:
        edited = image.convert("RGB").rotate(180)
    edited.save(photo, quality=90)  # "edited in another tool": the XMP goes, the pixels change
    [retagged] = list(Tagger(tiny, Settings(), explainer=None).tag([photo]))
    assert retagged.ok and abs(retagged.confidence - tagged.confidence) > 1e-3
    assert not any(p.exists() for p in tagged.sidecars.values())


def test_untag_reports_a_sidecar_it_cannot_remove_and_goes_on(tiny, tmp_path, monkeypatch):
    from emowatch.tagging import untag_photo

    photos = [write_photo(tmp_path, f"IMG_{i}.jpg", size=(320, 240)) for i in range(2)]
    results = list(_cam_tagger(tiny, write=False).tag(photos))
    locked = results[0].sidecars["heatmap"]
    unlink = Path.unlink

    def refuse(self, *args, **kwargs):  # root may delete anything here: a refusal is simulated
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", refuse)
    first, second = (untag_photo(p, Settings()) for p in photos)
    assert first.error_type == "ReadOnlyError"
    assert first.error == "cannot remove emowatch's sidecar: Permission denied"
    assert second.ok and not any(p.exists() for p in results[1].sidecars.values())


def test_a_crashed_sidecar_write_is_swept_by_the_next_tag(tmp_path):
    from emowatch.atomic import temp_path_for
    from emowatch.tagging import sweep_leftovers

    photo = write_photo(tmp_path, size=(64, 48))
    leftover = temp_path_for(sidecar_path(photo, "heatmap.png", SidecarSettings()))
    leftover.parent.mkdir()
    leftover.write_bytes(b"half a png")
    os.utime(leftover, (0, 0))
    assert sweep_leftovers([photo]) == []  # the photo's own folder only
    assert sweep_leftovers([photo], sidecars=SidecarSettings()) == [leftover] and not leftover.exists()


@pytest.mark.parametrize("mode", ["hidden", "central"])
def test_a_photo_named_through_a_symlink_has_the_same_sidecars(tiny, tmp_path, mode):
    from emowatch.tagging import untag_photo

    photo = write_photo(tmp_path / "real", size=(320, 240))
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    settings = Settings(explain=ExplainSettings(method="cam"),
                        sidecars=SidecarSettings(mode=mode,
                                                 dir=tmp_path / "central" if mode == "central" else None))
    [result] = list(_cam_tagger(tiny, settings, write=False).tag([tmp_path / "link" / photo.name]))
    assert result.sidecars["heatmap"] == sidecar_path(photo, "heatmap.png", settings.sidecars)
    assert "link" not in result.sidecars["heatmap"].parts
    # one an earlier version placed by the name it was given is found too
    old = sidecar_path(tmp_path / "link" / photo.name, "explain.json", settings.sidecars, resolve=False)
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text(json.dumps({"schema": 1, "label": "positive"}))  # emowatch's own
    untag_photo(photo, settings)
    assert not any(p.exists() for p in result.sidecars.values())
    assert untag_photo(tmp_path / "link" / photo.name, settings).ok and not old.exists()


def test_a_moved_photo_replaces_the_sidecars_left_at_its_new_name(tiny, tmp_path):
    from emowatch.explain.save import follow_move

    a, b = write_photo(tmp_path, "a.jpg", size=(320, 240)), write_photo(tmp_path, "b.jpg", size=(240, 320))
    results = {r.path.name: r for r in _cam_tagger(tiny, write=False).tag([a, b])}
    a_doc = json.loads(results["a.jpg"].sidecars["explain"].read_text())
    b.unlink()
    a.rename(b)  # a takes the name of a photo that is gone, whose sidecars are still there
    moved = follow_move(a, b, SidecarSettings())
    assert sorted(moved) == sorted(results["b.jpg"].sidecars.values())
    doc = json.loads(results["b.jpg"].sidecars["explain"].read_text())
    assert doc["photo"] == "b.jpg" and doc["regions"] == a_doc["regions"] and doc["label"] == a_doc["label"]
    assert not any(p.exists() for p in results["a.jpg"].sidecars.values())


def test_a_json_that_is_not_an_explanation_of_ours_is_not_moved_or_dropped(tmp_path):
    from emowatch.explain.save import drop_if_stale, follow_move

    settings = SidecarSettings(mode="beside")
    foreign = sidecar_path(tmp_path / "a.jpg", "explain.json", settings)
    foreign.write_text('{"hello": 1, "label": "sunset"}')
    assert follow_move(tmp_path / "a.jpg", tmp_path / "b.jpg", settings) == []
    assert drop_if_stale(tmp_path / "a.jpg", "positive", settings) == []
    assert foreign.read_text() == '{"hello": 1, "label": "sunset"}'


def test_an_explanation_that_fails_drops_one_of_another_label(tiny, tmp_path):
    class Failing:
        def explain(self, prepared, prediction):
            raise ZeroDivisionError("division by zero")

    photo = write_photo(tmp_path)
    [tagged] = list(_cam_tagger(tiny).tag([photo]))
    doc = json.loads(tagged.sidecars["explain"].read_text())
    doc["label"] = next(label for label in tiny.labels if label != tagged.label)
    tagged.sidecars["explain"].write_text(json.dumps(doc))
    [again] = list(Tagger(tiny, Settings(), explainer=Failing()).tag([photo]))
    assert again.error == ("metadata unchanged, but no explanation saved: "
                           "unexpected ZeroDivisionError: division by zero")
    assert not any(p.exists() for p in tagged.sidecars.values())


def _another_programs_files(photo: Path) -> dict[Path, bytes]:
    files = {photo.with_name(photo.name + ".explain.json"): b'{"tool": "other", "note": "mine"}\n',
             photo.with_name(photo.name + ".heatmap.png"): b"another program's picture"}
    for path, data in files.items():
        path.write_bytes(data)
    return files


def test_untag_removes_no_file_beside_the_photo_that_emowatch_did_not_write(tiny, tmp_path):
    from emowatch.tagging import untag_photo

    photo = write_photo(tmp_path, size=(320, 240))
    theirs = _another_programs_files(photo)
    [result] = list(_cam_tagger(tiny).tag([photo]))  # ours go to the hidden folder
    assert result.ok and HIDDEN_DIR in result.sidecars["heatmap"].parts
    untagged = untag_photo(photo, Settings())
    removed = [c for c in untagged.changes if c.startswith(f"remove {tmp_path}")]
    assert untagged.ok and len(removed) == 3 and all(HIDDEN_DIR in c for c in removed), untagged.changes
    assert {p: p.read_bytes() for p in theirs} == theirs and not (tmp_path / HIDDEN_DIR).exists()


def test_an_explanation_beside_the_photo_does_not_replace_another_programs_file(tiny, tmp_path):
    photo = write_photo(tmp_path, size=(320, 240))
    theirs = _another_programs_files(photo)
    settings = Settings(explain=ExplainSettings(method="cam"), sidecars=SidecarSettings(mode="beside"))
    [result] = list(_cam_tagger(tiny, settings, write=False).tag([photo]))
    assert result.error.startswith("no explanation saved: cannot write the ") and "another program's file" in result.error
    assert {p: p.read_bytes() for p in theirs} == theirs
    assert not photo.with_name(photo.name + ".regions.png").exists()


@pytest.mark.parametrize("explain_again", [True, False])
def test_a_retag_with_another_answer_drops_the_old_heatmap_where_earlier_settings_put_it(
        tiny, tmp_path, explain_again):
    from emowatch.tagging import untag_photo

    photo = write_photo(tmp_path, size=(320, 240))
    [first] = list(_cam_tagger(tiny).tag([photo]))  # hidden folder
    old = first.sidecars
    doc = json.loads(old["explain"].read_text())
    doc["label"] = "other" if first.label != "other" else "negative"  # it explained another answer
    old["explain"].write_text(json.dumps(doc))
    beside = Settings(explain=ExplainSettings(method="cam"), sidecars=SidecarSettings(mode="beside"))
    tagger = _cam_tagger(tiny, beside) if explain_again else Tagger(tiny, beside)
    [again] = list(tagger.tag([photo]))
    assert again.ok, again.error
    assert not any(p.exists() for p in old.values()) and not (tmp_path / HIDDEN_DIR).exists()
    assert any("an earlier explanation of another answer" in c for c in again.changes)
    assert bool(again.sidecars) == explain_again and all(p.is_file() for p in again.sidecars.values())
    assert untag_photo(photo, beside).ok


def test_the_explanation_json_names_the_file_behind_a_symlink(tiny, tmp_path):
    photo = write_photo(tmp_path / "real", size=(320, 240))
    (tmp_path / "album").mkdir()
    link = tmp_path / "album" / "favourite.jpg"
    link.symlink_to(photo)
    [result] = list(_cam_tagger(tiny, write=False).tag([link]))
    doc = json.loads(result.sidecars["explain"].read_text())
    assert doc["photo"] == "IMG_1.jpg" and doc["heatmap"] == "IMG_1.jpg.heatmap.png"


def test_untag_says_the_metadata_went_when_only_the_sidecars_could_not(tiny, tmp_path, monkeypatch):
    from emowatch import tagging
    from emowatch.errors import ReadOnlyError

    photo = write_photo(tmp_path, size=(320, 240))
    assert list(_cam_tagger(tiny).tag([photo]))[0].ok

    def read_only(photo, settings, dry_run=False):  # a read-only mount cannot be made here
        raise ReadOnlyError("cannot remove emowatch's sidecar: Read-only file system", photo)

    monkeypatch.setattr(tagging, "remove_sidecars", read_only)
    result = tagging.untag_photo(photo, Settings())
    assert result.error == "metadata removed, but cannot remove emowatch's sidecar: Read-only file system"
    assert result.action == "removed" and b"emowatch" not in photo.read_bytes()


def test_an_explanation_file_left_without_its_json_is_still_known_as_emowatchs(tiny, tmp_path):
    # a crash between the region map and the JSON (or a JSON deleted by hand): the region map
    # blocked every later explanation beside the photo, and untag left it
    from emowatch.tagging import untag_photo

    photo = write_photo(tmp_path, size=(320, 240))
    beside = Settings(explain=ExplainSettings(method="cam"), sidecars=SidecarSettings(mode="beside"))
    [first] = list(_cam_tagger(tiny, beside, write=False).tag([photo]))
    first.sidecars["explain"].unlink()
    first.sidecars["heatmap"].unlink()
    [again] = list(_cam_tagger(tiny, beside, write=False).tag([photo]))
    assert again.ok, again.error
    again.sidecars["explain"].unlink()
    assert untag_photo(photo, beside).ok and not any(p.exists() for p in again.sidecars.values())


@pytest.mark.parametrize("write", [True, False], ids=["tag", "explain"])
def test_a_photo_edited_while_it_is_explained_again_keeps_its_earlier_heatmap(tiny, tmp_path, write):
    # Lightroom saving a keyword meanwhile: the new sidecars replaced the earlier ones, then
    # were removed for the change, and the photo was left with no heatmap at all
    settings = Settings(explain=ExplainSettings(method="cam"))
    cam = make_explainer(tiny, settings.explain)
    photo = write_photo(tmp_path)
    [first] = list(Tagger(tiny, settings, explainer=cam, write=write).tag([photo]))
    earlier = {p: p.read_bytes() for p in first.sidecars.values()}

    class EditedMeanwhile:
        def explain(self, prepared, prediction):
            explanation = cam.explain(prepared, prediction)
            st = os.stat(prepared.path)
            os.utime(prepared.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
            return explanation

    [again] = list(Tagger(tiny, settings, explainer=EditedMeanwhile(), write=write).tag([photo]))
    assert again.error_type == "FileChangedError" and again.transient and again.sidecars == {}
    assert {p: p.read_bytes() for p in earlier} == earlier
