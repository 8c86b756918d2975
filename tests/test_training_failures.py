"""What a user can get wrong ends in one line and an exit code, and leaves nothing half-made."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

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
    assert evaluate_main([str(tmp_path / "missing.onnx"), *data]) == 1
    assert _one_line(capsys.readouterr().err) == f"error: {tmp_path / 'missing.onnx'}: ONNX model not found"
    assert evaluate_main([str(tmp_path / "missing.pt"), *data]) == 1
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
    # an lr of 1e10 gives a NaN loss in epoch 2; the run went on and saved NaN weights
    code = train_main(_tiny(tmp_path, corpus(tmp_path, per_class=2), "--set", "phase1.epochs=3",
                            "--set", "phase1.lr=1e10", "--no-eval"))
    assert code == 1
    line = _one_line(capsys.readouterr().err)
    assert "phase1 epoch 2: the loss became nan: training diverged" in line
    assert not list((tmp_path / "runs").iterdir())                      # no NaN model.pt


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
