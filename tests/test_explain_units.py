"""The pieces of the explainer, each on its own: designs, segmentation, surrogate, fidelity."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import pairwise_distances

from emowatch.errors import ExplainError
from emowatch.explain import surrogate
from emowatch.explain.atomicfile import write_atomic
from emowatch.explain.designs import hadamard, hadamard_order
from emowatch.explain.fidelity import _prefixes, ranking
from emowatch.explain.sampling import design_size, keep_masks
from emowatch.explain.segmentation import SegmentParams, merge_regions, segment


@pytest.mark.parametrize("n", [4, 8, 12, 20, 24, 32, 40, 44, 48, 64])
def test_hadamard_is_orthogonal_and_normalised(n):
    h = hadamard(n).astype(int)
    assert (h @ h.T == n * np.eye(n)).all()
    assert (h[:, 0] == 1).all()


def test_hadamard_order_is_the_smallest_that_fits():
    assert [hadamard_order(k) for k in (3, 11, 15, 19, 20, 23, 24, 31)] == [4, 12, 16, 20, 24, 24, 32, 32]


@pytest.mark.parametrize("regions", [5, 15, 19, 23, 30])
def test_foldover_design(regions):
    keep = keep_masks(97, regions, np.random.default_rng(3))
    assert len(keep) == design_size(97, regions)
    assert keep[0].all()
    rows = keep[1:]
    n = hadamard_order(regions)
    for block in range(len(rows) // (2 * n)):
        half = rows[block * 2 * n: block * 2 * n + n]
        fold = rows[block * 2 * n + n: (block + 1) * 2 * n]
        assert (fold == ~half).all()  # each row is followed (a block later) by its complement
        signed = np.where(half, 1, -1)
        # balanced, mutually orthogonal columns
        assert (signed.sum(0) == 0).all()
        assert (signed.T @ signed == n * np.eye(regions)).all()


def test_designs_depend_on_the_seed_only():
    a = keep_masks(97, 20, np.random.default_rng(1))
    b = keep_masks(97, 20, np.random.default_rng(1))
    c = keep_masks(97, 20, np.random.default_rng(2))
    assert (a == b).all() and not (a == c).all()
    assert keep_masks(50, 20, np.random.default_rng(1), "bernoulli").shape == (50, 20)
    with pytest.raises(ExplainError):
        keep_masks(50, 20, np.random.default_rng(1), "nope")


def test_cosine_distances_match_sklearn_as_lime_computes_them():
    keep = keep_masks(65, 13, np.random.default_rng(0), "bernoulli")
    keep[5] = False  # an all-hidden row: sklearn calls it distance 1
    ours = surrogate.cosine_distances(keep)
    theirs = pairwise_distances(keep.astype(float), keep[:1].astype(float), metric="cosine").ravel()
    assert np.allclose(ours, theirs)


@pytest.mark.parametrize("rows,regions,seed", [(97, 11, 0), (65, 13, 1), (1000, 34, 2), (17, 3, 3)])
def test_surrogate_is_lime_base_with_its_ridge(rows, regions, seed):
    """The numpy ridge gives what lime's LimeBase (scikit-learn's Ridge) gives."""
    from functools import partial

    from lime.lime_base import LimeBase

    rng = np.random.default_rng(seed)
    keep = keep_masks(rows, regions, rng, "bernoulli")
    keep[0] = True  # lime's first row is the photo itself
    target = keep @ rng.normal(0, 1, regions) + rng.normal(0, 0.3, rows)
    ours = surrogate.fit(keep, target, seed=seed)
    base = LimeBase(partial(surrogate.lime_kernel, kernel_width=surrogate.KERNEL_WIDTH), random_state=seed)
    intercept, ranked, score, local = base.explain_instance_with_data(
        keep.astype(float), target.reshape(-1, 1), surrogate.cosine_distances(keep), label=0,
        num_features=regions, feature_selection="none")
    theirs = np.zeros(regions)
    for region, weight in ranked:
        theirs[int(region)] = weight
    assert np.allclose(ours.weights, theirs, rtol=1e-9, atol=1e-12)
    assert ours.intercept == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    assert ours.score == pytest.approx(score, rel=1e-9)
    assert ours.local_prediction == pytest.approx(float(np.ravel(local)[0]), rel=1e-9, abs=1e-12)


def test_the_explainer_does_not_import_scikit_learn():
    code = ("import sys; import emowatch.explain.lime_explainer, emowatch.tagging; "
            "assert 'sklearn' not in sys.modules and 'lime' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_surrogate_recovers_an_additive_target():
    rng = np.random.default_rng(0)
    keep = keep_masks(129, 12, rng)
    truth = rng.normal(0, 1, 12)
    fit = surrogate.fit(keep, keep @ truth + 0.5, seed=0, kernel_width=1.0)
    assert fit.score > 0.99
    assert np.argsort(-np.abs(fit.weights))[:5].tolist() == np.argsort(-np.abs(truth))[:5].tolist()


def test_segmentation_numbers_regions_from_zero_and_merges_small_ones():
    from skimage import data
    from emowatch.runtime.preprocess import model_image
    from PIL import Image

    pixels = model_image(Image.fromarray(data.coffee()), 224)
    for method in ("quickshift", "slic"):
        labels = segment(pixels, method, SegmentParams(min_area=0.01, max_regions=15))
        k = int(labels.max()) + 1
        areas = np.bincount(labels.ravel())
        assert labels.dtype == np.int32 and labels.min() == 0 and len(areas) == k and (areas > 0).all()
        assert k <= 15 and areas.min() >= 0.01 * labels.size
        assert (segment(pixels, method, SegmentParams(min_area=0.01, max_regions=15)) == labels).all()


def test_merge_keeps_ids_dense():
    labels = np.zeros((20, 20), np.int32)
    labels[:, 10:] = 7
    labels[0, 0] = 3  # one tiny region
    pixels = np.zeros((20, 20, 3), np.uint8)
    merged = merge_regions(labels, pixels, min_area=0.01, max_regions=10)
    assert sorted(np.unique(merged)) == [0, 1]


def test_segmentation_rejects_what_it_cannot_read():
    with pytest.raises(ExplainError):
        segment(np.zeros((10, 10), np.uint8))
    with pytest.raises(ExplainError):
        segment(np.zeros((10, 10, 3), np.uint8), "watershed")


def test_deletion_prefixes_cover_the_frame_in_order():
    areas = np.array([10.0, 30.0, 20.0, 40.0])
    order = ranking(np.array([0.1, 0.9, -0.3, 0.4]))
    assert order.tolist() == [1, 3, 0, 2]
    hidden, share = _prefixes(order, areas, steps=4)
    assert hidden[0].sum() == 0 and hidden[-1].all()
    assert np.all(np.diff(share) >= 0) and share[0] == 0 and share[-1] == 1
    assert (share[1:] >= np.linspace(0, 1, 5)[1:] - 1e-9).all()
    assert hidden[1].tolist() == [False, True, False, False]  # 30% >= 25%


def test_write_atomic_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "a" / "b" / "x.png"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(target.parent) == ["x.png"]


def test_heatmap_opacity_scales_with_weight_and_stays_faint_for_weak_effects():
    from PIL import Image

    from emowatch.explain.heatmap import render

    photo = Image.new("RGB", (200, 100), (128, 128, 128))
    weights = np.zeros((32, 32), np.float32)
    weights[:, :16] = 0.05  # left half toward the class, weakly
    strong = np.asarray(render(photo, weights, "squash", "x"), np.float32)
    faint = np.asarray(render(photo, weights, "squash", "x", full_strength=0.5), np.float32)
    grey = 128.0
    # blue on the left, untouched on the right; with the floor the blue is a tenth as strong
    assert strong[10, 20, 2] > strong[10, 20, 0] and abs(strong[10, 180] - grey).max() < 1
    shift_strong = abs(strong[10, 20] - grey).sum()
    shift_faint = abs(faint[10, 20] - grey).sum()
    assert 0.05 < shift_faint / shift_strong < 0.15
