"""Could an int8 copy of the default model make `emowatch tag` fast enough, and at what cost?

    python bench/quantize.py [--calibration 192] [--photos 24] [--runs 5]

Needs the `train` extra and ../shared/data (the evaluation photos, read in place). Prints two
tables, median of `--runs` where timed, and the machine:

1. Labels. The shipped fp32 model against int8 copies made by `export/quantize.py` (calibrated
   on `--calibration` FI training photos, by MinMax as the export does and by Percentile), and
   against the fp32 model on the same photos re-saved as JPEG at quality 95 and 90: how many
   labels change (and how sure the shipped model was of those), accuracy, the mean largest change of a probability, and the model's CPU time
   per photo (one thread, batches of 8). A re-save is a change no photographer would call a
   different photo; it shows how stable the labels are to begin with.
2. Speed. `emowatch tag --no-explain` (Tagger.tag, as bench/tag.py times it) on 24 MP JPEGs
   without an embedded preview, classify + write and classify only, with the fp32 model and
   the Percentile int8 copy, runs interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from machine import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESAVE_QUALITIES = (95, 90)


@dataclass
class Labels:
    name: str
    logits: np.ndarray
    ms_per_photo: float | None = None


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def logits(path: Path, x: np.ndarray) -> np.ndarray:
    s = session(path, 2)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(["logits"], {name: x[i:i + 32]})[0] for i in range(0, len(x), 32)])


def model_ms(path: Path, x: np.ndarray, runs: int) -> float:
    """CPU ms per photo, one thread, batches of 8 (what a tag batch costs the machine)."""
    s = session(path, 1)
    name, batch = s.get_inputs()[0].name, x[:8]
    s.run(["logits"], {name: batch})
    times = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(4):
            s.run(["logits"], {name: batch})
        times.append((time.process_time() - start) / 32 * 1000)
    return statistics.median(times)


@dataclass
class Photos:
    rgb: np.ndarray            # the evaluation photos as the model sees them, uint8
    x: np.ndarray              # the same, normalised
    y: np.ndarray              # their labels' indices
    calibration: np.ndarray    # normalised FI training photos
    normalised: Callable[[np.ndarray], np.ndarray]


def evaluation_photos(model: Path, calibration: int) -> Photos:
    """The evaluation photos (../shared/data) and `calibration` training photos drawn with a
    fixed seed, preprocessed for `model`."""
    from training import config as C
    from training.images import load_rgb
    from training.sources import eval_sets, train_samples

    from emowatch.runtime.model import EmotionModel

    info = EmotionModel.load(model, device="cpu").info
    cfg = C.load(None, [])
    pool = [s for samples in eval_sets(cfg).values() for s in samples]
    mean, std = np.array(info.mean, np.float32), np.array(info.std, np.float32)

    def normalised(rgb: np.ndarray) -> np.ndarray:
        return ((rgb.astype(np.float32) / 255 - mean) / std).transpose(0, 3, 1, 2).copy()

    def pixels(samples) -> np.ndarray:
        return np.stack([load_rgb(s.path, info.input_size, info.resize) for s in samples])

    rgb = pixels(pool)
    train = train_samples(cfg)
    picked = np.random.default_rng(0).choice(len(train), calibration, replace=False)
    return Photos(rgb, normalised(rgb), np.array([info.labels.index(s.label) for s in pool]),
                  normalised(pixels([train[i] for i in sorted(picked)])), normalised)


def label_rows(model: Path, calibration: int, runs: int, work: Path) -> tuple[list[str], int]:
    from export.quantize import quantize
    from training.images import recompress

    from emowatch.settings import Settings

    photos = evaluation_photos(model, calibration)
    rgb, x, y, calib, normalised = photos.rgb, photos.x, photos.y, photos.calibration, photos.normalised

    results = [Labels("fp32 (shipped)", logits(model, x), model_ms(model, x, runs))]
    for method in ("MinMax", "Percentile"):
        int8 = work / f"int8-{method.lower()}.onnx"
        with contextlib.redirect_stdout(io.StringIO()):  # the calibrators' progress prints
            quantize(model, int8, calib, method=method)
        results.append(Labels(f"int8, {method} calibration", logits(int8, x), model_ms(int8, x, runs)))
    for q in RESAVE_QUALITIES:
        resaved = normalised(np.stack([recompress(r, q) for r in rgb]))
        results.append(Labels(f"fp32, photos re-saved as JPEG q{q}", logits(model, resaved)))

    floor = Settings().min_confidence  # below it, `emowatch tag` writes no emotion keyword
    base = softmax(results[0].logits)
    rows = []
    for r in results:
        p = softmax(r.logits)
        same = float((p.argmax(1) == base.argmax(1)).mean())
        accuracy = float((p.argmax(1) == y).mean())
        delta = float(np.abs(p - base).max(1).mean())
        changed = p.argmax(1) != base.argmax(1)
        # how sure the shipped model was of the labels that changed
        sure = "-"
        if changed.any():
            was = base.max(1)[changed]
            sure = f"{float(np.median(was)):.2f} ({100 * float((was < floor).mean()):.0f}% under {floor})"
        ms = f"{r.ms_per_photo:.1f}" if r.ms_per_photo is not None else "-"
        rows.append(f"| {r.name} | {100 * same:.1f}% | {sure} | {accuracy:.3f} | {delta:.3f} | {ms} |")
    return rows, len(y)


def speed_rows(model: Path, int8: Path, photos: int, runs: int, work: Path) -> list[str]:
    from tag import fresh_copies, make_photos, time_tagging
    from threadpoolctl import threadpool_limits

    from emowatch.runtime.model import EmotionModel
    from emowatch.settings import load_settings
    from emowatch.tagging import Tagger

    threadpool_limits(1, user_api="blas")
    big = make_photos(work / "src24", photos, (6000, 4000), "big")
    taggers = {}
    for name, path in (("fp32 (shipped)", model), ("int8, Percentile", int8)):
        settings = load_settings(None, environ={}, overrides={
            "model": path, "explain.enabled": False, "min_confidence": 0.0, "device": "cpu"})
        loaded = EmotionModel.load(settings.model, device="cpu")
        taggers[name] = {"classify + write": Tagger(loaded, settings),
                         "classify only": Tagger(loaded, settings, write=False)}
        list(taggers[name]["classify + write"].tag(fresh_copies(big[:4], work / "warm")))
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(runs):  # interleaved: a slow spell of the machine hits both models alike
        for name, stages in taggers.items():
            for stage, tagger in stages.items():
                seconds, _ = time_tagging(tagger, big, work / "work", 1)
                rates.setdefault((name, stage), []).append(len(big) / seconds)
    return [f"| {name} | {stage} | {', '.join(f'{r:.1f}' for r in values)} | {statistics.median(values):.1f} |"
            for (name, stage), values in rates.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    ap.add_argument("--calibration", type=int, default=192,
                    help="calibration photos (Percentile keeps all their activations in memory)")
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from emowatch.runtime.model import default_model_path

    model = args.model or default_model_path()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        labels, n = label_rows(model, args.calibration, args.runs, work)
        speed = speed_rows(model, work / "int8-percentile.onnx", args.photos, args.runs, work)

    print(f"int8 and label stability — {time.strftime('%Y-%m-%d')} — {machine()}")
    print(f"command: python bench/quantize.py --calibration {args.calibration} --photos {args.photos} "
          f"--runs {args.runs}\n")
    print(f"Labels on the {n:,} evaluation photos (FI val, Emotion6 test), against the shipped fp32 model:\n")
    print("| model / photos | same label | fp32 confidence of the changed (median) | accuracy "
          "| mean max Δp | model CPU ms/photo |")
    print("|---|---|---|---|---|---|")
    print("\n".join(labels))
    print(f"\n`emowatch tag` on {args.photos} JPEGs of 24 MP without a preview (photos/s):\n")
    print("| model | stage | runs | median |")
    print("|---|---|---|---|")
    print("\n".join(speed))


if __name__ == "__main__":
    main()
