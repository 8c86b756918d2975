"""Does classifying from a camera JPEG's embedded preview give the answer the photo itself gives?

    python bench/preview.py [--per-set 300] [--model PATH]

emowatch decodes a camera JPEG's MPF preview (emowatch/runtime/jpeg_preview.py) instead of its
megapixels when the preview can serve. This measures what that costs in answers, on labelled
photos read in place from ../shared/data (FI validation, the Emotion6 test split): each is
cropped to 3:2, enlarged to 3000 x 2000 with a little noise (so it decodes like a camera JPEG),
saved at quality 90 with a 1616 x 1077 preview as Sony stores one (tests/photos.camera_jpeg),
and classified from the preview and from the photo itself (the same pixels saved without a
preview, decoded at 1/8 scale as emowatch does). Prints label agreement, the mean and 95th
percentile of the largest change in any class's probability, and the accuracy of each way, per
set; for scale, also how often decoding every pixel of the photo instead of 1/8 of them gives
the same label. Needs the `train` extra.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from machine import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def camera_copy(source: Path, folder: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """(JPEG with an MPF preview, the same JPEG without it) made from a labelled photo."""
    from photos import camera_jpeg

    image = Image.open(source).convert("RGB")
    w, h = image.size
    if w / h > 1.5:
        crop_w = round(h * 1.5)
        image = image.crop(((w - crop_w) // 2, 0, (w - crop_w) // 2 + crop_w, h))
    else:
        crop_h = round(w / 1.5)
        image = image.crop((0, (h - crop_h) // 2, w, (h - crop_h) // 2 + crop_h))
    big = image.resize((3000, 2000), Image.Resampling.BICUBIC)
    noisy = np.asarray(big, dtype=np.int16) + rng.normal(0, 4, (2000, 3000, 3)).astype(np.int16)
    array = np.clip(noisy, 0, 255).astype(np.uint8)
    with_preview = camera_jpeg(folder / f"{source.stem}_cam.jpg", array)
    plain = folder / f"{source.stem}_plain.jpg"
    Image.fromarray(array).save(plain, quality=90)
    return with_preview, plain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-set", type=int, default=300, help="photos per set (spread evenly over it)")
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()

    from emowatch.runtime.classify import infer, prepare
    from emowatch.runtime.model import EmotionModel
    from emowatch.settings import load_settings
    from training import config as C
    from training.sources import eval_sets

    settings = load_settings(None, environ={}, overrides={"model": args.model, "device": "cpu"})
    model = EmotionModel.load(settings.model, device="cpu")
    sets = eval_sets(C.load(ROOT / "training" / "configs" / "default.toml"))
    rng = np.random.default_rng(0)
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, samples in sets.items():
            step = max(1, len(samples) // args.per_set)
            chosen = samples[::step][: args.per_set]
            agree, change, right_preview, right_main, used, full_agree = 0, [], 0, 0, 0, 0
            for sample in chosen:
                cam, plain = camera_copy(sample.path, Path(tmp), rng)
                a, b = prepare(cam, model), prepare(plain, model)
                used += a.from_preview
                pa, pb = infer([a, b], model)
                agree += pa.label == pb.label
                change.append(max(abs(pa.probabilities[k] - pb.probabilities[k]) for k in model.labels))
                right_preview += pa.label == sample.label
                right_main += pb.label == sample.label
                (pc,) = infer([prepare(plain, model, min_side=2000)], model)  # every pixel decoded
                full_agree += pc.label == pb.label
                cam.unlink()
                plain.unlink()
            n = len(chosen)
            rows.append((name, n, used, agree / n, full_agree / n, statistics.mean(change),
                         float(np.percentile(change, 95)), right_main / n, right_preview / n))
    print(f"classify from the embedded preview vs from the photo — {date.today()} — {machine()}")
    print(f"model: {model.info.id}; command: python bench/preview.py --per-set {args.per_set} "
          f"({time.perf_counter() - started:.0f} s)\n")
    print("| set | photos | preview used | same label as the photo | (photo fully decoded: same label) "
          "| mean max Δp | p95 max Δp | accuracy, photo | accuracy, preview |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, n, used, same, full, mean, p95, acc_main, acc_prev in rows:
        print(f"| {name} | {n} | {used} | {same:.1%} | ({full:.1%}) | {mean:.3f} | {p95:.3f} "
              f"| {acc_main:.3f} | {acc_prev:.3f} |")


if __name__ == "__main__":
    main()
