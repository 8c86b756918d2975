"""What a user can get wrong ends in one line and an exit code, and leaves nothing half-made."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from training.__main__ import _train, parse, resolve
from training.__main__ import main as train_main
from training.evaluate import main as evaluate_main

from tinydata import corpus


def _tiny(tmp_path, csv, *more: str) -> list[str]:
    return ["--backbone", "resnet50", "--no-pretrained", "--out-dir", str(tmp_path / "runs"),
            "--set", "data.fi=''", "--set", "data.emotion6=''", "--set", f"data.labelled=['{csv}']",
            "--set", "model.input_size=32", "--set", "phase1.views=1", "--set", "phase2.epochs=0",
            "--set", "phase1.epochs=1", "--set", "run.threads=1",
            "--set", f"data.cache_dir='{tmp_path / 'cache'}'", *more]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("flags", [
    ["--set", "data.root='/nonexistent'", "--set", "data.fi=fi"],
    ["--data-root", "/nonexistent", "--set", "data.fi=fi"],
    ["--set", "data.fi=nofi"],
])
def test_missing_data_folders_are_one_line(tmp_path, capsys, flags):
    code = train_main(_tiny(tmp_path, corpus(tmp_path, per_class=1), *flags))
    assert code == 2
    assert "folder not found" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


def test_evaluate_with_missing_data_or_a_missing_or_broken_model_is_one_line(tmp_path, capsys):
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    csv = corpus(tmp_path, per_class=1)
    data = ["--set", "data.fi=''", "--set", "data.emotion6=''", "--set", f"data.labelled_eval=['{csv}']"]
    assert evaluate_main([str(tmp_path / "m.onnx"), "--set", "data.root='/nonexistent'"]) == 2
    assert "folder not found" in _one_line(capsys.readouterr().err)
    # each names the model once (it was "error: M: M: ONNX model not found")
    assert evaluate_main([str(tmp_path / "missing.onnx"), *data]) == 2  # found before any work
    assert _one_line(capsys.readouterr().err) == f"error: {tmp_path / 'missing.onnx'}: ONNX model not found"
    assert evaluate_main([str(tmp_path / "missing.pt"), *data]) == 2
    assert _one_line(capsys.readouterr().err) == f"error: {tmp_path / 'missing.pt'}: checkpoint not found"
    assert evaluate_main([str(tmp_path / "broken.onnx"), *data]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: {tmp_path / 'broken.onnx'}: cannot load it as an ONNX model")


def test_an_unreadable_training_photo_is_one_line_and_leaves_nothing_behind(tmp_path, capsys):
    csv = corpus(tmp_path, per_class=2)
    (tmp_path / "negative_1.jpg").write_bytes(b"not a jpeg")
    code = train_main(_tiny(tmp_path, csv))
    assert code == 1
    assert "negative_1.jpg: cannot read image" in _one_line(capsys.readouterr().err)
    assert not list((tmp_path / "runs").iterdir())                      # no half-made run folder
    assert not [p for p in (tmp_path / "cache").iterdir() if "partial" in p.name]


def test_a_diverged_run_is_one_line_and_saves_no_checkpoint(tmp_path, capsys):
    # an lr of 1e10 gives a NaN loss in epoch 2; the run went on and saved NaN weights. The
    # config refuses an lr above 1 now, so it is set past validation, as a library caller can.
    args = parse(_tiny(tmp_path, corpus(tmp_path, per_class=2), "--set", "phase1.epochs=3",
                       "--no-eval", "--quiet"))
    cfg = resolve(args)
    code = _train(dataclasses.replace(cfg, phase1=dataclasses.replace(cfg.phase1, lr=1e10)), args)
    assert code == 1
    line = _one_line(capsys.readouterr().err)
    assert "phase1 epoch 2: the loss became nan: training diverged" in line
    assert not list((tmp_path / "runs").iterdir())                      # no NaN model.pt


def test_an_absurd_learning_rate_is_one_line_before_any_work(tmp_path, capsys):
    # 1e38 ended in torch's "value cannot be converted to type float without overflow" traceback
    assert train_main(_tiny(tmp_path, corpus(tmp_path, per_class=1), "--set", "phase1.lr=1e38")) == 2
    assert _one_line(capsys.readouterr().err).startswith("error: phase1.lr = 1e+38: must be above 0 and at most 1")
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_during_the_slow_imports_is_one_line(tmp_path, capsys, monkeypatch):
    # `from .run import run` (torch, sklearn, scipy) takes seconds: Ctrl-C there was a traceback
    import sys

    class CtrlC:
        def find_spec(self, name, path=None, target=None):
            if name == "training.run":
                raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "training.run", raising=False)
    monkeypatch.setattr(sys, "meta_path", [CtrlC(), *sys.meta_path])
    assert train_main(["--out-dir", str(tmp_path / "runs")]) == 130
    assert _one_line(capsys.readouterr().err) == "interrupted"
    assert not (tmp_path / "runs").exists()


def test_a_failed_final_evaluation_keeps_the_checkpoint_and_says_where(tmp_path, capsys):
    csv = corpus(tmp_path, per_class=1)
    (tmp_path / "eval").mkdir()
    eval_csv = corpus(tmp_path / "eval", per_class=1)
    (tmp_path / "eval" / "other_0.jpg").write_bytes(b"not a jpeg")
    code = train_main(_tiny(tmp_path, csv, "--set", f"data.labelled_eval=['{eval_csv}']", "--quiet"))
    assert code == 1
    [folder] = (tmp_path / "runs").iterdir()
    line = _one_line(capsys.readouterr().err)
    assert "other_0.jpg: cannot read image" in line
    assert line.endswith(f"; the final evaluation failed: model.pt kept at {folder / 'model.pt'}")
    assert (folder / "model.pt").exists()
    assert "evaluation failed: " in (folder / "run.log").read_text()


def _unwritable(tmp_path: Path) -> Path:
    """A folder this user cannot write to: a locked one, or (for root) a read-only file system."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    for folder in (locked, Path("/proc/sys")):
        if not os.access(folder, os.W_OK):
            return folder
    pytest.skip("no folder here that this user cannot write to")


