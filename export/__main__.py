"""`python -m export CHECKPOINT OUT.onnx`: export, verify, evaluate, embed the results.

1. The checkpoint is exported (eval mode, dynamic batch, outputs logits/features/cam_weights)
   and checked by onnx's full checker.
2. PyTorch and ONNX Runtime are compared on real photos; above the tolerance the export fails.
3. The ONNX file is evaluated with ONNX Runtime on the config's evaluation sets, and the
   summary is written into its own metadata (what the model card and the regression test read).
4. With --quantize, an int8 copy is calibrated on training photos and replaces the fp32 file
   only if it agrees with it on >= 99% of the evaluation photos.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from emowatch.modelmeta import ModelInfo


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:   # every temporary file is removed on the way out
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--name", default="emowatch-default")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--config", type=Path, action="append", default=[],
                    help="config(s) naming the evaluation data (default: the checkpoint's own); "
                         "the model's input size and resize are always the checkpoint's")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--parity-photos", type=_at_least_one, default=64)
    ap.add_argument("--no-eval", action="store_true", help="skip evaluating the ONNX file")
    ap.add_argument("--quantize", action="store_true", help="try int8 static quantization")
    ap.add_argument("--calibration-photos", type=_at_least_one, default=512)
    ap.add_argument("--threads", type=_at_least_one, default=2)
    args = ap.parse_args(argv)
    if args.out.is_dir():
        print(f"error: {args.out} is a folder: name the .onnx file to write", file=sys.stderr)
        return 2

    import training  # noqa: F401  (sets the OpenMP wait policy before torch starts)
    from training import checkpoint, config as C
    from training.datasets import DatasetError
    from training.folders import why_unwritable
    from training.images import ImageLoadError
    from training.preflight import photos_there
    from training.sources import eval_sets, train_samples

    why = why_unwritable(args.out.absolute().parent)
    if why:
        print(f"error: cannot write {args.out}: {why}", file=sys.stderr)
        return 2

    from .onnx_export import ExportError, remove, write_metadata

    try:
        ckpt = checkpoint.load(args.checkpoint)
        cfg = C.load(args.config, args.overrides) if args.config else \
            C.load(None, args.overrides, extra=ckpt.config)
        sets = eval_sets(cfg)
        # the model's preprocessing is the checkpoint's own; --config only chooses evaluation data
        prep = checkpoint.preprocess(ckpt)
        info = ModelInfo(
            labels=ckpt.labels, input_size=prep.size, mean=prep.mean, std=prep.std,
            name=args.name, version=args.version, resize=prep.resize, backbone=ckpt.backbone,
            training=dict(ckpt.training),
        )
        ModelInfo.from_metadata(info.to_metadata())   # what the runtime would refuse is not written
        # every photo the export reads is there: found now, not after the parity check
        for samples in [*sets.values(), *([train_samples(cfg)] if args.quantize else [])]:
            photos_there(samples)
    except (checkpoint.CheckpointError, C.ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not any(sets.values()):
        print("error: no photos for the parity check (no evaluation set in the config)", file=sys.stderr)
        return 2
    # Built beside `out` and renamed onto it only when complete: a failed export never
    # replaces the model that is there (perhaps the shipped one).
    tmp = args.out.with_name(f".{args.out.stem}.partial-{os.getpid()}.onnx")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        evaluation = _verified(args, ckpt, cfg, sets, prep, info, tmp)
        write_metadata(tmp, dataclasses.replace(info, evaluation=evaluation))
        os.replace(tmp, args.out)
    except (ExportError, ImageLoadError, DatasetError, OSError) as e:
        print(f"error: {e}; {args.out} was not written", file=sys.stderr)
        return 1
    finally:
        remove(tmp)
    print(f"metadata written: {info.id}; {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


def _verified(args: argparse.Namespace, ckpt, cfg, sets: dict, prep, info: ModelInfo, tmp: Path) -> dict:
    """Export to `tmp`, check parity, optionally quantize, evaluate: the evaluation metadata."""
    from training.evaluate import evaluate, markdown
    from training.metrics import summary
    from training.model import ExportForward
    from training.predict import _batches
    from training.sources import train_samples

    from .onnx_export import export

    pool = [s for samples in sets.values() for s in samples]
    rng = np.random.default_rng(0)
    photos = np.concatenate(list(_batches(parity_sample(pool, args.parity_photos, rng), prep, 32)))
    parity = export(ExportForward(ckpt.net), info, tmp, photos)
    # not yet `args.out`: that is replaced only once the file is evaluated too
    print(f"built and checked the ONNX graph ({tmp.stat().st_size / 1e6:.1f} MB)")
    print(f"parity on {parity.photos} photos: max |torch - onnxruntime| "
          + ", ".join(f"{k} {v:.2e}" for k, v in parity.max_abs_diff.items())
          + f"; argmax agreement {parity.argmax_agreement:.4f}")
    evaluation: dict = {"parity": parity.as_dict()}

    if args.quantize:
        from .quantize import compare, quantize

        train = train_samples(cfg)
        calib = parity_sample(train, args.calibration_photos, rng)   # the same draw as before
        with tempfile.TemporaryDirectory() as folder:
            int8 = Path(folder) / "int8.onnx"
            quantize(tmp, int8, np.concatenate(list(_batches(calib, prep, 32))))
            x = np.concatenate(list(_batches(pool, prep, 32)))
            y = np.array([ckpt.labels.index(s.label) for s in pool])
            q = compare(tmp, int8, x, y)
            print(f"int8: agreement with fp32 {q.agreement:.4f} on {q.photos} photos; accuracy "
                  f"fp32 {q.accuracy_fp32:.4f}, int8 {q.accuracy_int8:.4f}; "
                  + ("kept" if q.kept else "discarded (below 0.99)"))
            evaluation["int8"] = q.as_dict()
            if q.kept:
                shutil.copyfile(int8, tmp)

    if not args.no_eval:
        reports = evaluate(tmp, sets, args.threads, probe_quality=75)
        print(markdown(args.out, reports))
        evaluation.update({
            "sets": summary(reports),
            "measured_with": "onnxruntime " + __import__("onnxruntime").__version__,
            "date": time.strftime("%Y-%m-%d"),
            "command": "python -m training.evaluate " + _shown(args.out),
        })
    return evaluation


def parity_sample(pool: list, n: int, rng: np.random.Generator) -> list:
    """`n` of `pool` drawn by `rng`, in pool order (the parity photos, then calibration's)."""
    return [pool[i] for i in sorted(rng.choice(len(pool), min(n, len(pool)), replace=False))]


def _at_least_one(text: str) -> int:
    n = int(text)   # argparse reports a ValueError as an invalid value
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _shown(path: Path) -> str:
    """The path as a user of the repository would type it."""
    from training.config import REPO_ROOT

    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
