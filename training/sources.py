"""Which samples a config trains on and evaluates on, by dataset."""

from __future__ import annotations

from pathlib import Path

from . import datasets as ds
from .config import Config
from .splits import apply_split, make_split, read_split


def train_samples(cfg: Config) -> list[ds.Sample]:
    d, out = cfg.data, []
    if d.fi:
        out += [s for s in ds.read_fi(cfg.data_path(d.fi)) if s.split in d.fi_train_splits]
    if d.emotion6:
        out += _emotion6(cfg, d.emotion6_train_splits)
    if d.wikiart_tsv:
        out += _wikiart(cfg, "train")
    for source in d.labelled:
        out += ds.read_labelled(cfg.path(source), Path(source).stem)
    if not out:
        raise ds.DatasetError("the config names no training data")
    return out


def eval_sets(cfg: Config) -> dict[str, list[ds.Sample]]:
    """Named evaluation sets; none of their photos is in `train_samples`."""
    d, out = cfg.data, {}
    if d.fi and d.fi_eval_splits:
        out["fi_" + "+".join(d.fi_eval_splits)] = [
            s for s in ds.read_fi(cfg.data_path(d.fi)) if s.split in d.fi_eval_splits]
    if d.emotion6 and d.emotion6_eval_splits:
        out["emotion6_" + "+".join(d.emotion6_eval_splits)] = _emotion6(cfg, d.emotion6_eval_splits)
    if d.wikiart_tsv:
        out["wikiart_test"] = _wikiart(cfg, "test")
    for source in d.labelled_eval:
        out[Path(source).stem] = ds.read_labelled(cfg.path(source), Path(source).stem)
    return {k: v for k, v in out.items() if v}


def _emotion6(cfg: Config, parts) -> list[ds.Sample]:
    samples = ds.read_emotion6(cfg.data_path(cfg.data.emotion6))
    return apply_split(samples, read_split(cfg.path(cfg.data.emotion6_split_file)), parts)


def _wikiart(cfg: Config, part: str) -> list[ds.Sample]:
    d = cfg.data
    samples = ds.read_wikiart(cfg.data_path(d.wikiart_tsv), cfg.data_path(d.wikiart_images),
                              d.wikiart_ratings)
    # No published split: a stratified one, fixed by the run's seed.
    split = make_split(samples, {"train": 1 - d.wikiart_test_share, "test": d.wikiart_test_share},
                       cfg.run.seed)
    return apply_split(samples, split, [part])
