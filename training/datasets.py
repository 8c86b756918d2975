"""Dataset readers: each turns a dataset in its published layout into a list of `Sample`s.

Readers only read the index files and list image paths; they never open the images, so they
are fast and their tests can use tiny fixtures.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from . import labels as L

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


class DatasetError(ValueError):
    """A dataset folder or index file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str          # positive / negative / other
    dataset: str        # "fi", "emotion6", "wikiart", or the name given to a plain corpus
    emotion: str = ""   # the dataset's own label, kept for per-emotion tables
    split: str = ""     # the dataset's own split, where it has one
    # The annotators' distribution over positive / negative / other, where the dataset has
    # one (Emotion6, WikiArt): the dominant label throws away how mixed a photo is.
    shares: tuple[float, ...] = ()


def read_fi(root: Path, split: str | None = None) -> list[Sample]:
    """FI from `manifest.csv` (path, emotion8, label3, split) or, without one, emotion folders."""
    root = Path(root)
    manifest = root / "manifest.csv"
    if not manifest.exists():
        if split:
            raise DatasetError(f"{root}: split {split!r} asked for, but there is no manifest.csv")
        return _emotion_folders(root, "fi", L.FI)
    samples = []
    for row in csv_rows(manifest, ("path", "emotion8")):
        emotion = row["emotion8"].strip().lower()
        try:
            label = L.to3(emotion, L.FI)
        except L.LabelError as e:
            raise DatasetError(f"{manifest}: {row['path']}: {e} (FI's are {', '.join(L.FI)})") from None
        if row.get("label3") and row["label3"].strip() != label:
            raise DatasetError(f"{manifest}: {row['path']} says {row['label3']} for {emotion}")
        samples.append(Sample(root / row["path"], label, "fi", emotion, row.get("split") or ""))
    return [s for s in samples if split is None or s.split == split]


def read_emotion6(root: Path) -> list[Sample]:
    """Emotion6 from `ground_truth.txt`: the dominant of seven shares decides the class.

    The folder an image sits in is only the keyword it was found with, never its label.
    """
    root = Path(root)
    index = root / "ground_truth.txt"
    if not index.exists():
        raise DatasetError(f"{index}: not found (is {root} an Emotion6 folder?)")
    images = root / "images" if (root / "images").is_dir() else root
    samples = []
    try:
        lines = [ln for ln in index.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{index}: cannot read it ({e})") from None
    for n, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != 3 + len(L.EMOTION6_COLUMNS):
            raise DatasetError(f"{index}:{n}: expected {3 + len(L.EMOTION6_COLUMNS)} columns")
        try:
            shares = [float(c) for c in cells[3:]]
        except ValueError:
            raise DatasetError(f"{index}:{n}: shares must be numbers") from None
        emotion = L.dominant(shares, L.EMOTION6_COLUMNS)
        try:
            three = L.shares3(shares, L.EMOTION6_COLUMNS, L.EMOTION6)
        except L.LabelError as e:   # all shares zero: no emotion to learn from
            raise DatasetError(f"{index}:{n}: {e}") from None
        samples.append(Sample(images / cells[0], L.to3(emotion, L.EMOTION6), "emotion6", emotion,
                              shares=three))
    return samples


def read_wikiart(tsv: Path, images: Path, ratings: str = "ImageOnly") -> list[Sample]:
    """WikiArt Emotions from its `WikiArt-Emotions-All.tsv` (or -Ag4) and a folder of images.

    The TSV has ID, Style, Category, Artist, Title, Year, Image URL, ... and one column per
    emotion for each of three annotation setups ("Art (image+title)", "ImageOnly",
    "TitleOnly"). A photo model sees only the image, hence `ImageOnly` by default. Images
    are looked up as `<ID>.<ext>` in `images` (the name the usual downloaders give them);
    rows whose image is missing are skipped, rows with no emotion at all too.
    """
    tsv, images = Path(tsv), Path(images)
    columns = [f"{ratings}: {e}" for e in L.WIKIART_COLUMNS]
    by_stem = _images_by_stem(images)
    samples = []
    for row in csv_rows(tsv, ("ID", *columns), delimiter="\t"):
        path = by_stem.get(row["ID"].strip())
        if path is None:
            continue
        try:
            shares = [float(row[c] or 0) for c in columns]
        except ValueError:
            raise DatasetError(f"{tsv}: {row['ID']}: emotion columns must be numbers") from None
        if max(shares) <= 0:
            continue
        emotion = L.dominant(shares, L.WIKIART_COLUMNS)
        samples.append(Sample(path, L.to3(emotion, L.WIKIART), "wikiart", emotion,
                              shares=L.shares3(shares, L.WIKIART_COLUMNS, L.WIKIART)))
    return samples


def read_labelled(source: Path, name: str = "own") -> list[Sample]:
    """A photographer's corpus: a `path,label` CSV (paths relative to it) or `label/` folders.

    Labels may be positive / negative / other or any emotion name a dataset above uses.
    """
    source = Path(source)
    if source.is_dir():
        return _emotion_folders(source, name, None)
    samples = []
    for row in csv_rows(source, ("path", "label")):
        emotion = row["label"].strip().lower()
        try:
            label = L.to3(emotion)
        except L.LabelError as e:
            raise DatasetError(f"{source}: {row['path']}: {e}") from None
        path = Path(row["path"])
        samples.append(Sample(path if path.is_absolute() else source.parent / path,
                              label, name, emotion, row.get("split", "") or ""))
    return samples


def select(samples: Iterable[Sample], names: Sequence[str]) -> list[Sample]:
    """The samples whose file name (relative to their dataset root) is in `names`."""
    wanted = set(names)
    return [s for s in samples if _rel(s) in wanted]


def _rel(s: Sample) -> str:
    return f"{s.path.parent.name}/{s.path.name}"


def relative_name(sample: Sample) -> str:
    """`folder/file`: how split files name a sample without saying where the data lives."""
    return _rel(sample)


def _emotion_folders(root: Path, dataset: str, mapping) -> list[Sample]:
    if not root.is_dir():
        raise DatasetError(f"{root}: folder not found (no manifest.csv or emotion folders)")
    samples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            label = L.to3(folder.name, mapping)
        except L.LabelError:
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(path, label, dataset, folder.name.lower()))
    if not samples:
        raise DatasetError(f"{root}: no images in folders named after an emotion")
    return samples


def _images_by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder}: image folder not found")
    return {p.stem: p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES}


def csv_rows(path: Path, required: Sequence[str], delimiter: str = ",") -> list[dict[str, str]]:
    """The rows of a CSV (or TSV) with these columns; DatasetError naming the file otherwise."""
    if not path.exists():
        raise DatasetError(f"{path}: not found")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:   # a folder, a binary file
        raise DatasetError(f"{path}: cannot read it as a table ({e})") from None
    # a short row has None for its missing cells: an error here, not a crash on .strip()
    short = next((n for n, row in enumerate(rows, start=2) if any(row[c] is None for c in required)), None)
    if short is not None:
        raise DatasetError(f"{path}:{short}: fewer cells than columns")
    return rows
