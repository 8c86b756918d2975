"""Export parity: the ONNX file computes what PyTorch computes, cam_weights included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import onnx
import onnxruntime as ort
import torch

from emowatch.modelmeta import ModelInfo
from export.onnx_export import ExportError, export, read_info
from training import backbones
from training.datasets import read_fi
from training.images import Preprocess, load_rgb
from training.labels import LABELS
from training.model import EmotionNet, ExportForward, Head

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def net() -> EmotionNet:
    torch.manual_seed(0)
    try:
        bb = backbones.build("efficientnet_lite0")
    except backbones.BackboneError:
        bb = backbones.build("efficientnet_lite0", pretrained=False)
    head = Head(bb.spec.channels)
    # Non-trivial normalisation statistics, as after training, so the BN scale matters.
    head.norm.running_mean.uniform_(0, 1)
    head.norm.running_var.uniform_(0.2, 2)
    head.norm.weight.data.uniform_(0.5, 1.5)
    return EmotionNet(bb, head).eval()


@pytest.fixture(scope="module")
def photos(net) -> np.ndarray:
    """Real photos where the shared data is present (as in CI), generated ones otherwise."""
    prep = Preprocess(224, net.backbone.spec.mean, net.backbone.spec.std)
    if (DATA / "fi" / "manifest.csv").exists():
        samples = read_fi(DATA / "fi", split="val")[:: 97][:8]
        rgb = np.stack([load_rgb(s.path, 224) for s in samples])
    else:
        rgb = np.random.default_rng(0).integers(0, 256, (8, 224, 224, 3), dtype=np.uint8)
    return prep.normalise(rgb)


def _info(net) -> ModelInfo:
    spec = net.backbone.spec
    return ModelInfo(labels=LABELS, input_size=224, mean=spec.mean, std=spec.std, name="test",
                     version="0", backbone=spec.name, training={"photos": 1},
                     evaluation={"sets": {"fi_val": {"accuracy": 0.5}}})


@pytest.fixture(scope="module")
def exported(net, photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "m.onnx"
    parity = export(ExportForward(net), _info(net), out, photos)
    return out, parity


def test_parity_and_checker(exported):
    out, parity = exported
    assert parity.photos == 8 and parity.argmax_agreement == 1.0
    assert parity.max_abs_diff["logits"] < 1e-3
    onnx.checker.check_model(str(out), full_check=True)


def test_metadata_round_trip(net, exported):
    info = read_info(exported[0])
    assert info == _info(net)
    assert ModelInfo.from_metadata(
        ort.InferenceSession(str(exported[0])).get_modelmeta().custom_metadata_map) == info


def test_outputs_batch_axis_and_cam_weights_match_autograd(net, exported, photos):
    session = ort.InferenceSession(str(exported[0]), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    x = photos[:3]
    logits, features, cam = session.run(["logits", "features", "cam_weights"], {"image": x})
    assert logits.shape == (3, 3) and features.shape == (3, 1280, 7, 7) and cam.shape == (3, 3, 1280)

    with torch.no_grad():
        feats = net.backbone(torch.from_numpy(x))
    pooled = feats.mean(dim=(2, 3))
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda p: net.head(p[None])[0], pooled[i])
        np.testing.assert_allclose(cam[i], jac.numpy(), atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(features, feats.numpy(), atol=1e-3)


def test_export_fails_above_tolerance_and_leaves_no_file(net, photos, tmp_path):
    out = tmp_path / "bad.onnx"
    with pytest.raises(ExportError, match="beyond tolerance"):
        export(ExportForward(net), _info(net), out, photos[:2], tolerance={"logits": -1.0})
    assert not out.exists() and not list(tmp_path.iterdir())


def _torch_export_that_dies(error: BaseException):
    def partial_export(module, args, path, **kwargs):
        Path(path).write_bytes(b"half an onnx graph")
        raise error
    return partial_export


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_an_export_that_dies_midway_leaves_no_temporary_file(net, photos, tmp_path, monkeypatch, error):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the shipped model")
    monkeypatch.setattr(torch.onnx, "export", _torch_export_that_dies(error))
    with pytest.raises(type(error)):
        export(ExportForward(net), _info(net), out, photos[:2])
    assert out.read_bytes() == b"the shipped model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_writing_metadata_that_dies_midway_leaves_no_temporary_file(exported, tmp_path, monkeypatch, error):
    from export.onnx_export import write_metadata

    model = tmp_path / "m.onnx"
    model.write_bytes(exported[0].read_bytes())

    def partial_save(proto, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise error

    monkeypatch.setattr(onnx, "save", partial_save)
    with pytest.raises(type(error)):
        write_metadata(model, read_info(model))
    assert model.read_bytes() == exported[0].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_a_network_with_nan_outputs_is_refused_not_verified(net, photos, tmp_path):
    # a diverged run's NaN outputs "agreed" with onnxruntime: max(0.0, nan) == 0.0
    import copy

    broken = copy.deepcopy(net)
    with torch.no_grad():
        broken.head.out.bias[0] = float("nan")
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError, match=r"PyTorch gives non-finite logits \(NaN or inf\)"):
        export(ExportForward(broken), _info(net), out, photos[:2])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("method", ["MinMax", "Percentile"])
def test_an_int8_copy_keeps_the_metadata_and_the_answers_of_the_fp32_file(exported, photos, tmp_path, method):
    from export.quantize import compare, quantize

    fp32, out = exported[0], tmp_path / "int8.onnx"
    quantize(fp32, out, photos, method=method)
    assert read_info(out) == read_info(fp32)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    a, b = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, out))
    pa, pb = (s.run(["logits"], {"image": photos})[0] for s in (a, b))
    assert np.corrcoef(pa.ravel(), pb.ravel())[0, 1] > 0.9
    report = compare(fp32, out, photos, pa.argmax(1))
    assert report.photos == len(photos) and report.accuracy_fp32 == 1.0
    assert report.kept == (report.agreement >= 0.99)


def test_calibration_batches_are_all_one_size():
    from export.quantize import calibration_batches

    photos = np.arange(50)
    assert [len(b) for b in calibration_batches(photos)] == [16, 16, 16]
    assert [len(b) for b in calibration_batches(photos[:7])] == [7]
    assert [len(b) for b in calibration_batches(photos[:32])] == [16, 16]
