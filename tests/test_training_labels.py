"""The one mapping from every dataset's labels to positive / negative / other."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from training import labels as L


def test_each_dataset_covers_its_own_emotions():
    assert set(L.FI) == {"amusement", "awe", "contentment", "excitement",
                         "anger", "disgust", "fear", "sadness"}
    assert set(L.EMOTION6) == set(L.EMOTION6_COLUMNS)
    assert set(L.WIKIART) == set(L.WIKIART_COLUMNS) and len(L.WIKIART) == 20


@pytest.mark.parametrize("mapping,emotion,expected", [
    (L.FI, "awe", "positive"), (L.FI, "fear", "negative"),
    (L.EMOTION6, "joy", "positive"), (L.EMOTION6, "surprise", "other"), (L.EMOTION6, "neutral", "other"),
    (L.EMOTION6, "anger", "negative"),
    (L.WIKIART, "humility", "positive"), (L.WIKIART, "arrogance", "negative"),
    (L.WIKIART, "disagreeableness", "other"), (L.WIKIART, "shyness", "other"),
])
def test_mapping(mapping, emotion, expected):
    assert L.to3(emotion, mapping) == expected


def test_any_dataset_name_and_aliases():
    assert L.to3("Excitement") == "positive"
    assert L.to3(" other ") == "other"
    assert L.to3("mixed") == "other"
    with pytest.raises(L.LabelError):
        L.to3("awe", L.EMOTION6)
    with pytest.raises(L.LabelError):
        L.to3("bored")


def test_dominant_breaks_ties_by_column_order():
    assert L.dominant([0.2, 0.4, 0.4], ["a", "b", "c"]) == "b"
    with pytest.raises(L.LabelError):
        L.dominant([1.0], ["a", "b"])


def test_output_order():
    assert L.LABELS == ("positive", "negative", "other")
    assert L.index("other") == 2


def test_shares3_sums_emotions_into_classes():
    shares = L.shares3([0.1, 0.2, 0.0, 0.3, 0.1, 0.2, 0.1], L.EMOTION6_COLUMNS, L.EMOTION6)
    assert shares == pytest.approx((0.3, 0.4, 0.3))
    with pytest.raises(L.LabelError):
        L.shares3([0] * 7, L.EMOTION6_COLUMNS, L.EMOTION6)


def test_loss_targets_mix_one_hot_and_shares():
    import numpy as np

    from training.loop import LoopSettings, targets

    s = LoopSettings(epochs=1, batch=1, balance="none", label_smoothing=0.3, seed=0, soft_targets=0.5)
    soft = np.array([[np.nan] * 3, [0.2, 0.2, 0.6]])
    t = targets(np.array([0, 2]), s, soft)
    assert t[0] == pytest.approx([0.8, 0.1, 0.1])
    assert t[1] == pytest.approx([0.5 * 0.1 + 0.1, 0.5 * 0.1 + 0.1, 0.5 * 0.8 + 0.3])
    assert t.sum(1) == pytest.approx([1, 1])
