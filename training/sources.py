"""Which samples a config trains on and evaluates on, by dataset.

A split or a list the config names that holds no photo is an error, not an empty set: a typo
in `data.fi_eval_splits` would otherwise drop an evaluation set without a word.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Sequence

from . import datasets as ds
from .config import Config
from .splits import apply_split, make_split, read_split


def train_samples(cfg: Config) -> list[ds.Sample]:
    d, out = cfg.data, []
    if d.fi:
        out += _fi(cfg, d.fi_train_splits, "data.fi_train_splits")
    if d.emotion6:
        out += _emotion6(cfg, d.emotion6_train_splits, "data.emotion6_train_splits")
    if d.wikiart_tsv:
        out += _wikiart(cfg, "train")
    for source in d.labelled:
        out += _labelled(cfg, source, "data.labelled")
    if not out:
        raise ds.DatasetError("the config names no training data")
    return out


def eval_sets(cfg: Config) -> dict[str, list[ds.Sample]]:
    """Named evaluation sets; none of their photos is in `train_samples`."""
    d, out = cfg.data, {}
    if d.fi and d.fi_eval_splits:
        out["fi_" + "+".join(d.fi_eval_splits)] = _fi(cfg, d.fi_eval_splits, "data.fi_eval_splits")
    if d.emotion6 and d.emotion6_eval_splits:
        out["emotion6_" + "+".join(d.emotion6_eval_splits)] = _emotion6(
            cfg, d.emotion6_eval_splits, "data.emotion6_eval_splits")
    if d.wikiart_tsv:
        out["wikiart_test"] = _wikiart(cfg, "test")
    for source in d.labelled_eval:
        out[Path(source).stem] = _labelled(cfg, source, "data.labelled_eval")
    return {k: v for k, v in out.items() if v}


def _fi(cfg: Config, parts: Sequence[str], key: str) -> list[ds.Sample]:
    root = cfg.data_path(cfg.data.fi)
    with _about("data.fi"):
        samples = ds.read_fi(root)
    _every_part_has_photos([s.split for s in samples], parts, key, f"FI ({root})")
    return [s for s in samples if s.split in parts]


def _emotion6(cfg: Config, parts: Sequence[str], key: str) -> list[ds.Sample]:
    with _about("data.emotion6"):
        samples = ds.read_emotion6(cfg.data_path(cfg.data.emotion6))
    path = cfg.path(cfg.data.emotion6_split_file)
    with _about("data.emotion6_split_file"):
        split = read_split(path)
    _every_part_has_photos(list(split.values()), parts, key, f"the split file {path}")
    return apply_split(samples, split, parts)


def _every_part_has_photos(splits: list[str], parts: Sequence[str], key: str, where: str) -> None:
    there = sorted(set(splits) - {""})
    empty = [p for p in parts if p not in there]
    if empty:
        has = f"its splits are {', '.join(there)}" if there else "it has no splits (no manifest.csv?)"
        raise ds.DatasetError(f"{key} = {list(parts)!r}: no photo of {where} is in split "
                              f"{', '.join(map(repr, empty))}; {has}")


def _labelled(cfg: Config, source: str, key: str) -> list[ds.Sample]:
    with _about(key):
        samples = ds.read_labelled(cfg.path(source), Path(source).stem)
    if not samples:
        raise ds.DatasetError(f"{key}: {cfg.path(source)} lists no photos")
    return samples


def _wikiart(cfg: Config, part: str) -> list[ds.Sample]:
    d = cfg.data
    with _about("data.wikiart_tsv"):
        samples = ds.read_wikiart(cfg.data_path(d.wikiart_tsv), cfg.data_path(d.wikiart_images),
                                  d.wikiart_ratings)
    if not samples:
        raise ds.DatasetError(f"data.wikiart_tsv: none of its rows has an image in "
                              f"{cfg.data_path(d.wikiart_images)} (data.wikiart_images)")
    # No published split: a stratified one, fixed by the run's seed.
    split = make_split(samples, {"train": 1 - d.wikiart_test_share, "test": d.wikiart_test_share},
                       cfg.run.seed)
    return apply_split(samples, split, [part])


@contextlib.contextmanager
def _about(key: str) -> Iterator[None]:
    """A reader's error (which names its file) told with the setting that named the file."""
    try:
        yield
    except ds.DatasetError as e:
        raise ds.DatasetError(f"{key}: {e}") from None
