"""Dataset readers on fixture index files in the real layouts, with tiny generated images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from PIL import Image

from training import datasets as ds

FIXTURES = Path(__file__).parent / "fixtures" / "training"


def _image(path: Path, color=(128, 64, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), color).save(path)
    return path


def test_fi_manifest(tmp_path):
    shutil.copy(FIXTURES / "fi_manifest.csv", tmp_path / "manifest.csv")
    samples = ds.read_fi(tmp_path)
    assert [(s.emotion, s.label, s.split) for s in samples] == [
        ("amusement", "positive", "train"), ("awe", "positive", "val"),
        ("fear", "negative", "train"), ("sadness", "negative", "val")]
    assert samples[0].path == tmp_path / "amusement" / "amusement_0001.jpg"
    assert [s.emotion for s in ds.read_fi(tmp_path, split="val")] == ["awe", "sadness"]


def test_fi_manifest_disagreeing_label_is_an_error(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,emotion8,label3,split\na/1.jpg,fear,positive,train\n")
    with pytest.raises(ds.DatasetError, match="fear"):
        ds.read_fi(tmp_path)


def test_fi_folders(tmp_path):
    _image(tmp_path / "contentment" / "a.jpg")
    _image(tmp_path / "disgust" / "b.png")
    (tmp_path / "disgust" / "notes.txt").write_text("not an image")
    _image(tmp_path / "unrelated" / "c.jpg")
    samples = ds.read_fi(tmp_path)
    assert [(s.path.name, s.label) for s in samples] == [("a.jpg", "positive"), ("b.png", "negative")]
    with pytest.raises(ds.DatasetError, match="manifest"):
        ds.read_fi(tmp_path, split="val")


def test_emotion6_dominant_share_decides_not_the_folder(tmp_path):
    shutil.copy(FIXTURES / "emotion6_ground_truth.txt", tmp_path / "ground_truth.txt")
    samples = {f"{s.path.parent.name}/{s.path.name}": s for s in ds.read_emotion6(tmp_path)}
    assert samples["fear/1.jpg"].label == "negative"
    assert samples["fear/2.jpg"].label == "positive"        # found with "fear", annotated joy
    assert samples["joy/1.jpg"].label == "other"            # neutral dominates
    assert samples["joy/2.jpg"].emotion == "disgust"        # tie: disgust precedes surprise
    assert samples["surprise/1.jpg"].label == "other"
    assert samples["fear/1.jpg"].path == tmp_path / "fear" / "1.jpg"
    assert samples["joy/2.jpg"].shares == pytest.approx((0.0, 0.4, 0.6))


def test_emotion6_images_folder(tmp_path):
    shutil.copy(FIXTURES / "emotion6_ground_truth.txt", tmp_path / "ground_truth.txt")
    (tmp_path / "images").mkdir()
    assert ds.read_emotion6(tmp_path)[0].path.parent.parent == tmp_path / "images"


def test_emotion6_bad_row(tmp_path):
    (tmp_path / "ground_truth.txt").write_text("header\nfear/1.jpg\t1\t2\t0.5\n")
    with pytest.raises(ds.DatasetError, match=":2"):
        ds.read_emotion6(tmp_path)


def test_wikiart_tsv(tmp_path):
    ids = ["58c6237dedc2c9c7dc0de1ae", "577280dfedc2cb3880f28e76", "57727f2dedc2cb3880ed5fa9",
           "5772716cedc2cb3880c1907f"]
    for i in ids:
        _image(tmp_path / "images" / f"{i}.jpg")
    tsv = FIXTURES / "WikiArt-Emotions-All.tsv"
    samples = ds.read_wikiart(tsv, tmp_path / "images")
    assert [(s.path.stem, s.emotion, s.label) for s in samples] == [
        (ids[0], "happiness", "positive"), (ids[1], "fear", "negative"),
        (ids[2], "anticipation", "other")]
    by_art = ds.read_wikiart(tsv, tmp_path / "images", ratings="Art (image+title)")
    assert [(s.emotion, s.label) for s in by_art] == [("sadness", "negative")]


def test_wikiart_missing_columns(tmp_path):
    (tmp_path / "w.tsv").write_text("ID\tStyle\n1\tx\n")
    (tmp_path / "img").mkdir()
    with pytest.raises(ds.DatasetError, match="ImageOnly: agreeableness"):
        ds.read_wikiart(tmp_path / "w.tsv", tmp_path / "img")


def test_labelled_csv_and_folders(tmp_path):
    _image(tmp_path / "photos" / "x.jpg")
    (tmp_path / "labels.csv").write_text("path,label\nphotos/x.jpg,Neutral\nphotos/y.jpg,joy\nphotos/z.jpg,negative\n")
    samples = ds.read_labelled(tmp_path / "labels.csv")
    assert [s.label for s in samples] == ["other", "positive", "negative"]
    assert samples[0].path == tmp_path / "photos" / "x.jpg"
    _image(tmp_path / "corpus" / "positive" / "a.jpg")
    _image(tmp_path / "corpus" / "other" / "b.jpg")
    assert [s.label for s in ds.read_labelled(tmp_path / "corpus")] == ["other", "positive"]
    (tmp_path / "bad.csv").write_text("path,label\na.jpg,bored\n")
    with pytest.raises(ds.DatasetError, match="bored"):
        ds.read_labelled(tmp_path / "bad.csv")