def test_a_missing_evaluation_set_is_found_before_any_training(tmp_path, capsys):
    # it was found after training (up to ~17 minutes), when the final evaluation began
    csv = corpus(tmp_path, per_class=1)
    code = train_main(_tiny(tmp_path, csv, "--set", f"data.labelled_eval=['{tmp_path / 'nosuch.csv'}']"))
    assert code == 2
    assert _one_line(capsys.readouterr().err) == f"error: data.labelled_eval: {tmp_path / 'nosuch.csv'}: not found"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()   # no work began


def test_every_problem_is_found_before_any_work_one_line_each(tmp_path, capsys):
    csv = corpus(tmp_path, per_class=1)
    (tmp_path / "photos.csv").write_text("path,label\ngone.jpg,positive\ngone2.jpg,other\n")
    locked = _unwritable(tmp_path)
    code = train_main(_tiny(tmp_path, csv, "--set", f"data.labelled_eval=['{tmp_path / 'photos.csv'}']",
                            "--out-dir", str(locked / "runs"), "--set", "model.pretrained=true",
                            "--backbone-weights", str(tmp_path / "nope.pth")))
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"error: run.out_dir = '{locked / 'runs'}': {locked} is not writable",
        f"error: {tmp_path / 'nope.pth'}: backbone weights not found",
        f"error: {tmp_path / 'gone.jpg'}: photo not found (listed by photos; 1 more of its photos "
        f"are missing too)",
    ]
    assert not (tmp_path / "cache").exists()


def _datasets(tmp_path: Path) -> dict[str, list[str]]:
    """A tiny FI folder and Emotion6 folder, and the flags that break each in one way."""
    from PIL import Image

    fi = tmp_path / "fi"
    (fi / "awe").mkdir(parents=True)
    for name in ("0.jpg", "1.jpg"):
        Image.new("RGB", (32, 32), (200, 150, 40)).save(fi / "awe" / name)
    (fi / "manifest.csv").write_text("path,emotion8,label3,split\nawe/0.jpg,awe,positive,train\n"
                                     "awe/1.jpg,awe,positive,val\n")
    (tmp_path / "fi_bad").mkdir()
    shutil.copytree(fi / "awe", tmp_path / "fi_bad" / "awe")
    (tmp_path / "fi_bad" / "manifest.csv").write_text("path,emotion8,label3,split\nawe/0.jpg,joyful,,train\n")
    e6 = tmp_path / "emotion6"
    e6.mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "training" / "emotion6_ground_truth.txt",
                e6 / "ground_truth.txt")
    (tmp_path / "split.csv").write_text("file,part\nfear/1.jpg,train\n")
    return {
        "split": ["--set", f"data.fi='{fi}'", "--set", "data.fi_eval_splits=['test']"],
        "label": ["--set", f"data.fi='{tmp_path / 'fi_bad'}'"],
        "columns": ["--set", f"data.emotion6='{e6}'", "--set", f"data.emotion6_split_file='{tmp_path / 'split.csv'}'"],
    }


