"""The feature cache: keyed by everything that changes its tensors, and never left half made."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("torchvision")

import numpy as np
import torch

from training import backbones
from training.datasets import read_labelled
from training.features import CacheSpec, extract, pool_through_tail, weights_digest
from training.images import ImageLoadError, Preprocess

from tinydata import corpus


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return backbones.build("resnet50", pretrained=False).eval()


@pytest.fixture
def samples(tmp_path):
    return read_labelled(corpus(tmp_path, per_class=1, size=(96, 48)))   # wide photos


def _spec(bb, size: int, stop: int = 4, resize: str = "squash") -> CacheSpec:
    return CacheSpec(bb.spec.name, weights_digest(bb, stop), stop, False, 1, 0, size, "float32",
                     resize=resize)


def _prep(bb, size: int, resize: str = "squash") -> Preprocess:
    return Preprocess(size, bb.spec.mean, bb.spec.std, resize)


def test_cached_graphs_of_another_input_size_are_not_reused(backbone, samples, tmp_path):
    # the prefix and tail ONNX files were keyed without the size: a later run at another size
    # fed 96 px photos to a graph traced for 64 px (onnxruntime InvalidArgument)
    cache = tmp_path / "cache"
    for size in (64, 96):
        cached = extract(samples, backbone, _spec(backbone, size), _prep(backbone, size), cache, threads=1)
        assert cached.shape[1:] == (3, 1024, size // 16, size // 16)
        pooled = pool_through_tail(cached, backbone, 4, cache, threads=1)
        with torch.no_grad():
            want = backbone(torch.from_numpy(np.array(cached[0])), 4).mean(dim=(2, 3)).numpy()
        np.testing.assert_allclose(pooled[0], want, atol=1e-4)


def test_the_resize_is_part_of_the_cache_key(backbone, samples, tmp_path):
    squashed, cropped = (
        extract(samples, backbone, _spec(backbone, 32, 1, resize), _prep(backbone, 32, resize),
                tmp_path / "cache", threads=1)
        for resize in ("squash", "center_crop"))
    assert not np.allclose(squashed, cropped)


def test_no_cache_from_before_resize_was_in_the_key_is_reused(backbone, samples):
    # the old key left resize out, so an old center_crop cache had the key a new squash run
    # computes: a squash run would silently train on center-crop features
    for resize in ("squash", "center_crop"):
        spec = _spec(backbone, 32, resize=resize)
        assert spec.key(samples) != _legacy_key(spec, samples)


def _legacy_key(spec: CacheSpec, samples) -> str:
    import hashlib
    import json

    fields = {k: v for k, v in spec.__dict__.items() if k != "resize"}
    blob = json.dumps([fields, [str(s.path) for s in samples]], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_a_failed_or_interrupted_extraction_leaves_no_partial_file(backbone, samples, tmp_path):
    cache = tmp_path / "cache"

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(samples, backbone, _spec(backbone, 32, 1), _prep(backbone, 32), cache, batch=1,
                threads=1, progress=interrupt)
    samples[1].path.write_bytes(b"not a jpeg")
    with pytest.raises(ImageLoadError, match=samples[1].path.name):
        extract(samples, backbone, _spec(backbone, 32, 1), _prep(backbone, 32), cache, threads=1)
    assert not [p.name for p in cache.iterdir() if "partial" in p.name]
