"""Fixed splits, committed as file lists (names only, never images), so that every run and
every number in the model card uses the same held-out photos."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .datasets import DatasetError, Sample, csv_rows, relative_name

SPLITS_DIR = Path(__file__).parent / "splits"


def make_split(samples: Sequence[Sample], shares: Mapping[str, float], seed: int) -> dict[str, str]:
    """name -> split, stratified by 3-class label and the dataset's own emotion label."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s in samples:
        groups[(s.label, s.emotion)].append(relative_name(s))
    rng = np.random.default_rng(seed)
    names, fractions = list(shares), np.cumsum(list(shares.values()))
    out: dict[str, str] = {}
    for key in sorted(groups):
        members = sorted(groups[key])
        rng.shuffle(members)
        cuts = np.round(fractions / fractions[-1] * len(members)).astype(int)
        for i, name in enumerate(members):
            out[name] = names[int(np.searchsorted(cuts, i, side="right"))]
    return out


def write_split(path: Path, split: Mapping[str, str]) -> None:
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "split"])
        for name in sorted(split):
            w.writerow([name, split[name]])


def read_split(path: Path) -> dict[str, str]:
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: split file not found")
    return {row["file"]: row["split"] for row in csv_rows(path, ("file", "split"))}


def apply_split(samples: Sequence[Sample], split: Mapping[str, str], parts: Sequence[str]) -> list[Sample]:
    """The samples in any of `parts`; every sample must be named by the split file."""
    missing = [relative_name(s) for s in samples if relative_name(s) not in split]
    if missing:
        raise DatasetError(f"{len(missing)} samples are not in the split file, e.g. {missing[0]}")
    wanted = set(parts)
    return [s for s in samples if split[relative_name(s)] in wanted]
