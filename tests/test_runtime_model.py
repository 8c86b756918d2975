"""The model file: validated on load, with clear errors; sessions honest about providers."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from emowatch import modelmeta
from emowatch.errors import ModelError
from emowatch.runtime import session as session_mod
from emowatch.runtime.model import EmotionModel, default_model_path
from emowatch.runtime.session import CPU, CUDA, OrtSession
from models import make_model, tiny_info


def test_loads_and_runs_a_dynamic_batch(tmp_path):
    model = EmotionModel.load(make_model(tmp_path / "m.onnx"), device="cpu")
    assert model.labels == ("positive", "negative", "other")
    assert model.info.id == "tiny-test@0.0.1"
    for n in (1, 5):
        out = model.run(np.zeros((n, 3, 64, 64), np.float32), cam=True)
        assert out.logits.shape == (n, 3)
        assert out.features.shape[:2] == (n, 8)
        assert out.cam_weights.shape == (n, 3, 8)
        np.testing.assert_allclose(out.probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        EmotionModel.load(tmp_path / "nope.onnx")


@pytest.mark.parametrize("content", [
    b"", b"this is not a model at all\n" * 10, b"\x08\x07\x12",
    b"pizza",  # "p" is field 14 (metadata) as a number, not a message: a TypeError traceback
    b"\x72\x07\x08\x80\x80\x80\x80\x80\x02\x3a\x00",  # a metadata key that is a number (2**36): bytes(2**36)
])
def test_corrupt_model_is_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        EmotionModel.load(path)


def test_truncated_model_is_refused(tmp_path):
    good = make_model(tmp_path / "m.onnx").read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelError):
        EmotionModel.load(path).run(np.zeros((1, 3, 64, 64), np.float32))


def test_foreign_onnx_model_is_refused(tmp_path):
    path = make_model(tmp_path / "foreign.onnx", metadata={"producer": "someone else"})
    with pytest.raises(ModelError, match="not an emowatch model"):
        EmotionModel.load(path)


def test_bad_metadata_names_the_key(tmp_path):
    meta = tiny_info().to_metadata()
    meta[modelmeta.KEY_MEAN] = "[0.5, 0.5]"
    with pytest.raises(ModelError, match="emowatch.mean"):
        EmotionModel.load(make_model(tmp_path / "m.onnx", metadata=meta))


@pytest.mark.parametrize("key,value,match", [
    # `info` crashed with a TypeError on these; a label becomes a keyword, a name is printed
    (modelmeta.KEY_TRAINING, "[1, 2]", "emowatch.training must be a JSON object"),
    (modelmeta.KEY_EVALUATION, "null", "emowatch.evaluation must be a JSON object"),
    (modelmeta.KEY_LABELS, '["pos|itive", "negative", "other"]', "emowatch.labels must be"),
    (modelmeta.KEY_LABELS, '["positive\\n", "negative", "other"]', "emowatch.labels must be"),
    (modelmeta.KEY_NAME, "tiny\x1b[2J", "emowatch.name must be printable"),
])
def test_metadata_that_would_break_a_keyword_or_a_screen_is_refused(tmp_path, key, value, match):
    meta = tiny_info().to_metadata()
    meta[key] = value
    with pytest.raises(ModelError, match=match):
        EmotionModel.load(make_model(tmp_path / "m.onnx", metadata=meta))


def test_a_model_with_a_fixed_batch_size_is_refused_before_any_photo(tmp_path):
    # it ran its first batch, then crashed the next with ONNX Runtime's traceback
    model = EmotionModel.load(make_model(tmp_path / "m.onnx", batch=2), device="cpu")
    with pytest.raises(ModelError, match=r"fixed batch size \(2\); an emowatch model needs a dynamic batch axis"):
        model.run(np.zeros((2, 3, 64, 64), np.float32))


def test_a_model_that_returns_nan_is_an_error_not_a_confident_answer(tmp_path):
    head = np.full((3, 8), np.nan, np.float32)
    model = EmotionModel.load(make_model(tmp_path / "m.onnx", head_weights=head), device="cpu")
    with pytest.raises(ModelError, match="not numbers"):
        model.run(np.zeros((1, 3, 64, 64), np.float32))


def test_an_inference_failure_after_the_first_run_is_one_of_ours(tmp_path):
    model = EmotionModel.load(make_model(tmp_path / "m.onnx"), device="cpu")
    model.run(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(ModelError, match="inference failed"):
        model.run(np.zeros((1, 3, 32, 64), np.float32))


def test_label_count_must_match_the_graph(tmp_path):
    meta = tiny_info().to_metadata()
    meta[modelmeta.KEY_LABELS] = '["a", "b"]'
    model = EmotionModel.load(make_model(tmp_path / "m.onnx", metadata=meta))
    # seen in the graph's declared logits, before any photo runs
    with pytest.raises(ModelError, match=r"the model's logits are \['N', 3\]; its metadata names 2 labels"):
        model.ready()


def test_session_is_created_lazily(tmp_path):
    model = EmotionModel.load(make_model(tmp_path / "m.onnx"))
    assert model._session._session is None
    model.run(np.zeros((1, 3, 64, 64), np.float32))
    assert model._session._session is not None


def test_cuda_requested_on_a_cpu_build_runs_on_cpu_and_says_so(tmp_path, caplog):
    model = EmotionModel.load(make_model(tmp_path / "m.onnx"), device="cuda")
    with caplog.at_level(logging.WARNING, logger="emowatch"):
        model.run(np.zeros((2, 3, 64, 64), np.float32))
    state = model.session_state
    assert state.providers == (CPU,)
    assert "running on CPU" in state.fallback
    assert any("CUDA" in r.getMessage() for r in caplog.records)
    # the install the README gives: onnxruntime-gpu alone lacks the CUDA libraries it needs
    assert "pip install '.[gpu]' in emowatch's folder" in state.fallback


class _BrokenCudaSession:
    """Stands in for a CUDA session whose first run fails (a CUDA device cannot exist here)."""

    def get_providers(self):
        return [CUDA, CPU]

    def run(self, names, feeds):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")


def test_cuda_failing_on_first_run_rebuilds_on_cpu(tmp_path, monkeypatch, caplog):
    s = OrtSession(make_model(tmp_path / "m.onnx"), device="cuda")
    real_build = s._build
    monkeypatch.setattr(session_mod, "available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(s, "_build", lambda providers: _BrokenCudaSession() if CUDA in providers else real_build(providers))
    with caplog.at_level(logging.WARNING, logger="emowatch"):
        out = s.run(None, {"image": np.zeros((1, 3, 64, 64), np.float32)})
    assert out[0].shape == (1, 3)
    assert s.state.providers == (CPU,)
    assert "first run" in s.state.fallback


def test_default_model_is_shipped_and_valid():
    model = EmotionModel.load(default_model_path(), device="cpu")
    assert set(model.labels) == {"positive", "negative", "other"}
    assert model.has_cam
    assert default_model_path().stat().st_size <= 25 * 1024 * 1024


def test_graphs_that_declare_less_are_taken_on_trust(tmp_path):
    # a graph without a declared input shape, or with an axis name that is not UTF-8, ran fine
    # before the checks at start; they refused it, or ended in a UnicodeDecodeError traceback
    import onnx

    model = onnx.load(make_model(tmp_path / "m.onnx"))
    model.graph.input[0].type.tensor_type.ClearField("shape")
    onnx.save(model, tmp_path / "no_shape.onnx")
    model = onnx.load(make_model(tmp_path / "m2.onnx"))
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "QQQQ"
    (tmp_path / "odd_axis.onnx").write_bytes(model.SerializeToString().replace(b"QQQQ", b"\xa3" * 4))
    for name in ("no_shape.onnx", "odd_axis.onnx"):
        loaded = EmotionModel.load(tmp_path / name)
        loaded.ready()
        assert loaded.run(np.zeros((2, 3, 64, 64), np.float32)).logits.shape == (2, 3)
