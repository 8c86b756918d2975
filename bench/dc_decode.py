"""emowatch's own 1/8-scale JPEG decoder against libjpeg-turbo's (Pillow's draft mode).

    python bench/dc_decode.py [--photos 12] [--runs 3] [--per-set 300]

At 1/8 scale a JPEG's 8x8 block is one pixel, its DC coefficient; the 63 AC coefficients must
still be read to find where the next block starts, and that entropy decoding is nearly all of
the time. emowatch/runtime/jpeg_dc.py reads a block's AC codes several at a time. This times
both decoders on the 24 MP JPEGs bench/tag.py makes (quality 90, made from scikit-image's
public-domain photos with noise), saved with each chroma subsampling: CPU ms per photo in one
thread, median over `--photos` x `--runs`, and how far the pixels are from libjpeg-turbo's.

With `--per-set N` (needs the `train` extra and ../shared/data) it also measures what the
difference does to answers: labelled photos (FI validation, the Emotion6 test split, N of each,
read in place) made into 3000 x 2000 JPEGs as bench/preview.py makes them (4:2:0, quality 90),
each classified from both decoders' pixels.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from machine import machine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pillow_draft(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.draft("RGB", (224, 224))
    image.load()
    return image


def cpu_ms(decoder, data: bytes) -> float:
    start = time.thread_time()
    decoder(data)
    return (time.thread_time() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--per-set", type=int, default=0, help="labelled photos per set for the answers table")
    args = ap.parse_args()
    from emowatch.runtime import jpeg_dc
    from tag import make_photos

    started = time.perf_counter()
    if jpeg_dc.kernels() is None:
        raise SystemExit("numba is not installed: emowatch decodes with Pillow alone")
    jpeg_dc.decode(pillow_jpeg(np.zeros((16, 16, 3), np.uint8), 2))  # loaded or compiled here
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        sources = [np.asarray(Image.open(p)) for p in make_photos(Path(tmp), args.photos, (6000, 4000), "big")]
    rows = []
    for subsampling, name in ((2, "4:2:0 (most cameras)"), (1, "4:2:2"), (0, "4:4:4")):
        photos = [pillow_jpeg(a, subsampling) for a in sources]
        pillow, ours = [], []
        for _ in range(args.runs):
            for data in photos:
                pillow.append(cpu_ms(pillow_draft, data))
                ours.append(cpu_ms(jpeg_dc.decode, data))
        difference = [np.abs(np.asarray(jpeg_dc.decode(d), int) - np.asarray(pillow_draft(d), int)) for d in photos]
        rows.append((name, statistics.mean(len(p) for p in photos) / 1e6, statistics.median(pillow),
                     statistics.median(ours), statistics.mean(float(d.mean()) for d in difference),
                     max(int(d.max()) for d in difference)))
    print(f"1/8-scale JPEG decoding — {date.today()} — {machine()}")
    more = f" --per-set {args.per_set}" if args.per_set else ""
    print(f"command: python bench/dc_decode.py --photos {args.photos} --runs {args.runs}{more}; "
          f"{args.photos} photos of 24 MP, one thread, median of {args.runs} runs; numba's "
          f"compiled code loaded in {load_s:.1f} s (not counted)\n")
    print("| chroma | MB | Pillow draft (libjpeg-turbo) CPU ms | emowatch jpeg_dc CPU ms | ratio "
          "| mean \\|difference\\| (of 255) | largest |")
    print("|---|---|---|---|---|---|---|")
    for name, mb, base, mine, mean_diff, largest in rows:
        print(f"| {name} | {mb:.1f} | {base:.1f} | {mine:.1f} | {mine / base:.2f}x | {mean_diff:.2f} | {largest} |")
    if args.per_set:
        answers(args.per_set)


def answers(per_set: int) -> None:
    """Label agreement between the two decoders on labelled photos enlarged to 3000 x 2000."""
    from emowatch.runtime.classify import infer, prepare
    from emowatch.runtime.model import EmotionModel
    from preview import camera_copy
    from training import config as C
    from training.sources import eval_sets

    root = Path(__file__).resolve().parent.parent
    model = EmotionModel.load(None, device="cpu")
    sets = eval_sets(C.load(root / "training" / "configs" / "default.toml"))
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    print(f"\nanswers, model {model.info.id}: each photo classified from Pillow's pixels and from "
          f"jpeg_dc's\n")
    print("| set | photos | same label | mean max Δp | p95 max Δp | largest Δp | accuracy, Pillow "
          "| accuracy, jpeg_dc | mean \\|difference\\| of the model's input (of 255) |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, samples in sets.items():
            chosen = samples[::max(1, len(samples) // per_set)][:per_set]
            same, change, right_pillow, right_ours, pixels = 0, [], 0, 0, []
            for sample in chosen:
                with_preview, plain = camera_copy(sample.path, Path(tmp), rng)
                theirs, ours = prepare(plain, model, fast_jpeg=False), prepare(plain, model)
                a, b = infer([theirs, ours], model)
                same += a.label == b.label
                change.append(max(abs(a.probabilities[k] - b.probabilities[k]) for k in model.labels))
                right_pillow += a.label == sample.label
                right_ours += b.label == sample.label
                pixels.append(float(np.abs(theirs.pixels.astype(int) - ours.pixels.astype(int)).mean()))
                with_preview.unlink()
                plain.unlink()
            n = len(chosen)
            print(f"| {name} | {n} | {same / n:.1%} | {statistics.mean(change):.4f} | "
                  f"{np.percentile(change, 95):.4f} | {max(change):.3f} | {right_pillow / n:.3f} | "
                  f"{right_ours / n:.3f} | {statistics.mean(pixels):.2f} |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


def pillow_jpeg(array: np.ndarray, subsampling: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=90, subsampling=subsampling)
    return out.getvalue()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
