"""Tiny generated photo corpora and configs for real (seconds-long) training runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"positive": (220, 180, 40), "negative": (30, 40, 120), "other": (120, 120, 120)}


def corpus(root: Path, per_class: int = 8, size: tuple[int, int] = (224, 224)) -> Path:
    """`labels.csv` and one noisy flat-colour JPEG per row, `size` = (width, height)."""
    rng = np.random.default_rng(0)
    lines = ["path,label"]
    for label, color in COLORS.items():
        for i in range(per_class):
            noise = rng.integers(-30, 30, (size[1], size[0], 3))
            pixels = np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)
            name = f"{label}_{i}.jpg"
            Image.fromarray(pixels).save(root / name, quality=90)
            lines.append(f"{name},{label}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root / "labels.csv"


def resnet_overrides(tmp_path: Path, csv: Path, **model) -> dict:
    """A head-only ResNet50 run from random weights at a small size: seconds on a CPU."""
    return {
        "run": {"name": "tiny", "out_dir": str(tmp_path / "runs"), "seed": 3, "threads": 1},
        "data": {"fi": "", "emotion6": "", "labelled": [str(csv)], "labelled_eval": [str(csv)],
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"backbone": "resnet50", "pretrained": False, "input_size": 64, **model},
        "phase1": {"epochs": 2, "batch": 8, "views": 1},
        "phase2": {"epochs": 0, "views": 1},
    }