@pytest.mark.parametrize("case,line", [
    # FI val was named, but no photo is in 'test': the evaluation set was dropped without a word
    ("split", "error: data.fi_eval_splits = ['test']: no photo of FI ({tmp}/fi) is in split 'test'; "
              "its splits are train, val"),
    # these two were tracebacks (LabelError, KeyError)
    ("label", "error: data.fi: {tmp}/fi_bad/manifest.csv: awe/0.jpg: unknown emotion label 'joyful' "
              "(FI's are amusement, awe, contentment, excitement, anger, disgust, fear, sadness)"),
    ("columns", "error: data.emotion6_split_file: {tmp}/split.csv: missing column(s) split"),
])
def test_a_dataset_index_that_cannot_be_used_is_one_line(tmp_path, capsys, case, line):
    flags = _datasets(tmp_path)[case]
    assert train_main(_tiny(tmp_path, corpus(tmp_path, per_class=1), *flags)) == 2
    assert _one_line(capsys.readouterr().err) == line.format(tmp=tmp_path)
    assert not (tmp_path / "runs").exists()


def test_a_cache_that_cannot_be_written_or_has_no_room_is_found_before_any_work(tmp_path, capsys):
    csv = corpus(tmp_path, per_class=1)
    locked = _unwritable(tmp_path)
    assert train_main(_tiny(tmp_path, csv, "--set", f"data.cache_dir='{locked / 'cache'}'")) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"error: data.cache_dir = '{locked / 'cache'}': {locked} is not writable")
    # 10^10 views of 6 photos: petabytes (before, a sparse file was made and filled for days,
    # or the file system refused the size once the run folder was made)
    assert train_main(_tiny(tmp_path, csv, "--set", "phase1.views=10000000000")) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: data.cache_dir = '{tmp_path / 'cache'}': the feature cache this run "
                           f"computes needs about ") and " GB free" in line
    assert not (tmp_path / "runs").exists()


def test_evaluate_refuses_what_it_cannot_use_before_evaluating_in_one_line(tmp_path, capsys):
    import torch

    csv = corpus(tmp_path, per_class=1)
    data = ["--set", "data.fi=''", "--set", "data.emotion6=''", "--set", f"data.labelled_eval=['{csv}']"]
    partial = tmp_path / "partial.pt"
    torch.save({"format": "emowatch-checkpoint-1", "backbone": "resnet50"}, partial)
    other = tmp_path / "other.pt"
    torch.save({"format": "emowatch-checkpoint-1", "backbone": "vgg16", "state_dict": {}, "labels": [],
                "head": {"hidden": [8], "dropout": 0.0}, "config": {}, "training": {}}, other)
    (tmp_path / "folder").mkdir()
    (tmp_path / "bad.toml").write_text("[data\n")
    (tmp_path / "gone.csv").write_text("path,label\ngone.jpg,positive\n")
    locked = _unwritable(tmp_path)
    cases = [   # (arguments, exit code, the line)
        ([partial, *data], 1, f"{partial}: an emowatch checkpoint without its state_dict, labels, head, "
                              f"config, training"),
        ([other, *data], 1, f"{other}: its network cannot be rebuilt (unknown backbone 'vgg16'"),
        ([partial, *data, "--out", csv], 2, f"cannot write the evaluation of {partial} to {csv}: "
                                            f"{csv} is a file, not a folder"),
        ([partial, *data, "--out", locked / "out"], 2, f"cannot write the evaluation of {partial} to "
                                                       f"{locked / 'out'}: {locked} is not writable"),
        ([partial, "--set", f"data.labelled_eval=['{tmp_path / 'gone.csv'}']", *data[:4]], 2,
         f"{tmp_path / 'gone.jpg'}: photo not found (listed by gone)"),
        ([partial, "--set", "data.fi=''", "--set", "data.emotion6=''"], 2, "the config names no evaluation data"),
        ([partial, "--config", tmp_path / "folder"], 2, f"{tmp_path / 'folder'}: [Errno 21] Is a directory"),
        ([partial, "--config", tmp_path / "bad.toml"], 2, f"{tmp_path / 'bad.toml'}: "),
        # a second model that is not there is found before the first is evaluated
        ([partial, tmp_path / "missing.onnx", *data], 2, f"{tmp_path / 'missing.onnx'}: ONNX model not found"),
        ([partial, tmp_path / "folder", *data], 2, f"{tmp_path / 'folder'}: checkpoint is not a file"),
    ]
    for args, code, line in cases:
        assert evaluate_main([str(a) for a in args]) == code, args
        assert _one_line(capsys.readouterr().err).startswith(f"error: {line}"), args
    assert not list(tmp_path.glob("*.evaluation.*"))
